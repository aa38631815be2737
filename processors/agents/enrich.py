"""Enrich agent: articles.raw -> language, topics, keywords, entities, signature -> articles.signed.

The story id is not assigned here: every worker runs this agent on its share
of the partitions, and story ids must agree across them. This agent computes
the near-duplicate signature (the costly part) and the story agent
(processors/agents/story.py), the one owner of the story index, assigns the
story and sends the article on to articles.enriched.
"""

from __future__ import annotations

import faust
import structlog

from processors.agents.failures import PermanentError, send_dead_letter, with_retries
from processors.context import WorkerContext
from wirewatch.schema import Article, SchemaError, Source, utcnow

log = structlog.get_logger(__name__)

# Articles taken from articles.raw at a time, and how long to wait for them: the
# signed articles of one take go out as few messages (see story.MAX_SIGNED_BATCH_BYTES);
# the wait is what a lone article waits at most.
TAKE_MAX = 200
TAKE_WITHIN_S = 0.05


def parse_article(value: bytes) -> Article:
    try:
        return Article.from_json(value)
    except SchemaError as exc:
        raise PermanentError(str(exc)) from None


# One sentence per script: enriching them once at start-up loads every language
# model, which would otherwise block the event loop on the first articles
# (for long enough that Kafka thinks the consumer died).
WARM_UP_TEXTS = [
    "The government announced new measures on Monday after talks with the unions.",
    "El gobierno anunció nuevas medidas el lunes tras las conversaciones con los sindicatos.",
    "Правительство объявило о новых мерах в понедельник после переговоров.",
    "أعلنت الحكومة عن إجراءات جديدة يوم الاثنين بعد المحادثات مع النقابات.",
    "政府在周一与工会会谈后宣布了新措施。",
    "सरकार ने सोमवार को यूनियनों के साथ बातचीत के बाद नए उपायों की घोषणा की।",
    "政府は月曜日、労働組合との協議の後、新たな措置を発表した。",
    "정부는 월요일 노조와의 대화 후 새로운 조치를 발표했다.",
]


def warm_up(enricher) -> None:
    enricher.language.preload()
    now = utcnow()
    enricher.update_stats, keep = False, enricher.update_stats  # warm-up text is not news
    enricher.enrich_batch([Article(id=f"warm-up-{i}", url=f"https://warm-up.invalid/{i}", title=text, text=text * 3,
                                   source=Source(feed_url="https://warm-up.invalid/feed"),
                                   published_at=now, fetched_at=now)
                           for i, text in enumerate(WARM_UP_TEXTS)])
    enricher.update_stats = keep


def register(app: faust.App, ctx: WorkerContext) -> None:
    from processors.agents.corpus import CorpusStats, corpus_table, raw_partitions
    from processors.agents.story import SIGNED_KEY, join_signed, signed_batches, signed_message, signed_topic
    from processors.enrich.pipeline import Enricher
    from processors.trends import enrichment_terms

    enricher = Enricher.from_settings(ctx.settings)
    warm_up(enricher)
    proc = ctx.settings.processor
    signed = signed_topic(app, ctx)
    partitions = ctx.settings.kafka.partitions
    # The keyword step's document frequencies, kept per partition in a table (processors/corpus.py).
    stats = CorpusStats(corpus_table(app, partitions), enricher.df, raw_partitions(app, ctx.topic_names.raw),
                        partitions, proc.keyword_df_flush_articles, proc.keyword_df_flush_s)

    def signed_lines(articles: list[Article], events: list) -> list[bytes]:
        lines = []
        for article, event, done in zip(articles, events, enricher.enrich_batch(articles)):
            stats.observe(event.message.partition, done.analysis.vocabulary)
            done.enrichment.enriched_at = utcnow()
            enriched = article.model_copy(update={"enrichment": done.enrichment})
            source = article.source.domain or article.source.feed_url
            lines.append(signed_message(enriched.to_json(), article.id, source, done.signature,
                                        enrichment_terms(done.enrichment, proc.trends_max_terms)))
        return lines

    async def dead_letter(event, exc: Exception) -> None:
        await send_dead_letter(ctx.topics.dead_letters, "enrich", f"{type(exc).__name__}: {exc}",
                               event.key, event.value)

    async def send_signed(lines: list[bytes], events: list) -> None:
        for batch in signed_batches(lines):
            message = join_signed([lines[i] for i in batch])

            async def send():
                await signed.send(key=SIGNED_KEY, value=message)

            try:
                await with_retries(send, attempts=proc.max_attempts, backoff_s=proc.retry_backoff_s,
                                   what="send signed articles")
            except Exception as exc:  # noqa: BLE001 - see failures.py: never escape an agent
                for i in batch:
                    await dead_letter(events[i], exc)

    @app.agent(ctx.topics.raw, name=f"{proc.app_id}.enrich")
    async def enrich_agent(stream):
        async for events in stream.take_events(TAKE_MAX, within=TAKE_WITHIN_S):
            stats.sync()  # after a rebalance: the counts of the partitions held now
            articles, parsed = [], []
            for event in events:
                try:
                    articles.append(parse_article(event.value))
                    parsed.append(event)
                except Exception as exc:  # noqa: BLE001 - see failures.py: never escape an agent
                    await dead_letter(event, exc)
            try:
                lines, done = signed_lines(articles, parsed), parsed
            except Exception:  # noqa: BLE001 - a bug of the chain: find the article, keep the rest
                lines, done = [], []
                for article, event in zip(articles, parsed):
                    try:
                        lines += signed_lines([article], [event])
                        done.append(event)
                    except Exception as exc:  # noqa: BLE001 - see failures.py: never escape an agent
                        await dead_letter(event, exc)
            await send_signed(lines, done)
            stats.flush_due()

    @app.timer(interval=proc.keyword_df_flush_s)
    async def flush_keyword_df() -> None:  # a quiet stream's last counts too
        stats.flush_due()
