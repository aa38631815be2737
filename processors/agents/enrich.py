"""Enrich agent: articles.raw -> language, topics, keywords, entities, story -> articles.enriched."""

from __future__ import annotations

import faust
import structlog

from processors.agents.failures import PermanentError, send_dead_letter, with_retries
from processors.context import WorkerContext
from wirewatch.schema import Article, SchemaError, utcnow

log = structlog.get_logger(__name__)


def parse_article(value: bytes) -> Article:
    try:
        return Article.from_json(value)
    except SchemaError as exc:
        raise PermanentError(str(exc)) from None


def register(app: faust.App, ctx: WorkerContext) -> None:
    from processors.enrich.pipeline import Enricher
    from processors.enrich.story import StoryIndex

    enricher = Enricher.from_settings(ctx.settings)
    # One story index per worker process; see processors/enrich/story.py for
    # how story ids stay equal across workers.
    stories = StoryIndex()
    proc = ctx.settings.processor

    def enrich_one(article: Article) -> Article:
        enrichment = enricher.enrich(article)
        story = stories.assign(article, enricher.last_analysis)
        enrichment.story_id, enrichment.story_first, enrichment.story_sources = story.story_id, story.first, story.sources
        enrichment.enriched_at = utcnow()
        return article.model_copy(update={"enrichment": enrichment})

    @app.agent(ctx.topics.raw, name=f"{proc.app_id}.enrich")
    async def enrich_agent(stream):
        async for event in stream.events():
            key, value = event.key, event.value
            try:
                article = parse_article(value)
                enriched = enrich_one(article)

                async def send():
                    await ctx.topics.enriched.send(key=enriched.id.encode(), value=enriched.to_json())

                await with_retries(send, attempts=proc.max_attempts, backoff_s=proc.retry_backoff_s,
                                   what="send enriched article")
            except Exception as exc:  # noqa: BLE001 - see failures.py: never escape an agent
                await send_dead_letter(ctx.topics.dead_letters, "enrich", f"{type(exc).__name__}: {exc}", key, value)
