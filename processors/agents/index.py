"""Index agent: articles.enriched -> Elasticsearch, in batches bounded in size and time.

A batch is acknowledged only once Elasticsearch has accepted every document
of it or the document has gone to the dead-letter topic (permanent failures:
mapping errors and the like). Transient failures (Elasticsearch down, 429,
5xx) are retried with a capped backoff for as long as it takes: the stream
waits, so nothing is lost and indexing resumes by itself.
"""

from __future__ import annotations

import asyncio

import faust
import structlog

from processors.agents.failures import send_dead_letter
from processors.context import WorkerContext
from wirewatch.schema import Article, SchemaError

log = structlog.get_logger(__name__)
MAX_BACKOFF_S = 30.0


def parse_batch(values: list[bytes]) -> tuple[list[Article], list[tuple[bytes, str]]]:
    """Articles, and the values that are not articles with the reason."""
    articles, bad = [], []
    for value in values:
        try:
            articles.append(Article.from_json(value))
        except SchemaError as exc:
            bad.append((value, str(exc)))
    # The same article twice in one batch: the last version wins, as it would in ES.
    latest = {a.id: a for a in articles}
    return list(latest.values()), bad


def register(app: faust.App, ctx: WorkerContext) -> None:
    from processors.es.client import make_async_client
    from processors.es.templates import ensure_articles_index, ensure_templates
    from processors.indexer import index_batch

    es_settings = ctx.settings.es
    state: dict = {}

    @app.task
    async def setup_index() -> None:
        # Templates first: the first bulk request must not create an unmapped index.
        from processors.es.client import make_client

        def sync_setup() -> None:
            es = make_client(es_settings)
            try:
                ensure_templates(es, ctx.indices)
                ensure_articles_index(es, ctx.indices)
            finally:
                es.close()

        await asyncio.get_running_loop().run_in_executor(None, sync_setup)
        state["ready"] = True

    @app.agent(ctx.topics.enriched, name=f"{ctx.settings.processor.app_id}.index")
    async def index_agent(stream):
        es = make_async_client(es_settings)
        try:
            async for values in stream.take(es_settings.bulk_size, within=es_settings.bulk_wait_s):
                while not state.get("ready"):
                    await asyncio.sleep(0.1)
                articles, bad = parse_batch(values)
                for value, reason in bad:
                    await send_dead_letter(ctx.topics.dead_letters, "index", reason, None, value)
                await index_until_accepted(es, articles)
        finally:
            await es.close()

    async def index_until_accepted(es, articles: list[Article]) -> None:
        pending, delay = articles, 0.5
        while pending:
            try:
                outcome = await index_batch(es, ctx.indices, pending)
            except Exception as exc:  # noqa: BLE001 - ES unreachable: wait and retry, never drop
                log.warning("index_retry", error=f"{type(exc).__name__}: {exc}", documents=len(pending), wait_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            for article, reason in outcome.permanent:
                await send_dead_letter(ctx.topics.dead_letters, "index", reason, article.id.encode(), article.to_json())
            log.info("indexed", ok=len(outcome.ok), permanent=len(outcome.permanent), transient=len(outcome.transient))
            pending = [article for article, _reason in outcome.transient]
            if pending:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
