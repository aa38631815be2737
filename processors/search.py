"""Search the articles: Lucene query-string syntax, filters, highlights,
newest first.

Query syntax is Elasticsearch's ``query_string`` (what Kibana's Lucene mode
takes): ``maduro``, ``"armed forces"``, ``maduro AND (military OR soldiers)``,
``topic:politics``, ``lang:es``, ``entity:"Nicolás Maduro"``,
``source:bbc.co.uk``, ``published_at:[2017-01-01 TO 2017-12-31]``. Terms
without a field search the title and text, each also in its language's
analysed copy (``title_es`` ...), so ``soldados`` finds ``soldado`` once the
language analyzers are installed.

Default operator is **OR**, as in Kibana and Lucene: ``maduro military``
finds articles with either word (those with both rank higher but the order
shown is by date). Write ``AND`` or ``+term`` to require every word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from processors.es.client import ESUnavailable, describe_error
from processors.es.templates import LANGUAGE_FIELDS
from wirewatch.names import Indices

TITLE_BOOST = 3
SEARCH_FIELDS = (
    f"title^{TITLE_BOOST}", "text",
    *(f"title_{code}^{TITLE_BOOST}" for code in LANGUAGE_FIELDS),
    *(f"text_{code}" for code in LANGUAGE_FIELDS),
)
HIGHLIGHT_TEXT_FIELDS = ("text", *(f"text_{code}" for code in LANGUAGE_FIELDS))
HIGHLIGHT_TITLE_FIELDS = ("title", *(f"title_{code}" for code in LANGUAGE_FIELDS))
MAX_QUERY_CHARS = 4_000
MAX_LIMIT = 1_000
MAX_FACET_SIZE = 100
SEARCH_TIMEOUT = "20s"  # server side: a slow query returns what it found so far
FACET_FIELDS = {  # friendly name -> field
    "topics": "topics", "topic": "topics", "source": "source", "language": "language", "lang": "language",
    "keywords": "keywords", "entity": "entities.person", "person": "entities.person",
    "organization": "entities.organization", "place": "entities.place", "country": "country", "story": "story_id",
}
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class NoArticles(Exception):
    """The articles index does not exist yet."""


class QueryError(ValueError):
    """A query or filter Elasticsearch cannot run; the text says why (for a
    syntax error: where)."""


@dataclass(frozen=True)
class SearchHit:
    id: str
    index: str
    title: str
    url: str
    source: str
    language: str | None
    topics: list[str]
    published_at: str | None
    highlights: list[str]  # title fragments first, then text fragments

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SearchResult:
    total: int
    total_is_lower_bound: bool
    hits: list[SearchHit]
    took_ms: int
    timed_out: bool = False
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total, "total_is_lower_bound": self.total_is_lower_bound, "took_ms": self.took_ms,
            "timed_out": self.timed_out, "hits": [h.to_json() for h in self.hits],
            "facets": {k: [[key, n] for key, n in v] for k, v in self.facets.items()},
        }


# ---------------------------------------------------------------- pure parts

def parse_when(value: str | datetime, *, now: datetime | None = None) -> datetime:
    """``7d`` / ``12h`` / ``30m`` / ``2w`` / ``90s`` ago, or an ISO date or
    date-time (UTC when no offset is given)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    match = _DURATION.match(value)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"not a time: {value!r} (use e.g. 7d, 12h, 30m, 2w, 2026-01-31 or 2026-01-31T08:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def build_query(
    query: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    topic: str | Sequence[str] | None = None,
    lang: str | Sequence[str] | None = None,
    source: str | Sequence[str] | None = None,
) -> dict[str, Any]:
    """The bool query: the query string scores, the filters only filter."""
    query = (query or "").strip()
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}")
    if since and until and since > until:
        raise QueryError(f"--since ({since.isoformat()}) is after --until ({until.isoformat()})")
    must: list[dict[str, Any]] = []
    if query and query != "*":
        must.append({"query_string": {
            "query": query,
            "fields": list(SEARCH_FIELDS),
            "default_operator": "OR",
            "allow_leading_wildcard": False,  # `*foo` scans every term: refuse it
            "lenient": False,  # `published_at:foo` is an error, not a silent miss
        }})
    filters: list[dict[str, Any]] = []
    if since or until:
        bounds = {}
        if since:
            bounds["gte"] = since.isoformat()
        if until:
            bounds["lte"] = until.isoformat()
        filters.append({"range": {"published_at": bounds}})
    for field_name, values in (("topics", topic), ("language", lang), ("source", _sources(source))):
        values = _as_list(values)
        if values:
            filters.append({"terms": {field_name: values}})
    return {"bool": {"must": must or [{"match_all": {}}], "filter": filters}}


