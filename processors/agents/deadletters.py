"""Dead-letter agent: the dead-letter topic -> an Elasticsearch index, so that the
Pipeline dashboard can chart failures by stage and reason.

The topic stays the record to replay from; the index is a view of it, bounded
by the same retention as the other indices (`wirewatch es prune`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import faust
import structlog
from elasticsearch import ApiError, TransportError

from processors.context import WorkerContext

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


def dead_letter_document(raw: bytes) -> tuple[str, dict]:
    """(_id, document) for one dead-letter record; the id makes a replay overwrite."""
    doc_id = hashlib.sha256(raw).hexdigest()[:32]
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ValueError("not an object")
    except ValueError:
        return doc_id, {"stage": "unknown", "reason": "unreadable dead-letter record",
                        "value": raw[:MAX_VALUE_CHARS].decode("utf-8", "replace")}
    def text_of(part) -> str | None:
        if isinstance(part, dict):
            return part.get("text") or part.get("base64")
        return None

    value = text_of(record.get("value"))
    return doc_id, {
        "stage": str(record.get("stage", "unknown")),
        "reason": str(record.get("reason", ""))[:2000],
        "failed_at": record.get("failed_at"),
        "key": text_of(record.get("key")),
        "value": value[:MAX_VALUE_CHARS] if value else None,
    }


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
                delay = 0.5
                while True:
                    try:
                        if not ready:
                            if not await es.indices.exists(index=index):
                                await es.options(ignore_status=400).indices.create(index=index, mappings=DEAD_LETTERS_MAPPING)
                            ready = True
                        operations = []
                        for raw in values:
                            doc_id, document = dead_letter_document(raw)
                            operations += [{"index": {"_index": index, "_id": doc_id}}, document]
                        await es.bulk(operations=operations)
                        break
                    except (ApiError, TransportError) as exc:
                        log.warning("dead_letters_index_retry", error=str(exc)[:300], wait_s=delay)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, MAX_BACKOFF_S)
        finally:
            await es.close()
