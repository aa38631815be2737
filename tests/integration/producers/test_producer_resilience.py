"""Failure policy and state on the real Kafka: backoff, 410, Retry-After, state
saved to and read back from the compacted topic, and a producer killed
mid-cycle that loses nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from prometheus_client import REGISTRY

from producers.catalogue import parse_catalogue
from producers.cli import register
from producers.kafka_sink import KafkaSink
from producers.scheduler import poll_once
from producers.state import StateStore
from producers.state_topic import load_state, save_dirty
from wirewatch.schema import Article

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def rss(feed: str, count: int = 3) -> bytes:
    items = "".join(f"<item><title>{feed} {i}</title><link>http://news.example/{feed}/{i}</link></item>" for i in range(count))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{feed}</title>{items}</channel></rss>'.encode()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        srv = self.server
        name = self.path.strip("/").split(".")[0]
        srv.hits[name] = srv.hits.get(name, 0) + 1
        n = srv.hits[name]
        time.sleep(srv.delay)
        if name == "gone":
            status, body, headers = 410, b"", {}
        elif name == "busy":
            status, body, headers = 429, b"", {"Retry-After": "3600"}
        elif name == "flaky" and n <= 2:
            status, body, headers = 500, b"", {}
        else:
            status, body, headers = 200, rss(name), {}
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.hits, srv.delay = {}, 0.0
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def catalogue(server, names) -> str:
    port = server.server_address[1]
    return "feeds:\n" + "".join(f"  - url: http://127.0.0.1:{port}/{n}.xml\n    min_interval: 60\n" for n in names)


def consume(bootstrap: str, topic: str, expected: int, rounds: int = 10) -> list[Article]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000)
    out: list[Article] = []
    try:
        for _ in range(rounds):
            for message in consumer:
                out.append(Article.from_json(message.value))
                if len(out) >= expected:
                    return out
    finally:
        consumer.close()
    return out


def test_failure_policy_and_state_round_trip(settings, kafka_topics, server, tmp_path, monkeypatch, capsys):
    text = catalogue(server, ["ok", "gone", "busy", "flaky"])
    feeds = parse_catalogue(text)
    gone_before = REGISTRY.get_sample_value("wirewatch_producer_fetches_total", {"outcome": "http_status"}) or 0
    urls = {f.url.split("/")[-1].split(".")[0]: f.url for f in feeds}
    sink = KafkaSink(settings)
    state = StateStore()
    try:
        before = time.time()
        first = asyncio.run(poll_once(settings, feeds, sink, state))
        after = time.time()  # the failures happened in between: bounds, not a point (a loaded machine is slow)
        assert first.feeds_fetched == 1 and first.feeds_failed["http_status"] == 3 and first.feeds_disabled == 1
        assert state.get(urls["gone"]).disabled
        assert state.get(urls["busy"]).next_check >= before + 3600 * 0.85  # Retry-After honoured (jitter is 10%)
        flaky = state.get(urls["flaky"])
        assert flaky.consecutive_failures == 1 and flaky.last_error_class == "http_status"
        assert before + 54 <= flaky.next_check <= after + 66  # first backoff step = min_interval (+-10%)
        second = asyncio.run(poll_once(settings, feeds, sink, state, force=True))
        assert state.get(urls["flaky"]).consecutive_failures == 2
        assert second.feeds_due == 3  # the 410 feed is not polled again
        third = asyncio.run(poll_once(settings, feeds, sink, state, force=True))
        assert state.get(urls["flaky"]).consecutive_failures == 0 and third.articles_produced == 3
        assert asyncio.run(save_dirty(settings, sink, state)) == 4
    finally:
        sink.close(timeout=10)
    restored = load_state(settings)
    assert set(restored.feeds) == set(urls.values())
    assert restored.get(urls["gone"]).disabled and restored.get(urls["ok"]).seen == state.get(urls["ok"]).seen
    assert restored.get(urls["flaky"]).entries_seen == 3
    assert REGISTRY.get_sample_value("wirewatch_producer_fetches_total", {"outcome": "http_status"}) >= gone_before + 5

    # `wirewatch feeds status` reads the same state back from Kafka.
    (tmp_path / "feeds.yaml").write_text(text)
    monkeypatch.setenv("WIREWATCH_KAFKA_TOPIC_PREFIX", settings.kafka.topic_prefix)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["feeds", "status", "--json", "--file", str(tmp_path / "feeds.yaml")])
    capsys.readouterr()
    assert args.func(args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{\"url\"")]  # not log lines
    rows = {row["url"]: row for row in map(json.loads, lines)}
    assert rows[urls["gone"]]["health"] == "gone" and rows[urls["ok"]]["health"] == "ok"
    assert rows[urls["busy"]]["last_error_class"] == "http_status" and rows[urls["busy"]]["consecutive_failures"] == 3
    assert rows[urls["ok"]]["entries_seen"] == 3 and rows[urls["ok"]]["interval_s"] > 0


def test_killed_producer_loses_nothing(settings, kafka_topics, kafka_bootstrap, server, tmp_path):
    names = [f"feed{i}" for i in range(30)]
    (tmp_path / "feeds.yaml").write_text(catalogue(server, names))
    server.delay = 0.5  # slow feeds, one at a time: the kill lands mid-cycle
    env = dict(os.environ, WIREWATCH_KAFKA_TOPIC_PREFIX=settings.kafka.topic_prefix, WIREWATCH_PRODUCER_ALLOW_HOSTS='["127.0.0.1"]',
               WIREWATCH_PRODUCER_CONCURRENCY="1", WIREWATCH_PRODUCER_PER_HOST_CONCURRENCY="1")
    cmd = [sys.executable, "-m", "producers.cli", "produce", "--file", str(tmp_path / "feeds.yaml")]
    producer = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        first = consume(kafka_bootstrap, kafka_topics.raw, expected=1, rounds=20)
        assert first, "the producer produced nothing before the kill"
    finally:
        producer.send_signal(signal.SIGKILL)
        producer.wait(10)
    produced_before_kill = len(consume(kafka_bootstrap, kafka_topics.raw, expected=10**6, rounds=1))
    assert produced_before_kill < len(names) * 3, "the kill came too late to be mid-cycle"
    server.delay = 0.0
    again = subprocess.run(cmd + ["--once"], env=env, cwd=tmp_path, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    # The restarted producer has no saved state (it was killed in its first cycle): it sends everything again.
    articles = consume(kafka_bootstrap, kafka_topics.raw, expected=produced_before_kill + len(names) * 3)
    expected = {f"http://news.example/{n}/{i}" for n in names for i in range(3)}
    assert expected <= {a.url for a in articles}
