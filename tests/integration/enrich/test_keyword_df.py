"""The keyword step's corpus statistics on the real stack: written to the
`keyword-df` table's changelog, and read back by the next worker."""

from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaConsumer

from wirewatch.harness import WorkerProcess
from wirewatch.kafka_admin import delete_topics, ensure_topics

from .test_stories import near_duplicate_pairs, produce_articles

pytestmark = pytest.mark.integration
DEADLINE_S = 120


def changelog_articles(settings) -> int:
    """Articles counted in the keyword-df changelog: the latest value of each partition's first shard."""
    consumer = KafkaConsumer(f"{settings.processor.app_id}-keyword-df-changelog",
                             bootstrap_servers=settings.kafka.bootstrap_servers, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000, enable_auto_commit=False)
    latest: dict[str, dict] = {}
    try:
        for message in consumer:
            latest[json.loads(message.key)] = json.loads(message.value)  # Faust writes both as JSON
    finally:
        consumer.close()
    return sum(value.get("docs", 0) for key, value in latest.items() if key.endswith(":0"))


def restored_articles(log_path) -> list[int]:
    counts = []
    for line in log_path.read_text(errors="replace").splitlines():
        if '"corpus.restored"' in line:
            counts.append(json.loads(line[line.index("{"):])["articles"])  # after Faust's log prefix
    return counts


@pytest.mark.usefixtures("es")  # its teardown deletes the indices the workers create
def test_document_frequencies_are_kept_in_a_table_and_restored_after_a_restart(settings, topics, tmp_path):
    settings = settings.model_copy(update={"processor": settings.processor.model_copy(
        update={"keyword_df_flush_articles": 1, "keyword_df_flush_s": 1.0})})
    ensure_topics(settings.kafka, topics)
    articles = [a for pair in near_duplicate_pairs() for a in pair]
    verbose = {"WIREWATCH_LOG_LEVEL": "INFO"}

    try:
        with WorkerProcess(settings, tmp_path / "before.log", extra_env=verbose) as worker:
            worker.wait_ready()
            produce_articles(settings, topics.raw, articles[:-1])
            deadline, counted = time.monotonic() + DEADLINE_S, 0
            while time.monotonic() < deadline and counted < len(articles) - 1:
                counted = changelog_articles(settings)
                time.sleep(0.5)
            assert counted == len(articles) - 1, worker.log_tail()
        with WorkerProcess(settings, tmp_path / "after.log", extra_env=verbose) as worker:
            worker.wait_ready()
            # the next batch finds the worker's partitions and restores their counts
            produce_articles(settings, topics.raw, articles[-1:])
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline and not restored_articles(tmp_path / "after.log"):
                time.sleep(0.5)
            assert restored_articles(tmp_path / "after.log") == [len(articles) - 1], worker.log_tail()
            while time.monotonic() < deadline and changelog_articles(settings) < len(articles):
                time.sleep(0.5)
            assert changelog_articles(settings) == len(articles)
    finally:
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)
