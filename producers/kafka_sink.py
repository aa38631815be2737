"""Articles to Kafka with kafka-python: key = article id, value = Article JSON,
acks=all, idempotent, compressed, batched.

`send` calls run on one dedicated thread: kafka-python blocks when its buffer is
full or the broker is unknown (up to ``max_block_ms``), and that must never
stall the producer's event loop. kafka-python 3 has no ``buffer_memory``: what
waits in memory while Kafka is down is bounded by the scheduler instead (each
feed waits for its acknowledgements, and at most ``producer.concurrency`` feeds
x ``max_entries_per_poll`` entries are in flight).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Iterable

import structlog
from kafka import KafkaProducer
from kafka.errors import KafkaError

from wirewatch.names import Topics
from wirewatch.schema import Article, utcnow
from wirewatch.settings import Settings

log = structlog.get_logger(__name__)

# kafka-python refuses records above max_request_size (1 MiB by default); we stay under.
MAX_VALUE_BYTES = 900_000
LINGER_MS = 20
BATCH_SIZE = 256 * 1024


class SinkError(Exception):
    """Kafka did not acknowledge (or refused) the articles; the message says why."""


def encode_article(article: Article) -> bytes:
    """Article JSON, with the bulkiest fields cut until it fits in one record."""
    value = article.to_json()
    if len(value) <= MAX_VALUE_BYTES:
        return value
    trimmed = article.model_copy(update={"content_html": ""})
    value = trimmed.to_json()
    while len(value) > MAX_VALUE_BYTES and len(trimmed.text) > 1000:
        trimmed = trimmed.model_copy(update={"text": trimmed.text[: len(trimmed.text) // 2], "summary": trimmed.summary[:5000]})
        value = trimmed.to_json()
    return value


class KafkaSink:
    def __init__(self, settings: Settings, *, topic: str | None = None, client_id: str = "wirewatch-producer", **overrides):
        self.settings = settings
        self.topic = topic or Topics.from_settings(settings.kafka).raw
        compression = settings.kafka.compression
        config = dict(
            bootstrap_servers=settings.kafka.bootstrap_servers.split(","),
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            compression_type=None if compression == "none" else compression,
            linger_ms=LINGER_MS,
            batch_size=BATCH_SIZE,
            max_request_size=1024 * 1024,
            request_timeout_ms=int(settings.kafka.request_timeout_s * 1000),
            delivery_timeout_ms=int(settings.kafka.request_timeout_s * 1000) * 4,
            max_block_ms=int(settings.kafka.request_timeout_s * 1000),
        )
        config.update(overrides)
        self._producer = KafkaProducer(**config)
        self._sender = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-send")

    # ------------------------------------------------------------------ sync API

    def send_articles(self, articles: Iterable[Article]) -> list:
        """Send each article (``produced_at`` set just before); return kafka-python futures."""
        futures = []
        for article in articles:
            article.produced_at = utcnow()
            futures.append(self._producer.send(self.topic, key=article.id.encode("ascii"), value=encode_article(article)))
        return futures

    def send_raw(self, topic: str, key: bytes, value: bytes | None):
        return self._producer.send(topic, key=key, value=value)

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush what is buffered, then close (on shutdown)."""
        self._sender.shutdown(wait=True)
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as exc:
            log.warning("kafka_flush_failed", error=str(exc))
        self._producer.close(timeout=timeout)

    # ------------------------------------------------------------------ async API

    async def send_and_wait(self, articles: list[Article], timeout: float) -> None:
        """Send and wait until Kafka acknowledged every article; raise SinkError otherwise."""
        if not articles:
            return
        loop = asyncio.get_running_loop()
        try:
            futures = await loop.run_in_executor(self._sender, self.send_articles, articles)
        except KafkaError as exc:
            raise SinkError(f"send failed: {type(exc).__name__}: {exc}") from None
        await self.wait_acknowledged(futures, timeout)

    async def wait_acknowledged(self, futures: list, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        waiters = [_bridge(loop, future) for future in futures]
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*waiters)
        except TimeoutError:
            raise SinkError(f"Kafka did not acknowledge {len(futures)} record(s) within {timeout:g} s") from None
        except Exception as exc:  # kafka-python's errbacks carry its error classes
            raise SinkError(f"Kafka refused a record: {type(exc).__name__}: {exc}") from None

    async def send_records_and_wait(self, topic: str, records: list[tuple[bytes, bytes | None]], timeout: float) -> None:
        """Send (key, value) records to ``topic`` and wait for every acknowledgement."""
        if not records:
            return
        loop = asyncio.get_running_loop()

        def send_all() -> list:
            return [self._producer.send(topic, key=key, value=value) for key, value in records]

        try:
            futures = await loop.run_in_executor(self._sender, send_all)
        except KafkaError as exc:
            raise SinkError(f"send failed: {type(exc).__name__}: {exc}") from None
        await self.wait_acknowledged(futures, timeout)


def _bridge(loop: asyncio.AbstractEventLoop, kafka_future) -> asyncio.Future:
    """An asyncio future completed (thread-safely) by a kafka-python future."""
    waiter = loop.create_future()

    def done(value):
        loop.call_soon_threadsafe(lambda: waiter.done() or waiter.set_result(value))

    def failed(exc):
        loop.call_soon_threadsafe(lambda: waiter.done() or waiter.set_exception(exc))

    kafka_future.add_callback(done)
    kafka_future.add_errback(failed)
    return waiter
