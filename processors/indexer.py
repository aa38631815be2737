"""Index enriched articles into Elasticsearch, one document per article.

``to_document`` turns an Article into the document of the articles template
(pure). ``index_batch`` bulk-writes a batch with ``_id`` = article id into the
monthly index of each article (``processors/es/layout.py``), retries what can
succeed later, and says what happened to every article:

* ``ok``: accepted by Elasticsearch (safe to commit the offsets);
* ``permanent``: refused for a reason a retry cannot fix (mapping errors and
  other 4xx, or an article no document can be built from): send to the
  dead-letter topic with the reason;
* ``transient``: still failing after the bounded retries (429, 5xx, connection
  errors, timeouts): do not commit; retry the batch later.

No Faust here, so it can be tested against Elasticsearch alone.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import structlog
from elastic_transport import TransportError
from elasticsearch import ApiError, AsyncElasticsearch
from elasticsearch.helpers import async_streaming_bulk

from processors.enrich.text import fold
from processors.es.layout import ArticleLayout
from processors.es.templates import LANGUAGE_FIELDS
from wirewatch.names import Indices
from wirewatch.schema import Article

log = structlog.get_logger(__name__)

# Bounds on what one document carries: hostile or broken feeds must not make
# documents that ES refuses (immense terms, highlight limits) or that bloat it.
MAX_TITLE_CHARS = 2_000
MAX_TEXT_CHARS = 500_000  # below index.highlight.max_analyzed_offset (1,000,000)
MAX_SUMMARY_CHARS = 10_000
MAX_LIST_ITEMS = 200
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
LOOKUP_CHUNK = 1_000


@dataclass
class IndexOutcome:
    ok: list[str] = field(default_factory=list)
    permanent: list[tuple[Article, str]] = field(default_factory=list)
    transient: list[tuple[Article, str]] = field(default_factory=list)
    attempts: int = 0
    seconds: float = 0.0

    @property
    def all_ok(self) -> bool:
        return not self.permanent and not self.transient


# ---------------------------------------------------------------- documents

def to_document(article: Article, *, indexed_at: datetime | None = None) -> dict[str, Any]:
    """The Elasticsearch document of an article (pure; JSON-ready values)."""
    enrichment = article.enrichment
    language = _primary_language(enrichment.language if enrichment and enrichment.language else article.language)
    title = article.title[:MAX_TITLE_CHARS]
    text = (article.text or article.summary)[:MAX_TEXT_CHARS]
    doc: dict[str, Any] = {
        "id": article.id,
        "schema_version": article.schema_version,
        "url": article.url,
        "image": article.image,
        "title": title,
        "summary": article.summary[:MAX_SUMMARY_CHARS],
        "text": text,
        "authors": _bounded(article.authors),
        "categories": _bounded(article.categories),
        "source": _source_name(article),
        "domain": article.source.domain or _host(article.source.feed_url),
        "feed": article.source.feed_url,
        "feed_title": article.source.feed_title or article.source.feed_name,
        "source_country": article.source.country,
        "language": language,
        "date_flags": _bounded(article.date_flags),
        "content_hash": article.content_hash,
        "published_at": _iso(article.published_at),
        "updated_at": _iso(article.updated_at),
        "fetched_at": _iso(article.fetched_at),
        "indexed_at": _iso(indexed_at or datetime.now(timezone.utc)),
    }
    if language in LANGUAGE_FIELDS:
        # Only the article's own language gets the stemmed copy: one extra
        # analysis per document instead of one per supported language.
        doc[f"title_{language}"] = title
        doc[f"text_{language}"] = text
    if enrichment is not None:
        doc.update(_enrichment_fields(enrichment))
    return doc


def _enrichment_fields(enrichment) -> dict[str, Any]:
    by_type: dict[str, list[str]] = {"person": [], "organization": [], "place": [], "other": []}
    for entity in enrichment.entities[:MAX_LIST_ITEMS]:
        by_type.setdefault(entity.type, []).append(entity.text)
    return {
        "language_confidence": enrichment.language_confidence,
        "topics": _bounded(t.name for t in enrichment.topics),
        "keywords": _bounded(k.phrase for k in enrichment.keywords),
        "entities": {kind: _bounded(names) for kind, names in by_type.items()},
        "entity": _with_folded(_bounded(e.text for e in enrichment.entities)),
        "country": _bounded(e.country for e in enrichment.entities if e.country),
        "story_id": enrichment.story_id,
        "story_first": enrichment.story_first,
        "story_sources": enrichment.story_sources,
        "enriched_at": _iso(enrichment.enriched_at),
    }


def _with_folded(names: list[str]) -> list[str]:
    """The names, then each one's accent-folded form where it differs: the keyword field's
    normalizer only lowercases (the plugin's folding filter is refused in normalizers), and
    `entity:"nicolas maduro"` must find "Nicolás Maduro" as `entity:"NICOLÁS MADURO"` does."""
    lowered = {name.lower() for name in names}
    folded = _bounded(f for f in map(fold, names) if f not in lowered)
    return names + folded


def _bounded(values: Iterable[str | None]) -> list[str]:
    """Unique non-empty values in first-seen order, at most MAX_LIST_ITEMS."""
    seen: dict[str, None] = {}
    for value in values:
        if value and value not in seen:
            seen[value] = None
            if len(seen) >= MAX_LIST_ITEMS:
                break
    return list(seen)


def _primary_language(code: str | None) -> str | None:
    """'en-US' -> 'en'; None stays None."""
    if not code:
        return None
    return code.replace("_", "-").split("-")[0].strip().lower() or None


def _source_name(article: Article) -> str:
    """What ``source:bbc.co.uk`` matches: the site's domain without ``www.``."""
    domain = (article.source.domain or _host(article.source.feed_url)).lower()
    return domain[4:] if domain.startswith("www.") else domain


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ---------------------------------------------------------------- indexing

async def index_batch(
    es: AsyncElasticsearch,
    indices: Indices,
    articles: list[Article],
    *,
    refresh: bool = False,
    max_attempts: int = 4,
    backoff_s: float = 0.5,
    max_backoff_s: float = 8.0,
    deadline_s: float | None = 60.0,
    chunk_size: int = 500,
    locate_existing: bool = True,
    base: str | None = None,
    known_locations: dict[str, str] | None = None,
    build: Callable[[Article], dict[str, Any]] = to_document,
) -> IndexOutcome:
    """Write ``articles``; never raises for ES trouble: see ``IndexOutcome``.

    Several versions of one id in the batch: the last one is written and the
    id is reported once. ``base`` writes into other monthly indices than the
    live ones (a rebuild); ``known_locations`` ({id: index}) then replaces the
    look-up in Elasticsearch and is updated with every write, so a replay
    faster than the refresh interval still finds earlier copies. ``build``
    exists for tests that need a document Elasticsearch refuses.

    Retries are this function's alone (the client's transport retries are
    switched off for these calls): at most ``max_attempts`` passes, with
    jittered exponential backoff, and no new pass once ``deadline_s`` has
    passed (one pass is bounded by the client's request timeout).
    """
    started = time.monotonic()
    es = es.options(max_retries=0)
    outcome = IndexOutcome()
    layout = ArticleLayout.from_indices(indices, base)
    pending: dict[str, Article] = {a.id: a for a in articles}  # last version wins
    documents, outcome.permanent = _build_documents(pending.values(), build)
    for article, _ in outcome.permanent:
        pending.pop(article.id, None)

    errors: dict[str, str] = {}
    for attempt in range(1, max_attempts + 1):
        if not pending:
            break
        if attempt > 1:
            delay = _backoff(attempt - 1, backoff_s, max_backoff_s)
            if deadline_s is not None and time.monotonic() + delay - started > deadline_s:
                break
            await asyncio.sleep(delay)
        outcome.attempts = attempt
        errors = await _attempt(es, layout, pending, documents, outcome, chunk_size, locate_existing, known_locations)
        for article_id in list(pending):
            if article_id not in errors:
                pending.pop(article_id)
    outcome.transient = [(a, errors.get(a.id, "not attempted")) for a in pending.values()]

    if refresh and outcome.ok:
        await _refresh(es, layout)
    outcome.seconds = time.monotonic() - started
    log.info("es.index_batch", articles=len(articles), ok=len(outcome.ok), permanent=len(outcome.permanent),
             transient=len(outcome.transient), attempts=outcome.attempts, seconds=round(outcome.seconds, 3))
    return outcome


def _build_documents(articles: Iterable[Article], build) -> tuple[dict[str, dict], list[tuple[Article, str]]]:
    documents, refused = {}, []
    for article in articles:
        try:
            documents[article.id] = build(article)
        except Exception as exc:  # noqa: BLE001 - a bad article must not stop the batch
            refused.append((article, f"cannot build document: {type(exc).__name__}: {exc}"))
    return documents, refused


async def _attempt(es, layout, pending, documents, outcome, chunk_size, locate_existing, known) -> dict[str, str]:
    """One pass over ``pending``: records ok and permanent results in
    ``outcome``, returns {article id: reason} of the transient failures."""
    try:
        if known is not None:
            located = {i: [known[i]] for i in pending if i in known}
        else:
            located = await _locate(es, layout, list(pending)) if locate_existing else {}
    except (ApiError, TransportError) as exc:
        return {article_id: f"locating existing documents failed: {_short(exc)}" for article_id in pending}
    targets = _targets(layout, pending, located)
    transient: dict[str, str] = {}
    seen: set[str] = set()
    try:
        async for ok, item in async_streaming_bulk(
            es, _actions(targets, documents), chunk_size=chunk_size, raise_on_error=False,
            raise_on_exception=False, max_retries=0,
        ):
            op_type, info = next(iter(item.items()))
            if op_type == "delete":
                continue  # clean-up of an extra copy; a failure leaves it for next time
            article_id = info.get("_id")
            seen.add(article_id)
            _classify(ok, info, pending.get(article_id), outcome, transient)
            if ok and known is not None:
                known[article_id] = targets[article_id][0]
    except (ApiError, TransportError) as exc:
        reason = _short(exc)
        return {**transient, **{i: f"bulk request failed: {reason}" for i in pending if i not in seen}}
    for article_id in pending:
        if article_id not in seen and article_id not in transient:
            transient[article_id] = "no result in the bulk response"
    return transient


def _classify(ok: bool, info: dict, article: Article | None, outcome: IndexOutcome, transient: dict[str, str]) -> None:
    if article is None:
        return
    status = info.get("status")
    if ok:
        outcome.ok.append(article.id)
    elif not isinstance(status, int) or status in TRANSIENT_STATUSES:
        transient[article.id] = _item_reason(info)
    else:
        outcome.permanent.append((article, _item_reason(info)))


def _targets(layout: ArticleLayout, pending: dict[str, Article], located: dict[str, list[str]]) -> dict[str, tuple[str, list[str]]]:
    """{id: (index to write, extra copies to delete)}: where the article already
    lives (see layout.py), else its month."""
    targets = {}
    for article_id, article in pending.items():
        homes = located.get(article_id, [])
        routed = layout.index_for_article(article)
        target = routed if (not homes or routed in homes) else homes[0]
        targets[article_id] = (target, [extra for extra in homes if extra != target])
    return targets


def _actions(targets: dict[str, tuple[str, list[str]]], documents: dict[str, dict]):
    for article_id, (target, extras) in targets.items():
        yield {"_op_type": "index", "_index": target, "_id": article_id, "_source": documents[article_id]}
        for extra in extras:
            yield {"_op_type": "delete", "_index": extra, "_id": article_id}


async def _locate(es: AsyncElasticsearch, layout: ArticleLayout, ids: list[str]) -> dict[str, list[str]]:
    """{id: [indices holding it]} for ids already in the read alias. Near real
    time: a document written less than a refresh interval ago is not seen."""
    found: dict[str, list[str]] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start:start + LOOKUP_CHUNK]
        resp = await es.search(
            index=layout.read_alias, query={"ids": {"values": chunk}}, source=False, size=len(chunk) * 2,
            track_total_hits=False, ignore_unavailable=True, allow_no_indices=True,
        )
        for hit in resp["hits"]["hits"]:
            found.setdefault(hit["_id"], []).append(hit["_index"])
    return found


async def _refresh(es: AsyncElasticsearch, layout: ArticleLayout) -> None:
    try:
        await es.indices.refresh(index=layout.read_alias, ignore_unavailable=True, allow_no_indices=True)
    except (ApiError, TransportError) as exc:
        log.warning("es.refresh.failed", alias=layout.read_alias, reason=_short(exc))


def _item_reason(info: dict) -> str:
    error = info.get("error")
    status = info.get("status")
    if isinstance(error, dict):
        from processors.es.client import deepest_reason

        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = deepest_reason(error)
        if cause != error.get("reason"):
            text += f" (caused by: {cause})"
    else:
        text = str(error or "unknown error").splitlines()[0]
    return f"{status} {text}"[:1000]


def _short(exc: BaseException) -> str:
    from processors.es.client import describe_error

    return describe_error(exc)[:500]


def _backoff(retry: int, base_s: float, cap_s: float) -> float:
    """Exponential with full jitter: spreads the retries of several workers."""
    return random.uniform(0, min(cap_s, base_s * (2 ** (retry - 1))))
