"""Trends on the real stack: the worker counts enriched articles and answers
GET /trends; `wirewatch trends` reads it from there."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from wirewatch.harness import WorkerProcess
from wirewatch.kafka_admin import delete_topics, ensure_topics

from .test_stories import near_duplicate_pairs, produce_articles

pytestmark = pytest.mark.integration
DEADLINE_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_trends(port: int, query: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/trends?{query}", timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def expected_counts(settings, topic: str, count: int) -> dict[str, int]:
    """Topic counts computed from what the worker put on articles.enriched."""
    from collections import Counter

    from kafka import KafkaConsumer

    from processors.trends import article_terms, split_key

    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka.bootstrap_servers, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=2000)
    values, deadline = [], time.monotonic() + DEADLINE_S
    try:
        while len(values) < count and time.monotonic() < deadline:
            values += [m.value for m in consumer]
    finally:
        consumer.close()
    counts: Counter = Counter()
    for value in values:
        for key in article_terms(json.loads(value)["enrichment"], settings.processor.trends_max_terms):
            kind, term = split_key(key)
            if kind == "topic":
                counts[term] += 1
    return dict(counts)


@pytest.mark.usefixtures("es")  # its teardown deletes the indices the worker creates
def test_worker_serves_trends_and_cli_reads_them(settings, topics, tmp_path):
    port = free_port()
    settings = settings.model_copy(update={"processor": settings.processor.model_copy(update={"web_port": port})})
    ensure_topics(settings.kafka, topics)
    articles = [a for pair in near_duplicate_pairs() for a in pair]
    try:
        with WorkerProcess(settings, tmp_path / "worker.log") as worker:
            worker.wait_ready()
            produce_articles(settings, topics.raw, articles)

            expected = expected_counts(settings, topics.enriched, len(articles))
            assert expected, f"nothing enriched:\n{worker.log_tail()}"
            deadline, report = time.monotonic() + DEADLINE_S, None
            while time.monotonic() < deadline:
                report = get_trends(port, "window=1h&kind=topic&limit=50")
                if report and {t["term"]: t["count"] for t in report["trends"]} == expected:
                    break
                time.sleep(0.5)
            assert report is not None, f"no answer from /trends:\n{worker.log_tail()}"
            assert {t["term"]: t["count"] for t in report["trends"]} == expected
            assert all(t["kind"] == "topic" for t in report["trends"])

            cli = subprocess.run([sys.executable, "-m", "wirewatch.cli", "trends", "--window", "1h", "--json"],
                                 env={**settings.to_env(), "PATH": "/usr/bin:/bin"}, capture_output=True,
                                 text=True, timeout=60)
            assert cli.returncode == 0, cli.stderr
            hourly = json.loads(cli.stdout)
            assert hourly["window"] == "1h"
            assert {"keyword", "topic"} <= {t["kind"] for t in hourly["trends"]}
            bad = get_trends(port, "window=2d")
            assert bad is None  # 400: refused
    finally:
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)
