"""Dead-letter agent: the dead-letter topic -> an Elasticsearch index, so that the
Pipeline dashboard can chart failures by stage and reason.

The topic stays the record to replay from; the index is a view of it, bounded
by the same retention as the other indices (`wirewatch es prune`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timezone

import faust
import structlog
from elasticsearch import ApiError, TransportError

from processors.context import WorkerContext
from wirewatch.schema import utcnow

log = structlog.get_logger(__name__)
MAX_BACKOFF_S = 30.0
MAX_VALUE_CHARS = 20_000

DEAD_LETTERS_MAPPING = {
    "dynamic": False,
    "properties": {
        "stage": {"type": "keyword"},
        "reason": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
        "failed_at": {"type": "date"},
        "key": {"type": "keyword", "ignore_above": 256},
        "value": {"type": "text", "index": False},
    },
}


class TransientBulkItems(Exception):
    """Elasticsearch accepted the bulk but turned some items away for now (429, 5xx)."""


def dead_letter_document(raw: bytes, received_at: datetime | None = None) -> tuple[str, dict]:
    """(_id, document) for one dead-letter record; the id makes a replay overwrite.

    `received_at` (default: now) stands in for a missing or unreadable
    `failed_at`: the Pipeline dashboard filters on that field, so a document
    without it would never be shown.
    """
    doc_id = hashlib.sha256(raw).hexdigest()[:32]
    received_at = received_at or utcnow()
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ValueError("not an object")
    except ValueError:
        return doc_id, {"stage": "unknown", "reason": "unreadable dead-letter record",
                        "failed_at": received_at.isoformat(),
                        "value": raw[:MAX_VALUE_CHARS].decode("utf-8", "replace")}
    def text_of(part) -> str | None:
        if isinstance(part, dict):
            return part.get("text") or part.get("base64")
        return None

    value = text_of(record.get("value"))
    return doc_id, {
        "stage": str(record.get("stage", "unknown")),
        "reason": str(record.get("reason", ""))[:2000],
        "failed_at": failed_at_of(record.get("failed_at"), received_at),
        "key": text_of(record.get("key")),
        "value": value[:MAX_VALUE_CHARS] if value else None,
    }


def failed_at_of(value: object, received_at: datetime) -> str:
    """The record's ISO-8601 failure time, else `received_at`: a string the
    date mapping rejects would lose the whole document."""
    parsed = None
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None:
        parsed = received_at
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.isoformat()  # always the extended form, which the date mapping reads


def bulk_failures(response: dict) -> tuple[int, list[str]]:
    """(items worth retrying, reasons of the items that never will be) of one bulk answer."""
    if not response.get("errors"):
        return 0, []
    transient, permanent = 0, []
    for item in response.get("items", []):
        result = next(iter(item.values()), {}) if isinstance(item, dict) else {}
        status = result.get("status", 0)
        if status < 300:
            continue
        if status == 429 or status >= 500:
            transient += 1
        else:
            error = result.get("error") or {}
            permanent.append(f"{error.get('type', 'error')}: {error.get('reason', '')}"[:300])
    return transient, permanent


def register(app: faust.App, ctx: WorkerContext) -> None:
    from processors.es.client import make_async_client

    settings = ctx.settings
    index = ctx.indices.dead_letters

    @app.agent(ctx.topics.dead_letters, name=f"{settings.processor.app_id}.deadletters")
    async def dead_letters_agent(stream):
        es = make_async_client(settings.es)
        ready = False
        try:
            async for values in stream.take(200, within=2.0):
                received_at = utcnow()
                operations = []
                for raw in values:
                    doc_id, document = dead_letter_document(raw, received_at)
                    operations += [{"index": {"_index": index, "_id": doc_id}}, document]
                delay = 0.5
                while True:
                    try:
                        if not ready:
                            if not await es.indices.exists(index=index):
                                await es.options(ignore_status=400).indices.create(index=index, mappings=DEAD_LETTERS_MAPPING)
                            ready = True
                        transient, permanent = bulk_failures((await es.bulk(operations=operations)).body)
                        if permanent:  # still on the topic, which stays the record to replay from
                            log.error("dead_letters_not_indexed", count=len(permanent), first=permanent[0])
                        if transient:  # the ids are stable: resending the batch overwrites, never doubles
                            raise TransientBulkItems(f"{transient} dead letters turned away for now")
                        break
                    except (ApiError, TransportError, TransientBulkItems) as exc:
                        log.warning("dead_letters_index_retry", error=str(exc)[:300], wait_s=delay)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, MAX_BACKOFF_S)
        finally:
            await es.close()
