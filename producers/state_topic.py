"""Per-feed state in the compacted Kafka topic ``Topics.feed_state`` (key = feed
url, value = FeedState JSON, tombstone = forget the feed), so that any producer
instance can resume any feed after a restart."""

from __future__ import annotations

import time

import structlog
from kafka import KafkaConsumer, TopicPartition

from producers.kafka_sink import KafkaSink
from producers.state import FeedState, StateStore
from wirewatch.names import Topics
from wirewatch.settings import Settings

log = structlog.get_logger(__name__)

# Bound on the state we read back: one record per feed, so this is the catalogue size.
MAX_STATES = 2_000_000


def load_state(settings: Settings, *, wanted: set[str] | None = None, timeout_s: float | None = None) -> StateStore:
    """Read the whole state topic (last record per feed wins); keep only the
    feeds in ``wanted`` when given. Raise TimeoutError past the deadline."""
    topic = Topics.from_settings(settings.kafka).feed_state
    deadline = time.monotonic() + (timeout_s or settings.kafka.request_timeout_s * 2)
    store = StateStore()
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers.split(","),
        enable_auto_commit=False,
        group_id=None,
        request_timeout_ms=int(settings.kafka.request_timeout_s * 1000) + 5000,
    )
    try:
        partitions = _partitions(consumer, topic, deadline)
        if not partitions:
            return store  # topic does not exist yet: nothing saved
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not finish in time")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    _apply(store, record.key, record.value, wanted)
            if len(store.feeds) > MAX_STATES:
                raise ValueError(f"{topic} holds more than {MAX_STATES} feeds")
    finally:
        consumer.close()
    log.info("feed_state_loaded", topic=topic, feeds=len(store.feeds))
    return store


def _partitions(consumer: KafkaConsumer, topic: str, deadline: float) -> list[TopicPartition]:
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts is not None or time.monotonic() > deadline:
            return [TopicPartition(topic, p) for p in sorted(parts or [])]
        time.sleep(0.2)


def _apply(store: StateStore, key: bytes | None, value: bytes | None, wanted: set[str] | None) -> None:
    if key is None:
        return
    url = key.decode("utf-8", "replace")
    if wanted is not None and url not in wanted:
        return
    if value is None:
        store.feeds.pop(url, None)
        return
    try:
        store.feeds[url] = FeedState.from_json(value)
    except (ValueError, TypeError) as exc:
        log.warning("feed_state_unreadable", feed_url=url, error=str(exc))


async def save_dirty(settings: Settings, sink: KafkaSink, store: StateStore) -> int:
    """Write the states changed since the last save; on failure they stay dirty."""
    topic = Topics.from_settings(settings.kafka).feed_state
    dirty = store.take_dirty()
    records = [(state.url.encode("utf-8"), state.to_json()) for state in dirty]
    try:
        await sink.send_records_and_wait(topic, records, timeout=settings.kafka.request_timeout_s * 2)
    except Exception:
        for state in dirty:  # saved again next time
            store.mark_dirty(state.url)
        raise
    return len(records)


async def carry_over(settings: Settings, sink: KafkaSink, store: StateStore, moves: list[tuple[str, str]]) -> int:
    """Save each moved feed's state under its new URL (validators, seen entries,
    schedule and health carry over, so nothing is produced again after the
    catalogue follows the move); the old keys are left for ``forget``."""
    records = []
    for old, new in moves:
        state = store.feeds.get(old)
        if state is None:
            continue
        moved = FeedState.from_json(state.to_json())
        moved.url, moved.moved_to = new, None
        records.append((new.encode("utf-8"), moved.to_json()))
    topic = Topics.from_settings(settings.kafka).feed_state
    await sink.send_records_and_wait(topic, records, timeout=settings.kafka.request_timeout_s * 2)
    return len(records)


async def forget(settings: Settings, sink: KafkaSink, urls: list[str]) -> None:
    """Tombstones for feeds no longer in the catalogue (compaction drops them)."""
    topic = Topics.from_settings(settings.kafka).feed_state
    await sink.send_records_and_wait(topic, [(url.encode("utf-8"), None) for url in urls], timeout=settings.kafka.request_timeout_s * 2)