def build_request(query: str, *, limit: int = 20, facets: Iterable[str] = (), facet_size: int = 10,
                  highlight_tags: tuple[str, str] = ("<em>", "</em>"), **filters: Any) -> dict[str, Any]:
    """Keyword arguments of ``Elasticsearch.search`` (pure)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    pre, post = highlight_tags
    highlight_fields: dict[str, Any] = {f: {"number_of_fragments": 0} for f in HIGHLIGHT_TITLE_FIELDS}
    highlight_fields.update({f: {"number_of_fragments": 3, "fragment_size": 160} for f in HIGHLIGHT_TEXT_FIELDS})
    request: dict[str, Any] = {
        "query": build_query(query, **filters),
        "size": limit,
        "sort": [{"published_at": {"order": "desc"}}, "_score"],
        "track_total_hits": 10_000,
        "timeout": SEARCH_TIMEOUT,
        "source_includes": ["id", "title", "url", "source", "language", "topics", "published_at"],
        "highlight": {"pre_tags": [pre], "post_tags": [post], "fields": highlight_fields},
    }
    aggs = _facet_aggs(facets, facet_size)
    if aggs:
        request["aggs"] = aggs
    return request


def _facet_aggs(facets: Iterable[str], size: int) -> dict[str, Any]:
    aggs = {}
    for name in facets:
        if name not in FACET_FIELDS:
            raise QueryError(f"unknown facet {name!r}; known: {', '.join(sorted(FACET_FIELDS))}")
        aggs[name] = {"terms": {"field": FACET_FIELDS[name], "size": max(1, min(size, MAX_FACET_SIZE))}}
    return aggs


def _as_list(values: str | Sequence[str] | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [v.strip() for v in values if v and v.strip()]


def _sources(values: str | Sequence[str] | None) -> list[str]:
    """``www.bbc.co.uk`` and ``bbc.co.uk`` name the same source (see indexer)."""
    out = []
    for value in _as_list(values):
        value = value.lower()
        out.append(value[4:] if value.startswith("www.") else value)
    return out


def parse_response(resp: dict[str, Any]) -> SearchResult:
    hits = [_hit(h) for h in resp["hits"]["hits"]]
    total = resp["hits"].get("total") or {"value": len(hits), "relation": "eq"}
    facets = {name: [(str(b["key"]), int(b["doc_count"])) for b in agg.get("buckets", [])]
              for name, agg in (resp.get("aggregations") or {}).items()}
    return SearchResult(total=int(total["value"]), total_is_lower_bound=total.get("relation") == "gte",
                        hits=hits, took_ms=int(resp.get("took", 0)), timed_out=bool(resp.get("timed_out")),
                        facets=facets)


def _hit(raw: dict[str, Any]) -> SearchHit:
    src = raw.get("_source") or {}
    highlight = raw.get("highlight") or {}
    fragments: list[str] = []
    for name in (*HIGHLIGHT_TITLE_FIELDS, *HIGHLIGHT_TEXT_FIELDS):
        for fragment in highlight.get(name, []):
            if fragment not in fragments:  # title and title_en highlight the same words
                fragments.append(fragment)
    return SearchHit(id=raw["_id"], index=raw.get("_index", ""), title=src.get("title", ""), url=src.get("url", ""),
                     source=src.get("source", ""), language=src.get("language"), topics=list(src.get("topics") or []),
                     published_at=src.get("published_at"), highlights=fragments)


# ---------------------------------------------------------------- I/O

def search(
    es: Elasticsearch,
    indices: Indices,
    query: str,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    topic: str | Sequence[str] | None = None,
    lang: str | Sequence[str] | None = None,
    source: str | Sequence[str] | None = None,
    limit: int = 20,
    facets: Iterable[str] = (),
    highlight_tags: tuple[str, str] = ("<em>", "</em>"),
) -> SearchResult:
    """Newest first. Raises QueryError for a query or filter ES refuses (400)
    and ESUnavailable when it cannot be asked."""
    request = build_request(
        query, limit=limit, facets=facets, highlight_tags=highlight_tags,
        since=parse_when(since) if since else None, until=parse_when(until) if until else None,
        topic=topic, lang=lang, source=source,
    )
    try:
        resp = es.search(index=indices.articles, ignore_unavailable=True, allow_no_indices=True, **request)
    except ApiError as exc:
        if exc.status_code == 400:
            raise QueryError(describe_error(exc)) from None
        raise ESUnavailable(f"search failed: {describe_error(exc)}") from None
    except TransportError as exc:
        raise ESUnavailable(f"Elasticsearch cannot be reached: {describe_error(exc)}") from None
    if resp.get("_shards", {}).get("total", 1) == 0:
        # Without a shard, Elasticsearch does not even parse the query: say why nothing was found.
        raise NoArticles(f"no articles index yet ({indices.articles}): start a worker or run `wirewatch es setup`")
    return parse_response(dict(resp))
