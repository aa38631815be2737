"""Story agent: articles.signed -> story id, first, sources -> articles.enriched.

Why one owner: story ids must agree across workers and partitions, and two
workers that each keep their own index would give two ids to copies that
arrive on different partitions at the same moment. So the enrich agents (many,
parallel) only compute the near-duplicate signature, which is the costly part,
and send the enriched article with its signature to `articles.signed` under one
constant key. Kafka puts every message of that key on one partition, and Faust
gives a partition to one worker at a time: one `StoryIndex`, fed in order.
Assigning a story costs tens of microseconds, far below what one worker can
take, so this is not the bottleneck (see bench/enrich.py --agent).

Restart and rebalance: the index writes each story's record and the ids of
the articles that joined a story to two changelogged tables (co-partitioned
with `articles.signed`, so their one busy partition moves with it). When a
worker gets that partition, Faust recovers the tables and calls our
`on_recover`; the next event then rebuilds the index from them
(`StoryIndex.restore`). Evictions delete from the tables, so they are as
bounded as the index.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass

import faust
import orjson
import structlog

from processors.agents.failures import PermanentError, send_dead_letter, with_retries
from processors.context import WorkerContext
from processors.enrich.story import Signature, StoryIndex, StoryJournal, signature_from_record, signature_to_record
from processors.trends import article_terms
from wirewatch.schema import Enrichment

log = structlog.get_logger(__name__)

SIGNED_KEY = b"stories"   # constant: every signed article on the same partition, so one owner
MAX_SOURCE_CHARS = 500
# A message on articles.signed carries a batch of signed articles, one per line: every
# Kafka message costs the enrich, story and trends agents a send or an event (~0.2 ms
# each on this machine), which one message per article made the worker's largest cost.
# Bounded well below Kafka's default 1 MB message limit.
MAX_SIGNED_BATCH_BYTES = 512 * 1024

_SIGNED_TOPICS: "weakref.WeakKeyDictionary[faust.App, faust.TopicT]" = weakref.WeakKeyDictionary()


def signed_topic(app: faust.App, ctx: WorkerContext) -> faust.TopicT:
    """The `articles.signed` topic object, declared once per app (enrich, story and trends use it)."""
    topic = _SIGNED_TOPICS.get(app)
    if topic is None:
        topic = app.topic(ctx.topic_names.signed, key_type=bytes, value_type=bytes, key_serializer="raw",
                          value_serializer="raw", partitions=ctx.settings.kafka.partitions, internal=False)
        _SIGNED_TOPICS[app] = topic
    return topic


# A signed article is a line: its head (JSON: article id, source, signature, trend
# terms), a tab, then the enriched article JSON as the enrich agent serialised it. The
# story and trends agents read the head only (~1 KB); the story agent splices the story
# fields into the article's bytes. Neither JSON has a raw tab or newline (escaped in
# strings; no whitespace between tokens), so the first tab ends the head.
HEAD_END = b"\t"
STORY_FIELDS = ("story_id", "story_first", "story_sources")
# The story fields as the enrich agent serialises them (the schema's defaults): what
# the story agent replaces.
STORY_DEFAULTS = Enrichment().model_dump_json(include=set(STORY_FIELDS))[1:-1].encode("ascii")


@dataclass(frozen=True)
class SignedArticle:
    article_id: str
    source: str
    signature: Signature
    terms: object     # trend keys as received: processors.trends.carried_terms checks them
    article: bytes    # the enriched article JSON, its story fields at their defaults


def signed_message(article_json: bytes, article_id: str, source: str, sig: Signature, terms: list[str]) -> bytes:
    """What an enrich agent sends for one article: head, tab, the article (serialised once)."""
    # orjson: compact, control characters escaped (no raw tab or newline), ~4x faster than json
    head = orjson.dumps({"id": article_id, "source": source[:MAX_SOURCE_CHARS], "signature": signature_to_record(sig),
                         "terms": terms})
    return head + HEAD_END + article_json


def signed_batches(lines: list[bytes], max_bytes: int = MAX_SIGNED_BATCH_BYTES) -> list[list[int]]:
    """Indexes of `lines` grouped into messages of at most `max_bytes` (a longer line goes alone)."""
    batches: list[list[int]] = []
    size = 0
    for i, line in enumerate(lines):
        if not batches or size + len(line) + 1 > max_bytes:
            batches.append([])
            size = 0
        batches[-1].append(i)
        size += len(line) + 1
    return batches


def join_signed(lines: list[bytes]) -> bytes:
    """One articles.signed message: signed articles, one per line (JSON never holds a raw newline)."""
    return b"\n".join(lines)


def split_signed(value: bytes | None) -> list[bytes]:
    """The signed articles of one articles.signed message (a single article is a batch of one)."""
    if not value:
        return [value or b""]
    return [line for line in value.split(b"\n") if line.strip()] or [value]


def parse_signed(value: bytes, max_terms: int) -> SignedArticle:
    """A signed article (see signed_message); PermanentError when malformed. `max_terms`:
    for a line of the earlier format (one JSON object), whose terms are taken from its article."""
    head, tab, article = value.partition(HEAD_END)
    if not tab:
        return _parse_whole(value, max_terms)
    message = _checked_head(head, bool(article))
    return SignedArticle(message["id"], message["source"], _signature(message), message.get("terms"), article)


def signed_terms(value: bytes, max_terms: int) -> object:
    """The trend keys of a signed article as received, read from its head alone (the trends
    agent needs neither the signature nor a copy of the article); PermanentError as parse_signed."""
    end = value.find(HEAD_END)
    if end < 0:
        return _parse_whole(value, max_terms).terms
    return _checked_head(value[:end], end + len(HEAD_END) < len(value)).get("terms")


def _checked_head(head: bytes, has_article: bool) -> dict:
    message = _json_object(head)
    article_id, source = message.get("id"), message.get("source")
    if not isinstance(article_id, str) or not article_id:
        raise PermanentError("signed message has no article id")
    if not isinstance(source, str):
        raise PermanentError("signed message has no source")
    if not has_article:
        raise PermanentError("signed message has no article")
    return message


def _parse_whole(value: bytes, max_terms: int) -> SignedArticle:
    """A line of the format before heads: {"source", "signature", "article"} (written by an
    earlier version, still on the topic after an upgrade)."""
    message = _json_object(value)
    article, source = message.get("article"), message.get("source")
    if not isinstance(article, dict) or not isinstance(article.get("id"), str) or not article["id"]:
        raise PermanentError("signed message has no article with an id")
    if not isinstance(article.get("enrichment"), dict):
        raise PermanentError("signed message's article has no enrichment")
    if not isinstance(source, str):
        raise PermanentError("signed message has no source")
    return SignedArticle(article["id"], source, _signature(message), article_terms(article["enrichment"], max_terms),
                         json.dumps(article, separators=(",", ":")).encode("ascii"))


def _json_object(value: bytes) -> dict:
    try:
        message = orjson.loads(value)
    except (ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise PermanentError(f"signed message is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise PermanentError("signed message is not a JSON object")
    return message


def _signature(message: dict) -> Signature:
    try:
        return signature_from_record(message.get("signature"))
    except ValueError as exc:
        raise PermanentError(f"signed message has a bad signature: {exc}") from None


def with_story(article_json: bytes, assignment) -> bytes:
    """The enriched article JSON with its story fields set.

    Spliced into the bytes in place of their defaults: parsing and dumping the
    ~6 KB article cost ~15x more. The defaults' keys can be nowhere else (the
    article's keys are the schema's, and a quote inside a string is escaped);
    when they are not there as written (another serialisation), the article is
    parsed and its fields set."""
    fields = {"story_id": assignment.story_id, "story_first": assignment.first, "story_sources": assignment.sources}
    at = article_json.rfind(STORY_DEFAULTS)
    end = at + len(STORY_DEFAULTS)
    if at >= 0 and article_json[end:end + 1] in (b",", b"}"):
        return b"".join((article_json[:at], json.dumps(fields, separators=(",", ":"))[1:-1].encode("ascii"),
                         article_json[end:]))
    article = _json_object(article_json)
    if not isinstance(article.get("enrichment"), dict):
        raise PermanentError("signed message's article has no enrichment")
    article["enrichment"].update(fields)
    return json.dumps(article, separators=(",", ":")).encode("ascii")


class TableJournal(StoryJournal):
    """Mirrors the index into two Faust tables (called inside the agent's event loop)."""

    def __init__(self, stories, articles):
        self.stories, self.articles = stories, articles

    def story_saved(self, story_id: str, record: dict) -> None:
        self.stories[story_id] = record

    def story_dropped(self, story_id: str) -> None:
        if story_id in self.stories:
            del self.stories[story_id]

    def article_saved(self, article_id: str, story_id: str) -> None:
        self.articles[article_id] = story_id

    def article_dropped(self, article_id: str) -> None:
        if article_id in self.articles:
            del self.articles[article_id]


def register(app: faust.App, ctx: WorkerContext) -> None:
    proc = ctx.settings.processor
    stories_table = app.Table("stories", default=None, key_type=str, value_type=None,
                              partitions=ctx.settings.kafka.partitions)
    articles_table = app.Table("story-articles", default=None, key_type=str, value_type=None,
                               partitions=ctx.settings.kafka.partitions)
    journal = TableJournal(stories_table, articles_table)
    index = StoryIndex(max_stories=proc.story_max_stories, max_age_s=proc.story_max_age_s, journal=journal)
    state = {"restore": True}

    @stories_table.on_recover
    async def _stories_recovered() -> None:
        state["restore"] = True  # rebuild on the next event: it runs where table writes are allowed

    def restore() -> None:
        records = [record for record in stories_table.values() if isinstance(record, dict)]
        entries = [(k, v) for k, v in articles_table.items() if isinstance(v, str)]
        kept = index.restore(records, entries)
        log.info("story_index_restored", stories=kept, records=len(records), articles=len(index.articles))

    async def story_one(value: bytes, producer) -> asyncio.Future:
        """Assign the story and hand the article to the producer; returns Kafka's acknowledgement."""
        signed = parse_signed(value, proc.trends_max_terms)
        assignment = index.assign_signature(signed.article_id, signed.source, signed.signature)
        out = with_story(signed.article, assignment)
        key, topic = signed.article_id.encode(), ctx.topics.enriched.get_topic_name()

        async def send() -> asyncio.Future:
            # Straight to the producer, as the match agent sends alerts (raw bytes both ways):
            # Faust's Topic.send wraps each message in futures, callbacks and sensors, ~0.2 ms
            # per article. Faust flushes the producer before it commits the offsets.
            return await producer.send(topic, key, out, partition=None, timestamp=None, headers=None)

        return await with_retries(send, attempts=proc.max_attempts, backoff_s=proc.retry_backoff_s,
                                  what="send storied article")

    async def dead_letter(event, value: bytes, exc: Exception) -> None:
        await send_dead_letter(ctx.topics.dead_letters, "story", f"{type(exc).__name__}: {exc}", event.key, value)

    @app.agent(signed_topic(app, ctx), name=f"{proc.app_id}.story")
    async def story_agent(stream):
        producer = await app.maybe_start_producer()
        async for event in stream.events():
            if state["restore"]:
                restore()
                state["restore"] = False
            sent: list[tuple[bytes, asyncio.Future]] = []
            for value in split_signed(event.value):
                try:
                    sent.append((value, await story_one(value, producer)))
                except Exception as exc:  # noqa: BLE001 - see failures.py: never escape an agent
                    # One bad line is dead-lettered alone; the rest of the batch goes on.
                    await dead_letter(event, value, exc)
            for value, acknowledged in sent:  # Kafka's answers for the whole batch, once it is all sent
                try:
                    await acknowledged
                except Exception as exc:  # noqa: BLE001 - not delivered: keep it where it can be replayed
                    await dead_letter(event, value, exc)
