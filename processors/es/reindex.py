"""`wirewatch es reindex --from-kafka`: rebuild the articles index from the
enriched topic (Kafka is the system of record) and swap the aliases.

1. Note the end offset of every partition of ``Topics.enriched``, read from
   the beginning up to them (kafka-python, no consumer group: nothing is
   committed, the running worker is not disturbed).
2. Index into new monthly indices ``<articles>-r<UTC timestamp>-YYYY.MM``;
   their template adds no alias, so searches do not see a half-built index.
   An id seen again overwrites its first copy (locations kept in memory).
3. Check: documents in the new indices == distinct valid articles read.
   Anything else (a permanent or lasting failure) stops here: the new indices
   are deleted and the live ones are untouched.
4. One atomic alias update: the read alias leaves the old indices and joins
   the new ones; the write alias moves to the new current month.
5. The old indices are deleted (they share their names with the months the
   worker writes, so they cannot be kept beside the live ones).
6. Catch up: articles the worker indexed into the old indices while the
   rebuild ran (offsets past step 1's ends) are read and indexed again
   through the live path.

The worker may keep running: what it writes before step 5 is lost with the
old indices and restored by step 6.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import structlog
from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from processors.es.client import describe_error, make_async_client
from processors.es.layout import ArticleLayout
from processors.es.templates import REBUILD_MARK, ensure_templates
from processors.indexer import index_batch
from wirewatch.names import Indices, Topics
from wirewatch.schema import Article, SchemaError
from wirewatch.settings import Settings

log = structlog.get_logger(__name__)

MAX_ARTICLES = 5_000_000  # the id -> index map of a rebuild lives in memory
BATCH = 500
POLL_MS = 500


class ReindexError(Exception):
    """The rebuild could not be completed; the live indices are unchanged
    unless the message says otherwise."""


@dataclass
class ReindexReport:
    base: str
    read: int = 0
    invalid: int = 0
    distinct: int = 0
    indexed: int = 0
    caught_up: int = 0
    old_indices: list[str] = field(default_factory=list)
    deleted_old: bool = False
    seconds: float = 0.0
    examples_invalid: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"rebuilt {self.base}-*: {self.read} messages read, {self.invalid} invalid skipped, "
                f"{self.distinct} distinct articles, {self.indexed} documents (counts match); aliases swapped; "
                f"{len(self.old_indices)} old index(es) deleted; {self.caught_up} caught up; {self.seconds:.1f} s")


def rebuild_base(indices: Indices, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S")
    return f"{indices.articles}-{REBUILD_MARK}{stamp}"


def reindex_from_kafka(settings: Settings, es: Elasticsearch, *, timeout_s: float = 600.0) -> ReindexReport:
    indices = Indices.from_settings(settings.es)
    topic = Topics.from_settings(settings.kafka).enriched
    deadline = time.monotonic() + timeout_s
    started = time.monotonic()
    report = ReindexReport(base=rebuild_base(indices))
    _es_call(lambda: ensure_templates(es, indices), "applying the templates")
    consumer, ends = _open_consumer(settings, topic)
    try:
        known: dict[str, str] = {}
        asyncio.run(_consume_into(settings, indices, consumer, ends, deadline, report, known))
        report.distinct = len(known)
        _check_counts(es, report)
        live = ArticleLayout.from_indices(indices)
        report.old_indices = _es_call(lambda: _live_indices(es, live), "listing the live indices")
        _swap(es, live, report)
        for name in report.old_indices:
            es.options(ignore_status=404).indices.delete(index=name)
        report.deleted_old = bool(report.old_indices)
        for tp, end in ends.items():
            consumer.seek(tp, end)  # the last poll may have fetched past the ends
        report.caught_up = asyncio.run(_catch_up(settings, indices, consumer, _current_ends(consumer), deadline))
    finally:
        consumer.close()
    report.seconds = time.monotonic() - started
    log.info("es.reindex.done", base=report.base, distinct=report.distinct, indexed=report.indexed,
             caught_up=report.caught_up, old=len(report.old_indices))
    return report


# ---------------------------------------------------------------- Kafka

def _open_consumer(settings: Settings, topic: str):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    timeout_ms = int(settings.kafka.request_timeout_s * 1000)
    try:
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers.split(","), group_id=None,
                                 enable_auto_commit=False, client_id="wirewatch-reindex",
                                 request_timeout_ms=max(timeout_ms, 11_000),
                                 max_poll_records=BATCH)
    except KafkaError as exc:
        raise ReindexError(f"Kafka at {settings.kafka.bootstrap_servers} is unreachable: {exc}") from None
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise ReindexError(f"topic {topic} does not exist: nothing to rebuild from")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        ends = consumer.end_offsets(assigned)
    except KafkaError as exc:
        consumer.close()
        raise ReindexError(f"cannot read topic {topic}: {exc}") from None
    except ReindexError:
        consumer.close()
        raise
    return consumer, ends


def _current_ends(consumer):
    return consumer.end_offsets(list(consumer.assignment()))


def _read_until(consumer, ends, deadline):
    """Batches of raw values until every partition reached its end offset."""
    pending = {tp: end for tp, end in ends.items() if consumer.position(tp) < end}
    while pending:
        if time.monotonic() > deadline:
            raise ReindexError(f"timed out with {len(pending)} partition(s) not read to the end; "
                               "the live indices are unchanged")
        records = consumer.poll(timeout_ms=POLL_MS, max_records=BATCH)
        batch = []
        for tp, messages in records.items():
            end = ends.get(tp, 0)
            batch.extend(m.value for m in messages if m.offset < end)
        for tp in list(pending):
            if consumer.position(tp) >= pending[tp]:
                del pending[tp]
        if batch:
            yield batch


def _parse(values, report: ReindexReport | None):
    articles = []
    for value in values:
        try:
            articles.append(Article.from_json(value))
        except (SchemaError, TypeError, ValueError) as exc:
            if report is not None:
                report.invalid += 1
                if len(report.examples_invalid) < 3:
                    report.examples_invalid.append(str(exc)[:200])
    return articles


# ---------------------------------------------------------------- indexing

async def _consume_into(settings, indices, consumer, ends, deadline, report, known) -> None:
    client = make_async_client(settings.es)
    try:
        for values in _read_until(consumer, ends, deadline):
            report.read += len(values)
            articles = _parse(values, report)
            if len(known) + len(articles) > MAX_ARTICLES:
                raise ReindexError(f"more than {MAX_ARTICLES} articles: too many for one rebuild")
            outcome = await index_batch(client, indices, articles, base=report.base, known_locations=known,
                                        refresh=False)
            if outcome.permanent or outcome.transient:
                article, reason = (outcome.permanent or outcome.transient)[0]
                raise ReindexError(f"{len(outcome.permanent)} article(s) refused and {len(outcome.transient)} "
                                   f"not accepted (e.g. {article.id}: {reason}); the live indices are unchanged")
    except ReindexError:
        await _drop_rebuild(client, report.base)
        raise
    finally:
        await client.close()


async def _catch_up(settings, indices, consumer, ends, deadline) -> int:
    client = make_async_client(settings.es)
    count = 0
    try:
        for values in _read_until(consumer, ends, deadline):
            articles = _parse(values, None)
            outcome = await index_batch(client, indices, articles, refresh=False)
            count += len(outcome.ok)
    finally:
        await client.close()
    return count


async def _drop_rebuild(client, base: str) -> None:
    try:
        names = await client.indices.get(index=f"{base}-*", allow_no_indices=True, ignore_unavailable=True)
        for name in names:
            await client.options(ignore_status=404).indices.delete(index=name)
    except (ApiError, TransportError) as exc:
        log.warning("es.reindex.cleanup_failed", base=base, reason=describe_error(exc))


# ---------------------------------------------------------------- Elasticsearch

def _es_call(fn, what: str):
    try:
        return fn()
    except (ApiError, TransportError) as exc:
        raise ReindexError(f"{what} failed: {describe_error(exc)}") from None


def _check_counts(es: Elasticsearch, report: ReindexReport) -> None:
    pattern = f"{report.base}-*"
    _es_call(lambda: es.indices.refresh(index=pattern, allow_no_indices=True, ignore_unavailable=True), "refresh")
    report.indexed = int(_es_call(lambda: es.count(index=pattern, allow_no_indices=True, ignore_unavailable=True),
                                  "counting")["count"])
    if report.indexed != report.distinct:
        for name in es.indices.get(index=pattern, allow_no_indices=True, ignore_unavailable=True):
            es.options(ignore_status=404).indices.delete(index=name)
        raise ReindexError(f"count mismatch: {report.distinct} distinct articles read but {report.indexed} "
                           "documents indexed; rebuild deleted, the live indices are unchanged")


def _live_indices(es: Elasticsearch, live: ArticleLayout) -> list[str]:
    if not es.indices.exists_alias(name=live.read_alias):
        return []
    return sorted(es.indices.get_alias(name=live.read_alias))


def _swap(es: Elasticsearch, live: ArticleLayout, report: ReindexReport) -> None:
    rebuilt = ArticleLayout.from_indices_base(live, report.base)
    current = rebuilt.index_for(datetime.now(timezone.utc))
    if not es.indices.exists(index=current):
        _es_call(lambda: es.indices.create(index=current), f"creating {current}")
    new = sorted(es.indices.get(index=f"{report.base}-*", allow_no_indices=True, ignore_unavailable=True))
    actions = [{"remove": {"index": old, "alias": live.read_alias}} for old in report.old_indices]
    if es.indices.exists_alias(name=live.write_alias):
        actions += [{"remove": {"index": old, "alias": live.write_alias}}
                    for old in sorted(es.indices.get_alias(name=live.write_alias))]
    actions += [{"add": {"index": name, "alias": live.read_alias}} for name in new]
    actions.append({"add": {"index": current, "alias": live.write_alias, "is_write_index": True}})
    _es_call(lambda: es.indices.update_aliases(actions=actions), "swapping the aliases")
    log.info("es.reindex.swapped", alias=live.read_alias, new=new, old=report.old_indices)
