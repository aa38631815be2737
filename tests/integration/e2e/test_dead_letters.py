"""A poison message goes to the dead-letter topic (and its index) with the reason,
and the stream goes on with the next message."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from kafka import KafkaConsumer, KafkaProducer

from wirewatch.harness import WorkerProcess, wait_for_hits
from wirewatch.kafka_admin import delete_topics, ensure_topics
from wirewatch.schema import Article, Source, article_id

pytestmark = pytest.mark.integration
DEADLINE_S = 90


def _read_all(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=2000)
    values, deadline = [], time.monotonic() + DEADLINE_S
    try:
        while len(values) < expected and time.monotonic() < deadline:
            values += [m.value for m in consumer]
    finally:
        consumer.close()
    return values


def test_poison_message_is_dead_lettered_and_stream_goes_on(settings, topics, indices, es, tmp_path):
    ensure_topics(settings.kafka, topics)
    url = "https://example.org/after-the-poison"
    good = Article(id=article_id(url), url=url, title="Parliament passes the budget",
                   text="The parliament passed the budget on Tuesday after a long debate.",
                   source=Source(feed_url="https://example.org/feed", domain="example.org"),
                   published_at=datetime.now(timezone.utc), fetched_at=datetime.now(timezone.utc))
    try:
        with WorkerProcess(settings, tmp_path / "worker.log") as worker:
            worker.wait_ready()
            producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
            producer.send(topics.raw, key=b"poison", value=b"\x00{not an article")
            producer.send(topics.raw, key=good.id.encode(), value=good.to_json())
            producer.flush(30)
            producer.close()

            letters = _read_all(settings.kafka.bootstrap_servers, topics.dead_letters, 1)
            assert len(letters) == 1, worker.log_tail()
            record = json.loads(letters[0])
            assert record["stage"] == "enrich"
            assert "not a valid Article" in record["reason"]
            assert record["key"] == {"text": "poison"}

            found = wait_for_hits(es, indices.articles, {"ids": {"values": [good.id]}}, DEADLINE_S)
            assert found, f"the article after the poison was not indexed:\n{worker.log_tail()}"
            dead = wait_for_hits(es, indices.dead_letters, {"match_all": {}}, DEADLINE_S)
            assert [d["stage"] for d in dead] == ["enrich"]
    finally:
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)
