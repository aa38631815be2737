"""Matching enriched articles against every active subscription: "reverse
percolation" on Elasticsearch itself.

The promise of alerts is that a subscription catches exactly what the same
query finds in a search. Elasticsearch's percolator would keep it, but the
node we run (the 8.19 integ-test distribution, the only ES 8 server on Maven
Central) has no percolator module. So we turn the problem around and let the
same query engine, analysers and mapping do the matching:

1. the articles' term vectors come from ``mtermvectors`` on the scratch index
   (``<indices.scratch>-<mapping hash>-<generation>``, same mapping as the articles, one
   shard, no replica, no periodic refresh): as artificial documents, analysed
   with the index's mapping without being indexed; or, for a part larger than
   ``ARTIFICIAL_MAX_BATCH`` when most documents of recent parts were left to
   Elasticsearch by step 3 (``SearchedShare``), bulk-indexed first (term
   vectors stored) under ids unique to this batch, and refreshed. Only the
   fields a query or filter can read are sent (``scratch_document``);
2. per-article pre-selection (``Preselector``, the percolator's
   query-extraction trick): every subscription has "anchor" terms, one of
   which any matching document must hold (from its syntax tree and each
   field's analyser via ``_analyze``, cached); an inverted index of the
   anchors of all active subscriptions (``AnchorIndex``, built once per set of
   subscriptions) meets each article's terms and gives the candidate
   (subscription, article) pairs. Only a necessary condition, so exact; a
   query without anchors stays a candidate everywhere;
3. what Python can say exactly is decided here (``term_predicate``,
   ``filter_predicate``): words that give one term per field, trailing
   wildcards (lower-cased ASCII stems, on lower-casing fields), words and
   phrases on the keyword fields (topic, lang, source, entity) and the
   subscription filters, from the term vectors and the article's keyword
   values normalised like the mapping (``keyword_facts``; non-ASCII values of
   lower-cased fields are left to Elasticsearch), with AND/NOT/+ and two-way
   OR. Phrases are ruled out where no field holds all their terms (most
   candidates: one term anchored them), and left to step 4 otherwise; with
   ``decide_phrases`` they are decided from term positions (off by default:
   parsing positions costs this process more than Elasticsearch spends on
   the phrase pairs). Batches whose pairs are all decided never touch the
   scratch index; otherwise the documents with pairs left are indexed
   (refreshed) for step 4;
4. the other candidates go to Elasticsearch: each subscription once per
   batch, as one filter of a ``filters`` aggregation
   (``{"bool": {"must": query_string(sub.query), "filter": [sub filters, ids of
   its candidate articles]}}``) whose buckets list the matching articles
   (``filters_search_body``); chunks of ``chunk_size`` subscriptions, in a few
   msearch requests. (Named queries said the same, but Elasticsearch finds
   ``matched_queries`` in its fetch phase by rebuilding every named clause
   for every hit: hits x subscriptions. bench/alerts.py measured it.)
5. nothing is deleted: the scratch copies stay, invisible to later batches (every
   search and term-vector request names its documents), until the matcher moves
   to a new scratch index (a "generation", ``ScratchGeneration``) and drops the
   old one whole. Deleting each batch's copies cost Elasticsearch more than
   indexing them: soft-deleted documents are kept for its history retention and
   merges rewrote them, term vectors included, again and again;
6. each matched (subscription, article) gets highlights computed in Python
   from the subscription's own positive words, phrases and prefixes
   (``highlight_terms``), accent- and case-folded, tolerant of plural and
   -ed/-ing endings. An Elasticsearch highlight would mix every
   subscription's terms, and one highlight search per matched subscription
   cost 1.2 ms per alert: highlights explain, they do not decide, so an
   approximation is the right trade.

A batch goes through these steps in parts of ``PART_SIZE`` articles, two at
a time (``Matcher.match``): Elasticsearch runs in its own process, so while
it indexes and searches one part, this process plans and builds the alerts
of the other.

Only the default fields some document of the batch has are searched
(``searched_fields``): the per-language copies of absent languages cannot
match, and every field multiplies the query's cost.

Subscriptions whose filters (language, source, topic, country) no article of
the batch can satisfy are dropped in Python first: the facts come from the
same fields the filters read, so this is exact. A search that Elasticsearch
refuses (a query the server cannot parse) is retried as named-query searches
split in halves until the bad subscription is alone; it is logged and
skipped, never stopping the others. The equivalence with a plain search is
tested in tests/integration/alerts/test_percolation_equivalence.py.

Alert id = ``alert_id(subscription id, story id)``: one alert per story per
subscription. ``unseen_alerts`` is the pure dedup step the Faust agent applies
with its table of ids already emitted.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import functools
import hashlib
import html
import json
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Container, Iterable, Protocol
from urllib.parse import quote

import structlog
from elasticsearch import ApiError

from processors.es.templates import PLUGIN_ANALYZERS, render
from processors.indexer import to_document
from processors.query_validation import DEFAULT_FIELDS, QueryRejected, parse, query_string_clause
from wirewatch.names import Indices
from wirewatch.schema import Alert, Article, Subscription, alert_id, utcnow

log = structlog.get_logger(__name__)

CHUNK_SIZE = 500          # subscriptions per search
MIN_CHUNK_SIZE = 25
# A batch is matched in overlapping parts (Matcher.match). bench alerts, 500-article
# batches: parts of 250 beat 125 (each part's refresh and requests cost Elasticsearch
# more) and 500 (no overlap).
PART_SIZE = 250           # articles per part
CONCURRENT_PARTS = 2      # parts in flight: Elasticsearch works on one while Python decides another
CONCURRENT_SEARCHES = 2   # the node has few search threads; more only queues
ARTIFICIAL_MAX_BATCH = 50 # up to this many articles, term vectors without indexing (Matcher._match_batch)
# A larger part is indexed first when more than this share of the documents of recent
# parts still had pairs for Elasticsearch after the decisions made here (see SearchedShare).
INDEX_FIRST_SHARE = 0.5
MAX_CLAUSES_PER_REQUEST = 4000  # subscription clauses per msearch request
# A matcher moves to a new scratch index after this many documents or seconds (at
# the start of a batch, when none of its batches is in flight) and drops the old
# one whole. Generations of workers gone for a day are dropped by the next matcher.
SCRATCH_GENERATION_DOCS = 5_000
SCRATCH_GENERATION_AGE_S = 3_600
SCRATCH_STALE_AGE_S = 86_400
CLAUSE_IDS = True         # each clause limited to its candidate articles
MAX_HIGHLIGHTS = 5
MAX_MATCHED_TERMS = 20

# Subscription filter -> fields of the article document it reads. A filter
# matches when any of its fields holds one of the values. The fields with a
# lowercase normalizer in the template compare case-insensitively.
FILTER_FIELDS: dict[str, list[str]] = {
    "languages": ["language"],
    "sources": ["source", "domain"],
    "topics": ["topics"],
    "countries": ["source_country"],
}
LOWERCASED_FIELDS = frozenset({"language", "source", "domain", "source_country"})

# Highlights come from the title and text as written (their folding analyser
# finds the query's words); the stemmed per-language copies would repeat the
# same fragments at several times the cost.
HIGHLIGHT = {
    "encoder": "html",   # article text is escaped; only our <em> tags are markup
    "pre_tags": ["<em>"],
    "post_tags": ["</em>"],
    "require_field_match": False,
    "fields": {
        "title": {"number_of_fragments": 0},
        "text": {"fragment_size": 160, "number_of_fragments": 3},
    },
}
ALWAYS_SEARCHED = ("title", "text")


async def plugin_analyzers_available(es) -> bool:
    """Async twin of processors.es.templates.plugin_analyzers_available."""
    for analyzer in PLUGIN_ANALYZERS:
        try:
            await es.indices.analyze(analyzer=analyzer, text="wirewatch")
        except ApiError as exc:
            if exc.meta.status != 400:
                raise
            return False
    return True


def scratch_index_body(indices: Indices, analyzers_available: bool) -> dict[str, Any]:
    """Settings and mappings of the scratch index: those the articles template
    gives (same analysers, same field types), on one shard with no replica and
    no periodic refresh (the matcher refreshes when it needs to)."""
    rendered = render(indices, analyzers_available)
    settings: dict[str, Any] = {}
    mappings: dict[str, Any] = {}
    for component in rendered.components.values():
        template = component["template"]
        _deep_merge(settings, template.get("settings", {}))
        _deep_merge(mappings, template.get("mappings", {}))
    index_settings = settings.setdefault("index", {})
    index_settings.pop("auto_expand_replicas", None)
    index_settings.update(SCRATCH_INDEX_SETTINGS)
    return {"settings": settings, "mappings": with_term_vectors(mappings)}


def scratch_body_from(template: dict[str, Any]) -> dict[str, Any]:
    """A simulated index template's settings and mappings, made scratch-like."""
    settings = copy.deepcopy(template.get("settings", {}))
    index_settings = settings.setdefault("index", {})
    for key in ("auto_expand_replicas", "routing", "lifecycle", "uuid", "creation_date", "provided_name", "version"):
        index_settings.pop(key, None)
    index_settings.update(SCRATCH_INDEX_SETTINGS)
    return {"settings": settings, "mappings": with_term_vectors(copy.deepcopy(template["mappings"]))}


# One shard, no replica, no periodic refresh (the matcher refreshes when it needs
# to). The translog is not synced per request: a scratch copy lives for one batch,
# and a lost one is indexed again with its batch. (Per-request attribution of
# Elasticsearch's CPU: 3.2 s with this and no _source against 4.0-5.4 s per 2,000
# articles; within the noise of `bench alerts`.)
SCRATCH_INDEX_SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1",
                          "translog": {"durability": "async"}}


def with_term_vectors(mappings: dict[str, Any]) -> dict[str, Any]:
    """Store term vectors of the searched text fields in the scratch index:
    the pre-selection reads them back instead of having every document
    re-analysed by ``mtermvectors``. Term vectors change no match."""
    properties = mappings.get("properties", {})
    for name in {_bare(f) for f in DEFAULT_FIELDS}:
        spec = properties.get(name)
        if isinstance(spec, dict) and spec.get("type") == "text" and spec.get("index", True):
            spec["term_vector"] = "yes"
    # The scratch copy's own id as a keyword: the searches read matches from
    # a terms aggregation on it (``_id`` is not aggregatable).
    properties[SCRATCH_ID] = {"type": "keyword"}
    # Nothing reads a scratch copy back (term vectors are stored, matches come
    # from aggregations, highlights are made here): no _source to compress and
    # store for every article.
    mappings["_source"] = {"enabled": False}
    return mappings


def _deep_merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def article_document(article: Article) -> dict[str, Any]:
    """The document of the articles index (processors/indexer.py): the scratch
    copy must be the same for the same query to find the same thing."""
    return to_document(article)


# The fields a subscription can reach: the default query fields, the user
# fields (query_validation.FIELDS; ``topic`` and ``lang`` are aliases of
# ``topics`` and ``language``) and the filters' fields. The scratch copy holds
# only these: the rest (summary, keywords, urls, dates...) no query reads, and
# leaving them out makes the bulk cheaper.
SCRATCH_FIELDS = frozenset(
    {_f.split("^", 1)[0] for _f in DEFAULT_FIELDS}
    | {"title", "text", "source", "topics", "language", "entity"}
    | {name for fields in FILTER_FIELDS.values() for name in fields}
)


SCRATCH_ID = "wirewatch_scratch_id"


def scratch_document(document: dict[str, Any], doc_id: str) -> dict[str, Any]:
    """The part of an article document that subscriptions can match on."""
    out = {name: value for name, value in document.items() if name in SCRATCH_FIELDS}
    out[SCRATCH_ID] = doc_id
    return out


class SubscriptionSource(Protocol):
    async def active(self) -> list[Subscription]: ...


# --- pure parts ---------------------------------------------------------------------

@dataclass(frozen=True)
class BatchFacts:
    """Filter values present in a batch: a subscription whose filters none of
    them satisfy cannot match any article of the batch."""
    values: dict[str, frozenset[str]]


def batch_facts(documents: Iterable[dict[str, Any]]) -> BatchFacts:
    seen: dict[str, set[str]] = {name: set() for name in FILTER_FIELDS}
    for document in documents:
        for name, fields in FILTER_FIELDS.items():
            for field_name in fields:
                seen[name].update(_field_values(document, field_name))
    return BatchFacts({name: frozenset(values) for name, values in seen.items()})


def _field_values(document: dict[str, Any], field_name: str) -> set[str]:
    value = document.get(field_name)
    values = value if isinstance(value, list) else [value]
    return {_normalise(field_name, v) for v in values if isinstance(v, str) and v}


def _normalise(field_name: str, value: str) -> str:
    return value.lower() if field_name in LOWERCASED_FIELDS else value


def may_match(sub: Subscription, facts: BatchFacts) -> bool:
    """False when no article of the batch can pass the subscription's filters."""
    for name, fields in FILTER_FIELDS.items():
        wanted = getattr(sub.filters, name)
        if not wanted:
            continue
        normalised = {_normalise(f, v) for f in fields for v in wanted}
        if not facts.values[name].intersection(normalised):
            return False
    return True


def filter_clauses(sub: Subscription) -> list[dict[str, Any]]:
    """One clause per non-empty filter; the values of one filter are ORed."""
    clauses = []
    for name, fields in FILTER_FIELDS.items():
        values = list(getattr(sub.filters, name))
        if not values:
            continue
        if len(fields) == 1:
            clauses.append({"terms": {fields[0]: values}})
        else:
            clauses.append({"bool": {"should": [{"terms": {f: values}} for f in fields], "minimum_should_match": 1}})
    return clauses


def subscription_query(sub: Subscription, fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The query a search for ``sub`` runs: its query string AND its filters.
    `subs test` and the equivalence tests use it too (all fields)."""
    return {"bool": {"must": [_cached_clause(sub.query, fields)], "filter": filter_clauses(sub)}}


@functools.lru_cache(maxsize=65_536)
def _cached_clause(query: str, fields: tuple[str, ...] | None) -> dict[str, Any]:
    """Parsed once per distinct query, not once per batch (10,000 subscriptions
    would cost a third of a second of parsing each time). Never mutated."""
    return query_string_clause(query, fields)


def searched_fields(documents: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    """The default query fields some document of the batch has (title, text and
    the batch's languages' copies): a field no scratch document has matches
    nothing, so leaving it out changes no result and saves query time."""
    present = set(ALWAYS_SEARCHED)
    for document in documents:
        present.update(name for name, value in document.items() if value)
    return tuple(f for f in DEFAULT_FIELDS if _bare(f) in present)


def _bare(field_name: str) -> str:
    return field_name.split("^", 1)[0]


@functools.lru_cache(maxsize=65_536)
def parsed_tree(query: str):
    """The syntax tree of a valid query (cached; never mutated after parsing)."""
    return parse(query).root


@functools.lru_cache(maxsize=65_536)
def query_problem(query: str) -> str | None:
    """Why a stored query no longer validates, or None (cached like above)."""
    try:
        parse(query)
    except QueryRejected as exc:
        return str(exc)
    return None


def chunk_search_body(subs: list[Subscription], doc_ids: list[str], fields: tuple[str, ...] | None = None,
                      candidates: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """One search: a named clause per subscription, over the documents
    ``doc_ids``. With ``candidates`` (subscription id -> doc ids), each clause
    also gets its own ids filter, so that Elasticsearch evaluates it only on
    the articles pre-selection left it (a clause on more articles finds the
    same matches there: the ids filter only saves work)."""
    should = []
    for sub in subs:
        clause = subscription_query(sub, fields)
        if candidates is not None:
            clause["bool"]["filter"].append({"ids": {"values": candidates[sub.id]}})
        clause["bool"]["_name"] = sub.id
        should.append(clause)
    return {
        "query": {"bool": {"filter": [{"ids": {"values": doc_ids}}], "should": should, "minimum_should_match": 1}},
        "size": len(doc_ids),
        "_source": False,
        "track_total_hits": False,
    }


def filters_search_body(subs: list[Subscription], doc_ids: list[str], fields: tuple[str, ...] | None = None,
                        candidates: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """One search: a ``filters`` aggregation with one filter per subscription
    (its query and filters), each bucket listing its documents. Named queries
    would say the same, but Elasticsearch finds them in its fetch phase by
    building every named clause again for every hit (hits x subscriptions);
    an aggregation evaluates each filter once. With ``candidates``
    (subscription id -> doc ids), each filter also gets its own ids filter."""
    filters = {}
    for sub in subs:
        clause = subscription_query(sub, fields)
        if candidates is not None:
            clause["bool"]["filter"].append({"ids": {"values": candidates[sub.id]}})
        filters[sub.id] = clause
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"ids": {"values": doc_ids}},
        "aggs": {"subs": {
            "filters": {"filters": filters},
            "aggs": {"docs": {"terms": {"field": SCRATCH_ID, "size": max(1, len(doc_ids))}}},
        }},
    }


def matches_from_aggregation(response: dict[str, Any]) -> dict[str, set[str]]:
    """doc id -> ids of the subscriptions whose filter bucket holds it."""
    out: dict[str, set[str]] = {}
    buckets = response.get("aggregations", {}).get("subs", {}).get("buckets", {})
    for sub_id, bucket in buckets.items():
        if not bucket.get("doc_count"):
            continue
        docs = bucket.get("docs", {})
        if docs.get("sum_other_doc_count"):  # cannot happen (size = all documents); never lose a match silently
            raise RuntimeError(f"scratch search listed only part of the matches of {sub_id}")
        for doc in docs.get("buckets", []):
            out.setdefault(doc["key"], set()).add(sub_id)
    return out


def matches_from_response(response: dict[str, Any]) -> dict[str, set[str]]:
    """doc id -> names (subscription ids) of the clauses that matched it."""
    out: dict[str, set[str]] = {}
    for hit in response.get("hits", {}).get("hits", []):
        names = hit.get("matched_queries") or []
        if isinstance(names, dict):  # include_named_queries_score form
            names = list(names)
        if names:
            out.setdefault(hit["_id"], set()).update(names)
    return out


def candidate_searches(pairs: dict[str, set[str]], subs: list[Subscription], chunk_size: int,
                       positions: dict[str, int] | None = None,
                       ) -> list[tuple[list[Subscription], list[str], dict[str, list[str]]]]:
    """(subscriptions, doc ids, subscription id -> its candidate doc ids) per
    search: each candidate subscription appears in exactly one search (its
    query is parsed once per batch, Elasticsearch's main cost), restricted to
    its candidate articles."""
    docs_of: dict[str, list[str]] = {}
    for doc_id, ids in pairs.items():
        for sub_id in ids:
            docs_of.setdefault(sub_id, []).append(doc_id)
    if positions is not None:  # subs[positions[id]] is that subscription: no scan of all of them
        chosen = [subs[i] for i in sorted(positions[sub_id] for sub_id in docs_of if sub_id in positions)]
    else:
        chosen = [s for s in subs if s.id in docs_of]
    searches = []
    for chunk in _chunks(chosen, chunk_size):
        candidates = {s.id: docs_of[s.id] for s in chunk}
        doc_ids = sorted(set().union(*candidates.values()))
        searches.append((chunk, doc_ids, candidates))
    return searches


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _msearch_requests(searches: list[tuple], max_clauses: int) -> list[list]:
    """Searches packed into msearch requests of about ``max_clauses`` named clauses."""
    requests: list[list] = []
    current: list = []
    clauses = 0
    for search in searches:
        if current and clauses + len(search[0]) > max_clauses:
            requests.append(current)
            current, clauses = [], 0
        current.append(search)
        clauses += len(search[0])
    if current:
        requests.append(current)
    return requests


_EM = re.compile(r"<em>(.*?)</em>", re.S)


def highlight_lines(highlight: dict[str, list[str]]) -> list[str]:
    """Fragments in reading order (title first), without the copies the
    per-language fields give of the same text, bounded."""
    lines: list[str] = []
    for name in HIGHLIGHT["fields"]:
        for fragment in highlight.get(name, []):
            if fragment not in lines:
                lines.append(fragment)
    return lines[:MAX_HIGHLIGHTS]


def matched_terms(highlight: dict[str, list[str]]) -> list[str]:
    terms: list[str] = []
    for fragments in highlight.values():
        for fragment in fragments:
            for marked in _EM.findall(fragment):
                term = html.unescape(marked).lower()
                if term not in terms:
                    terms.append(term)
    return terms[:MAX_MATCHED_TERMS]


def discover_url(kibana_url: str, article: Article) -> str:
    """Kibana Discover filtered on the article's id, around its publication time."""
    start = (article.published_at - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    end = (article.published_at + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    g = f"(time:(from:'{start}',to:'{end}'))"
    a = f"(query:(language:kuery,query:'_id:\"{_rison_safe(article.id)}\"'))"
    return f"{kibana_url.rstrip('/')}/app/discover#/?_g={quote(g, safe=':,()')}&_a={quote(a, safe=':,()')}"


def _rison_safe(text: str) -> str:
    return text.replace("!", "!!").replace("'", "!'").replace('"', '\\"')


def story_of(article: Article) -> str:
    return (article.enrichment.story_id if article.enrichment and article.enrichment.story_id else None) or article.id


@dataclass(frozen=True)
class AlertParts:
    """What every alert of one article carries, computed once per article:
    ``template`` is an alert of the article whose subscription fields each
    alert replaces (a copy with an update costs half a ``model_construct``)."""
    story: str
    topics: tuple[str, ...]
    entities: tuple[str, ...]
    template: Alert

    @classmethod
    def of(cls, article: Article, kibana_url: str) -> "AlertParts":
        enrichment = article.enrichment
        story = story_of(article)
        topics = tuple(t.name for t in enrichment.topics) if enrichment else ()
        entities = tuple(e.text for e in enrichment.entities) if enrichment else ()
        # Every value is already typed (our Article and Subscription): skip
        # re-validation, a third of the matcher's Python time with many alerts.
        # Every field is given: pydantic inspects a default factory's signature
        # on each call (a tenth of this process's time when highlights were left out).
        template = Alert.model_construct(
            id="", subscription_id="", subscription_name="", owner="", query="", highlights=[], matched_terms=[],
            article_id=article.id,
            story_id=story,
            title=article.title,
            url=article.url,
            source=article.source.feed_name or article.source.feed_title or article.source.domain,
            published_at=article.published_at,
            topics=[],
            entities=[],
            kibana_url=discover_url(kibana_url, article),
            matched_at=utcnow(),  # the article's alerts are all matched together
            produced_at=article.produced_at,
        )
        return cls(story, topics, entities, template)


def build_alert(sub: Subscription, article: Article, highlight: dict[str, list[str]], kibana_url: str,
                parts: AlertParts | None = None) -> Alert:
    parts = parts or AlertParts.of(article, kibana_url)
    return parts.template.model_copy(update={
        "id": alert_id(sub.id, parts.story),
        "subscription_id": sub.id,
        "subscription_name": sub.name,
        "owner": sub.owner,
        "query": sub.query,
        "highlights": highlight_lines(highlight),
        "matched_terms": matched_terms(highlight),
        "topics": list(parts.topics),      # a list of its own per alert, as validation would give
        "entities": list(parts.entities),
    })


def unseen_alerts(alerts: Iterable[Alert], seen: Container[str]) -> list[Alert]:
    """The alerts to emit: those whose id is not in ``seen`` (the agent's table
    of ids already emitted), each id once (the first copy of a story wins)."""
    out: list[Alert] = []
    emitted: set[str] = set()
    for alert in alerts:
        if alert.id in seen or alert.id in emitted:
            continue
        emitted.add(alert.id)
        out.append(alert)
    return out


def valid_subscriptions(subs: Iterable[Subscription]) -> list[Subscription]:
    """Drop (and log) stored subscriptions whose query no longer validates, e.g.
    saved before a rule was tightened: one bad row must not fail the batch."""
    good = []
    for sub in subs:
        problem = query_problem(sub.query)
        if problem is not None:
            log.warning("matcher.invalid_subscription", subscription_id=sub.id, error=problem)
            continue
        good.append(sub)
    return good


# --- highlights (pure) ----------------------------------------------------------------

_TOKEN = re.compile(r"\w+(?:['’]\w+)?")
_SUFFIXES = ("'s", "’s", "ing", "ed", "es", "s")
FRAGMENT_BEFORE = 60
FRAGMENT_AFTER = 100
MAX_TEXT_FRAGMENTS = 3
MAX_SCANNED_CHARS = 200_000


@functools.lru_cache(maxsize=200_000)
def fold(text: str) -> str:
    """Case- and accent-insensitive form (what the ww_folding analyser does)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@functools.lru_cache(maxsize=200_000)
def stem_key(word: str) -> str:
    """A crude common root: 'soldiers', 'soldier' -> 'soldier'. Only for
    highlighting; matching is Elasticsearch's."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


@dataclass(frozen=True)
class HighlightTerms:
    keys: frozenset[str]          # stem keys of whole words
    prefixes: tuple[str, ...]     # folded trailing-wildcard stems

    @functools.cached_property
    def look_ups(self) -> tuple[tuple[str, bool], ...]:
        """(term, is a prefix) of each look-up ``TokenIndex.hits`` makes."""
        return tuple((key, False) for key in sorted(self.keys)) + tuple((prefix, True) for prefix in self.prefixes)


@functools.lru_cache(maxsize=65_536)
def highlight_terms(query: str) -> HighlightTerms:
    """The positive words of a query that can appear in title or text."""
    keys: set[str] = set()
    prefixes: list[str] = []
    try:
        root = parse(query).root
    except QueryRejected:
        return HighlightTerms(frozenset(), ())
    _collect_terms(root, keys, prefixes)
    return HighlightTerms(frozenset(keys), tuple(prefixes))


def _collect_terms(group, keys: set[str], prefixes: list[str]) -> None:
    from processors.query_validation import Group, Phrase, Word

    for modifier, clause in group.clauses:
        if modifier == "NOT":
            continue
        if isinstance(clause, Group):
            _collect_terms(clause, keys, prefixes)
        elif getattr(clause, "field", None) not in (None, "title", "text"):
            continue
        elif isinstance(clause, Word) and clause.prefix:
            prefixes.append(fold(clause.text))
        elif isinstance(clause, (Word, Phrase)):
            keys.update(stem_key(fold(t)) for t in _TOKEN.findall(clause.text))



@dataclass
class TokenIndex:
    """One field's text, ready for its alerts' look-ups of where a word or a
    prefix stands as a whole token. Text whose words are their own folded form
    once lower-cased (ASCII text, or non-ASCII only outside words: £, quotes,
    dashes) is searched per look-up with ``str.find``, in C: an article has
    hundreds of tokens and its alerts look up a few, so tokenising the whole
    text cost more than the look-ups. Other text is tokenised and folded once."""
    lowered: str | None                      # the text lower-cased and folded letter by letter (same offsets), when that is its folded form
    spans: dict[str, list[tuple[int, int]]]  # otherwise: folded form -> (start, end) of each of its tokens
    _found: dict[tuple[str, bool], list[tuple[int, int, str]]] = field(default_factory=dict)  # look-ups made
    _ordered: list[str] | None = None

    @classmethod
    def of(cls, text: str) -> "TokenIndex":
        lowered = text.lower()
        if text.isascii():
            return cls(lowered, {})
        if len(lowered) == len(text):
            # Accented Latin ("José", "Bogotá"): each such letter folds to one letter, so the
            # text folded letter by letter keeps its offsets and str.find serves it too.
            folds = {c: fold(c) for c in set(lowered) if c > "\x7f" and c.isalnum()}  # its word characters beyond ASCII
            if all(len(folded) == 1 for folded in folds.values()):
                for c, folded in folds.items():
                    if folded != c:
                        lowered = lowered.replace(c, folded)  # a few letters: a C scan each (translate: a lookup per character)
                return cls(lowered, {})
        return cls.tokenised(text)

    @classmethod
    def tokenised(cls, text: str) -> "TokenIndex":
        """The index of every token's folded form (text that folding does not keep aligned)."""
        spans: dict[str, list[tuple[int, int]]] = {}
        for m in _TOKEN.finditer(text):
            spans.setdefault(fold(m.group()), []).append((m.start(), m.end()))
        return cls(None, spans)

    def hits(self, terms: HighlightTerms) -> list[tuple[int, int, str]]:
        """Tokens matching the terms, in text order: a stem key's forms are the
        key plus one suffix (checked with stem_key itself), a prefix's the
        tokens starting with it."""
        found = [hits for hits in map(self._look_up, terms.look_ups) if hits]
        if len(found) < 2:  # most often: the one word that made the subscription match, or none
            return list(found[0]) if found else []
        by_start = {hit[0]: hit for hits in found for hit in hits}
        return [by_start[start] for start in sorted(by_start)]

    def _look_up(self, look_up: tuple[str, bool]) -> list[tuple[int, int, str]]:
        """Hits of one term in text order, found once per text."""
        hits = self._found.get(look_up)
        if hits is None:
            hits = self._find(*look_up) if self.lowered is not None else sorted(self._find_in_spans(*look_up))
            self._found[look_up] = hits
        return hits

    def _find(self, term: str, prefix: bool) -> list[tuple[int, int, str]]:
        text = self.lowered or ""
        out = []
        at = text.find(term) if term else -1
        while at != -1:
            if _starts_token(text, at):
                end = _TOKEN.match(text, at).end()
                form = text[at:end]
                if _ends_token(text, end) and (form.startswith(term) if prefix else stem_key(form) == term):
                    out.append((at, end, form))
            at = text.find(term, at + 1)
        return out

    def _find_in_spans(self, term: str, prefix: bool) -> list[tuple[int, int, str]]:
        if prefix:
            ordered = self._sorted_forms()
            at = bisect.bisect_left(ordered, term)
            forms = []
            while at < len(ordered) and ordered[at].startswith(term):
                forms.append(ordered[at])
                at += 1
        else:
            forms = [form for form in (term, *(term + suffix for suffix in _SUFFIXES))
                     if form in self.spans and stem_key(form) == term]
        return [(start, end, form) for form in forms for start, end in self.spans[form]]

    def _sorted_forms(self) -> list[str]:
        if self._ordered is None:
            self._ordered = sorted(self.spans)
        return self._ordered


_APOSTROPHES = "'’"


def _wordish(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _starts_token(text: str, at: int) -> bool:
    """No word (nor a word and an apostrophe) right before ``at``."""
    return not (at > 0 and (_wordish(text[at - 1]) or (
        text[at - 1] in _APOSTROPHES and at > 1 and _wordish(text[at - 2]))))


def _ends_token(text: str, end: int) -> bool:
    """No word (nor an apostrophe and a word) right from ``end``."""
    return not (end < len(text) and (_wordish(text[end]) or (
        text[end] in _APOSTROPHES and end + 1 < len(text) and _wordish(text[end + 1]))))


@dataclass
class ArticleTexts:
    """An article's title and text, tokenised once for all its alerts."""
    title: str
    text: str
    title_index: TokenIndex
    text_index: TokenIndex
    title_escape: Callable[[str], str]   # ``escaping`` of each
    text_escape: Callable[[str], str]

    @classmethod
    def of(cls, article: Article) -> "ArticleTexts":
        text = (article.text or article.summary)[:MAX_SCANNED_CHARS]
        return cls(article.title, text, TokenIndex.of(article.title), TokenIndex.of(text),
                   escaping(article.title), escaping(text))

    def highlight(self, terms: HighlightTerms) -> dict[str, list[str]]:
        """ES-like highlight: {"title": [...], "text": [...]}, html-escaped, hits in <em>."""
        out: dict[str, list[str]] = {}
        title_hits = self.title_index.hits(terms)
        if title_hits:
            out["title"] = [_mark(self.title, 0, len(self.title), title_hits, self.title_escape)]
        text_hits = self.text_index.hits(terms)
        fragments = []
        covered_to = -1
        for start, _, _ in text_hits:
            if start < covered_to:
                continue
            lo, hi = _window(self.text, start)
            fragments.append(_mark(self.text, lo, hi, [t for t in text_hits if lo <= t[0] and t[1] <= hi], self.text_escape))
            covered_to = hi
            if len(fragments) == MAX_TEXT_FRAGMENTS:
                break
        if fragments:
            out["text"] = fragments
        return out


def _window(text: str, at: int) -> tuple[int, int]:
    lo = max(0, at - FRAGMENT_BEFORE)
    hi = min(len(text), at + FRAGMENT_AFTER)
    if lo > 0:
        space = text.find(" ", lo, at)
        lo = space + 1 if space != -1 else lo
    if hi < len(text):
        space = text.rfind(" ", at, hi)
        hi = space if space > at else hi
    return lo, hi


def _mark(text: str, lo: int, hi: int, hits: list[tuple[int, int, str]], escape: Callable[[str], str]) -> str:
    parts, pos = [], lo
    for start, end, _ in hits:
        parts.append(escape(text[pos:start]))
        parts.append(f"<em>{escape(text[start:end])}</em>")
        pos = end
    parts.append(escape(text[pos:hi]))
    return " ".join("".join(parts).split())


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def escaping(text: str):
    """How to escape pieces of ``text``: most texts have nothing to escape, and
    knowing it once per article saves an escape per piece of every highlight."""
    return _escape if "&" in text or "<" in text or ">" in text else str


# --- candidate pre-selection (the percolator's trick) -------------------------------
#
# A subscription can only match an article that holds at least one of its
# "anchor" terms: terms exactly as the index holds them, per field. They come
# from the query's syntax tree (``anchors``) and the analysed form of its words
# (Elasticsearch ``_analyze`` with each field's analyser, cached). Each
# article's terms come from ``mtermvectors`` on its scratch copy. Anchors of
# all subscriptions go into an inverted index (``AnchorIndex``, built once per
# set of subscriptions): an article's candidates are the subscriptions of the
# anchor terms it holds, found with C-level set intersections, so the cost
# grows with the article's terms, not with the number of subscriptions.
#
# Only a necessary condition is computed, never a sufficient one: a
# subscription whose shape gives no anchor (a keyword field, a pure negation,
# an OR with such a branch) is a candidate for every article, and
# Elasticsearch decides.
#
# A trailing wildcard ``venezuel*`` anchors on "a term starting with
# ``venezuel``" in each searched field: Elasticsearch lower-cases the prefix
# (the analyser's normaliser) and looks for terms starting with it. Only ASCII
# letters and digits are anchored (no folding question arises), and only on
# fields whose analyser is checked to lower-case (``Preselector``).

Anchors = frozenset  # of (field, term) pairs and (field, prefix, True) triples; None = "could match anything"
MAX_ANALYZE_TEXTS = 500   # per _analyze request (index.analyze.max_token_count is 10,000)
MAX_TOKEN_CACHE = 500_000
MAX_ANCHOR_INDEXES = 4    # distinct (subscriptions, fields) sets kept
MAX_DECISION_SETS = 64    # per list of subscriptions: fields sets whose decisions are kept
ANCHORED_FIELDS = ("title", "text")  # user fields that search analysed text
_ANCHORABLE_PREFIX = re.compile(r"[a-z0-9]+")


def word_texts(group) -> set[str]:
    """Every word and phrase text of a query's tree that anchoring may analyse."""
    from processors.query_validation import Group, Phrase, Word

    out: set[str] = set()
    for _, clause in group.clauses:
        if isinstance(clause, Group):
            out |= word_texts(clause)
        elif isinstance(clause, Phrase) or (isinstance(clause, Word) and not clause.prefix):
            out.add(clause.text)
    return out


def prefix_anchor(text: str) -> str | None:
    """The lower-cased prefix a trailing wildcard looks for, when it can anchor."""
    lowered = text.lower()
    return lowered if _ANCHORABLE_PREFIX.fullmatch(lowered) else None


def anchors(group, fields: tuple[str, ...], tokens, prefix_fields: Container[str] = ()) -> Anchors | None:
    """Terms (or term prefixes) of which a matching document holds at least
    one, or None. ``tokens(field, text)`` is the analysed form of a word or
    phrase; ``prefix_fields`` are the fields whose analyser lower-cases (the
    only ones where a trailing wildcard anchors).

    The anchors hold for a search over ``fields`` or over any subset of them
    that keeps the ``ALWAYS_SEARCHED`` ones (the matcher searches only the
    fields its batch has, and keeps one index of anchors for all batches).
    So a word or phrase must give terms in a field every such search has,
    else it gives no anchor: a word that vanishes in the searched fields (a
    stop word of their languages) drops out of the query, and an AND would no
    longer require it, or "word -other" would become a pure negation, which
    matches everything. Every anchor this returns stands for a clause that
    exists in each of those searches."""
    from processors.query_validation import Group, Phrase, Word

    def of(clause) -> Anchors | None:
        if isinstance(clause, Group):
            return anchors(clause, fields, tokens, prefix_fields)
        if clause.field is None:
            searched = fields
        elif clause.field in ANCHORED_FIELDS:
            searched = (clause.field,)
        else:
            return None
        if isinstance(clause, Word) and clause.prefix:
            prefix = prefix_anchor(clause.text)
            if prefix is None or any(f not in prefix_fields for f in searched):
                return None
            return frozenset((field_name, prefix, True) for field_name in searched)
        pairs: set[tuple] = set()
        always = [f for f in searched if f in ALWAYS_SEARCHED]
        for field_name in searched:
            found = tokens(field_name, clause.text)
            if not found:
                continue  # the word vanishes in this field (a stop word): no clause there
            if isinstance(clause, Phrase):
                pairs.add((field_name, max(found, key=len)))  # a phrase needs all its terms: one will do
            else:
                pairs.update((field_name, t) for t in found)
        kept = any(tokens(f, clause.text) for f in always) if always else all(tokens(f, clause.text) for f in searched)
        if not kept:
            return None  # it may vanish from a search: see above
        return frozenset(pairs) or None

    positives = [of(clause) for modifier, clause in group.clauses if modifier != "NOT"]
    if not positives:
        return None
    if group.all_and:
        known = [a for a in positives if a is not None]
        return min(known, key=_anchor_cost) if known else None
    if any(a is None for a in positives):
        return None
    return frozenset().union(*positives)


def _anchor_cost(anchor: Anchors) -> tuple[int, int]:
    """Prefer anchors without prefixes (exact look-ups), then the smallest."""
    return (sum(len(item) == 3 for item in anchor), len(anchor))


def _holds(item: tuple, batch_terms: dict[str, set[str]]) -> bool:
    terms = batch_terms.get(item[0], ())
    if len(item) == 3:
        return any(t.startswith(item[1]) for t in terms)
    return item[1] in terms


def has_anchor_in(anchor: Anchors | None, batch_terms: dict[str, set[str]]) -> bool:
    if anchor is None:
        return True
    return any(_holds(item, batch_terms) for item in anchor)


DocTerms = dict  # field -> {term: ...}: one document's term vectors


# User query field -> keyword field of the article document it reads
# (query_validation.FIELDS; ``topic`` and ``lang`` are aliases there).
KEYWORD_QUERY_FIELDS = {"topic": "topics", "lang": "language", "source": "source", "entity": "entity"}
KEYWORD_FIELDS = frozenset(KEYWORD_QUERY_FIELDS.values()) | {f for fs in FILTER_FIELDS.values() for f in fs}
KEYWORD_LOWERCASED = LOWERCASED_FIELDS | {"entity"}   # the ones with the ww_lowercase normaliser


def keyword_mapping_agrees(mappings: dict[str, Any]) -> bool:
    """Whether the keyword fields are mapped as ``keyword_term`` assumes
    (keyword type; the ``ww_lowercase`` normaliser exactly on KEYWORD_LOWERCASED).
    A template that changed that makes Elasticsearch decide those queries again."""
    properties = mappings.get("properties", {})
    for name in KEYWORD_FIELDS:
        spec = properties.get(name)
        if not isinstance(spec, dict) or spec.get("type") != "keyword":
            return False
        if spec.get("normalizer") != ("ww_lowercase" if name in KEYWORD_LOWERCASED else None):
            return False
    return True


def keyword_term(field_name: str, text: str) -> str | None:
    """The term a keyword field's query (or filter) looks for, when Python can
    say it exactly: the ``ww_lowercase`` normaliser is Lucene's per-code-point
    lower-casing, which ``str.lower`` equals for ASCII only (Python lower-cases
    a final sigma by context and expands U+0130); other text: None."""
    if field_name not in KEYWORD_LOWERCASED:
        return text
    return text.lower() if text.isascii() else None


def term_predicate(group, fields: tuple[str, ...], tokens, prefix_fields: Container[str] = (),
                   reads: set[str] | None = None, positions=None, doc_positions: bool = True):
    """A function ``doc -> bool`` that says exactly what Elasticsearch's
    ``query_string`` over ``fields`` says, from the document's term vectors
    (text fields) and keyword values (``keyword_facts``); None for the queries
    it cannot decide (Elasticsearch does). A predicate marked ``maybe``
    (``is_maybe``) may also answer None for a document: Elasticsearch decides
    that pair. Decided:

    * words that give exactly one term in each field they search (a term
      query per field, any field will do);
    * trailing wildcards with an ASCII letters-and-digits stem, on fields
      whose analyser lower-cases (``Preselector._lowercasing_fields``): some
      term of the field starts with the lower-cased stem (the prefix query
      query_string builds after the analyser's ``normalize``);
    * words and phrases on the keyword fields topic/lang/source/entity: one
      term, normalised like the field (``keyword_term``);
    * given ``positions(field, text)`` (the analysed positions of a phrase)
      and documents with term positions, phrases whose terms are distinct
      (``phrase_matches``): exact ones, and 2-term ones with a slop;
    * given ``positions`` but documents without positions (``doc_positions``
      false), phrases of one term at each position: no match where no field
      holds every term of the phrase (the usual case: a candidate holds the
      one term that anchored it), else None for that document;

    combined as Lucene's boolean query combines them: AND, OR, juxtaposition,
    NOT and ``+`` (not a group that mixes AND and OR: Lucene's classic parser
    makes some of its clauses required). Not decided:
    other phrases, words that give no or several terms. ``reads``
    collects the keyword fields the predicate reads."""
    from processors.query_validation import Group, Phrase, Word

    reads = set() if reads is None else reads

    def keyword_leaf(clause):
        target = KEYWORD_QUERY_FIELDS.get(clause.field)
        if target is None or (isinstance(clause, Word) and clause.prefix):
            return None
        term = keyword_term(target, clause.text)
        if term is None:
            return None
        reads.add(target)
        return lambda doc: term in doc.get(target, ())

    def prefix_leaf(clause, searched):
        prefix = prefix_anchor(clause.text)
        if prefix is None or any(f not in prefix_fields for f in searched):
            return None
        return lambda doc: any(has_prefixed_term(doc, f, prefix) for f in searched)

    def phrase_leaf(clause, searched):
        per_field, unsure = [], []
        for field_name in searched:
            found, at = tokens(field_name, clause.text), positions(field_name, clause.text)
            if not found or len(at) != len(found):
                return None  # the phrase vanishes in a field (stop words): not decided
            if len(found) == 1:
                per_field.append((field_name, found, None, 0))
                continue
            if len(set(at)) != len(at):
                return None  # tokens stacked at one position: any of them may stand there
            if not doc_positions:
                unsure.append((field_name, found))  # every term is needed, not enough
                continue
            if len(set(found)) != len(found) or (len(found) > 2 and clause.slop):
                return None  # repeated terms, sloppy 3-term phrases: Lucene's matcher decides
            per_field.append((field_name, found, at, clause.slop or 0))
        if not unsure:
            return lambda doc: any(phrase_matches(doc, *spec) for spec in per_field)

        def phrase_or_maybe(doc):
            if any(phrase_matches(doc, *spec) for spec in per_field):
                return True
            if any(all(term in doc.get(field_name, ()) for term in found) for field_name, found in unsure):
                return None
            return False

        return _maybe(phrase_or_maybe)

    def leaf(clause):
        if isinstance(clause, Group):
            return term_predicate(clause, fields, tokens, prefix_fields, reads, positions, doc_positions)
        if clause.field is None:
            searched = fields
        elif clause.field in ANCHORED_FIELDS:
            searched = (clause.field,)
        else:
            return keyword_leaf(clause)
        if isinstance(clause, Phrase):
            return phrase_leaf(clause, searched) if positions is not None else None
        if not isinstance(clause, Word):
            return None
        if clause.prefix:
            return prefix_leaf(clause, searched)
        pairs = []
        for field_name in searched:
            found = tokens(field_name, clause.text)
            if len(found) != 1:
                return None
            pairs.append((field_name, found[0]))
        return _any_term_predicate(pairs)

    if group.has_or and group.has_and:
        return None  # Lucene's classic parser makes some of the clauses required: not plain logic
    # Lucene's boolean query: each clause required (+, or every clause when joined by
    # AND), excluded (NOT) or optional (OR and juxtaposition: the default operator is
    # OR); with no required clause, one optional clause must match, else they only score.
    required, optional, excluded = [], [], []
    for modifier, clause in group.clauses:
        predicate = leaf(clause)
        if predicate is None:
            return None
        if modifier == "NOT":
            excluded.append(predicate)
        elif modifier == "+" or group.all_and:
            required.append(predicate)
        else:
            optional.append(predicate)
    if not required and not optional:
        return None
    maybe = any(map(is_maybe, required + optional + excluded))
    if not required:
        required = [_maybe_any(optional) if maybe else (lambda doc: any(p(doc) for p in optional))]
    if maybe:
        return _maybe_all(required, excluded)
    if len(required) == 1 and not excluded:
        return required[0]
    return lambda doc: all(p(doc) for p in required) and not any(p(doc) for p in excluded)


def _maybe(predicate):
    """Mark a predicate that may answer None (Elasticsearch decides) besides True and False."""
    predicate.maybe = True
    return predicate


def is_maybe(predicate) -> bool:
    return getattr(predicate, "maybe", False)


def _maybe_all(required: list, excluded: list):
    """AND of predicates some of which may answer None: False as soon as one
    settles it, None when one could not and none settled it."""
    def all_of(doc):
        some_false = _settled(doc, required, False)
        if some_false:
            return False
        some_true = _settled(doc, excluded, True)
        if some_true:
            return False
        return None if some_false is None or some_true is None else True

    return _maybe(all_of)


def _maybe_any(either: list):
    """OR of predicates some of which may answer None (see ``_maybe_all``)."""
    return _maybe(lambda doc: _settled(doc, either, True))


def _settled(doc, predicates: list, value: bool) -> bool | None:
    """Whether one of the predicates answers ``value`` for the document: True as
    soon as one does; None when none did and one could not say; else False."""
    unknown = False
    for predicate in predicates:
        answer = predicate(doc)
        if answer is None:
            unknown = True
        elif bool(answer) is value:
            return True
    return None if unknown else False


def _any_term_predicate(pairs: list[tuple[str, str]]):
    """``doc -> bool``: one of the (field, term) pairs is in the document. The one- and
    two-field forms (a word searched in title and text) are spelled out: this runs for
    every candidate pair of every batch, and a generator per call cost more than the test."""
    if len(pairs) == 1:
        (field_a, term_a), = pairs
        return lambda doc: term_a in doc.get(field_a, ())
    if len(pairs) == 2:
        (field_a, term_a), (field_b, term_b) = pairs
        return lambda doc: term_a in doc.get(field_a, ()) or term_b in doc.get(field_b, ())

    def any_term(doc) -> bool:  # a loop: any() over a generator cost a third more
        for field_name, term in pairs:
            if term in doc.get(field_name, ()):
                return True
        return False

    return any_term


SORTED_TERMS = object()   # key of a document's per-field sorted terms (never a field name)
_UNKNOWN = object()       # not looked up yet


def term_positions(info: Any) -> set[int]:
    """Positions of one term in a term-vectors answer (``{"tokens": [{"position": n}]}``)."""
    if not isinstance(info, dict) or "tokens" not in info:
        raise ValueError("term vectors without positions: phrases cannot be decided")
    return {token["position"] for token in info["tokens"]}


def phrase_matches(doc: dict, field_name: str, terms: tuple[str, ...], at: tuple[int, ...] | None, slop: int) -> bool:
    """What Lucene's phrase query on ``field_name`` says, for distinct terms at
    distinct relative positions ``at``: slop 0, every term at its offset from
    one start; two terms with a slop, their distance off by at most ``slop``
    (a swap costs 2, as in Lucene's sloppy matcher). One term: a term query."""
    held = doc.get(field_name)
    if not held or any(term not in held for term in terms):
        return False
    if at is None:
        return True
    spots = [term_positions(held[term]) for term in terms]
    if slop == 0:
        return any(all(start - at[0] + offset in spot for offset, spot in zip(at[1:], spots[1:])) for start in spots[0])
    gap = at[1] - at[0]
    return any(abs(second - first - gap) <= slop for first in spots[0] for second in spots[1])


def has_prefixed_term(doc: dict, field_name: str, prefix: str) -> bool:
    """Whether some term of ``field_name`` starts with ``prefix``: a bisection
    in the field's terms, sorted once per document when the document carries
    a ``SORTED_TERMS`` cache (``Preselector.plan`` gives one)."""
    cache = doc.get(SORTED_TERMS)
    ordered = cache.get(field_name) if cache is not None else None
    if ordered is None:
        ordered = sorted(doc.get(field_name, ()))
        if cache is not None:
            cache[field_name] = ordered
    at = bisect.bisect_left(ordered, prefix)
    return at < len(ordered) and ordered[at].startswith(prefix)


def filter_predicate(sub: Subscription, reads: set[str]):
    """``doc -> bool``: the subscription's filters (``filter_clauses``: each
    filter holds when one of its fields has one of its values), from the
    document's keyword values; None when a value cannot be compared exactly
    (``keyword_term``). ``reads`` collects the fields read."""
    checks = []
    for name, fields in FILTER_FIELDS.items():
        values = getattr(sub.filters, name)
        if not values:
            continue
        wanted = []
        for field_name in fields:
            terms = {keyword_term(field_name, v) for v in values}
            if None in terms:
                return None
            wanted.append((field_name, frozenset(terms)))
            reads.add(field_name)
        checks.append(wanted)
    return lambda doc: all(any(not doc.get(f, _NOTHING).isdisjoint(terms) for f, terms in wanted) for wanted in checks)


_NOTHING: frozenset[str] = frozenset()


@dataclass(frozen=True)
class KeywordFacts:
    """One document's keyword values as its index holds them (normalised,
    none beyond the field's ``ignore_above``: those are not indexed), and the
    fields Python cannot compare exactly (a non-ASCII value where the field
    lower-cases)."""
    values: dict[str, frozenset[str]]
    unsure: frozenset[str]


def keyword_facts(document: dict[str, Any], ignore_above: dict[str, int]) -> KeywordFacts:
    values: dict[str, frozenset[str]] = {}
    unsure = set()
    for field_name in KEYWORD_FIELDS:
        raw = document.get(field_name)
        items = raw if isinstance(raw, list) else [raw]
        limit = ignore_above.get(field_name)
        terms = set()
        for item in items:
            if not isinstance(item, str) or not item:
                continue
            if limit is not None and len(item) * 2 > limit and len(item.encode("utf-16-le")) // 2 > limit:
                continue  # not indexed: cannot match (a value of at most limit / 2 characters always is)
            term = keyword_term(field_name, item)
            if term is None:
                unsure.add(field_name)
                continue
            terms.add(term)
        values[field_name] = frozenset(terms)
    return KeywordFacts(values, frozenset(unsure))


def keyword_limits(mappings: dict[str, Any]) -> dict[str, int]:
    """``ignore_above`` of each keyword field (aliases resolved by name in KEYWORD_FIELDS)."""
    properties = mappings.get("properties", {})
    return {name: int(spec["ignore_above"]) for name in KEYWORD_FIELDS
            if isinstance(spec := properties.get(name), dict) and "ignore_above" in spec}


def has_filters(sub: Subscription) -> bool:
    return any(getattr(sub.filters, name) for name in FILTER_FIELDS)


@dataclass
class MatchPlan:
    """What a batch needs: the (article, subscription) pairs Elasticsearch
    must decide, and the matches already decided from term vectors."""
    to_search: dict[str, set[str]]
    decided: dict[str, set[str]]
    decided_pairs: int = 0
    preselected: set[str] | None = None   # every candidate, decided or not (for the stats)


@dataclass
class AnchorIndex:
    """Subscriptions (by position in ``subs``) under each of their anchors."""
    subs: list[Subscription]
    terms: dict[str, dict[str, list[int]]]      # field -> term -> positions
    prefixes: dict[str, dict[str, list[int]]]   # field -> prefix -> positions
    always: frozenset[int]                      # no anchor: candidates everywhere

    @classmethod
    def build(cls, subs: list[Subscription], anchor_of) -> "AnchorIndex":
        terms: dict[str, dict[str, list[int]]] = {}
        prefixes: dict[str, dict[str, list[int]]] = {}
        always: list[int] = []
        for position, sub in enumerate(subs):
            anchor = anchor_of(sub)
            if anchor is None:
                always.append(position)
                continue
            for item in anchor:
                into = prefixes if len(item) == 3 else terms
                into.setdefault(item[0], {}).setdefault(item[1], []).append(position)
        return cls(subs, terms, prefixes, frozenset(always))

    def expanded_prefixes(self, batch_terms: dict[str, set[str]]) -> dict[str, dict[str, list[int]]]:
        """The batch's terms that start with some anchored prefix, with the
        subscriptions of those prefixes: prefixes become exact look-ups."""
        out: dict[str, dict[str, list[int]]] = {}
        for field_name, by_prefix in self.prefixes.items():
            terms = batch_terms.get(field_name, ())
            # A small batch (the agent at a steady rate) has fewer terms than
            # there are prefixes: look up each term's own prefixes instead.
            if sum(map(len, terms)) < len(by_prefix) * 4:
                found = _prefixed_by_terms(terms, by_prefix)
            else:
                found = _prefixed_by_bisect(sorted(terms), by_prefix)
            if found:
                out[field_name] = found
        return out

    def candidates(self, doc_terms: dict[str, dict[str, Any]], extra: dict[str, dict[str, list[int]]]) -> set[int]:
        """Positions of the subscriptions one article may match."""
        found = set(self.always)
        for source in (self.terms, extra):
            for field_name, by_term in source.items():
                held = doc_terms.get(field_name)
                if not held:
                    continue
                # dict-view "&" copies its left side into a set: put the smaller one there
                common = held.keys() & by_term.keys() if len(held) < len(by_term) else by_term.keys() & held.keys()
                for term in common:
                    found.update(by_term[term])
        return found


def _within(ids: set[str] | frozenset[str], allowed: Container[str] | None) -> set[str]:
    """Those of ``ids`` in ``allowed`` (all of them without it): a set
    intersection walks the smaller side, never the 10,000 subscriptions."""
    if allowed is None:
        return set(ids)
    if isinstance(allowed, (set, frozenset)):
        return set(ids & allowed)
    return {i for i in ids if i in allowed}


def _prefixed_by_bisect(ordered: list[str], by_prefix: dict[str, list[int]]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for prefix, positions in by_prefix.items():
        at = bisect.bisect_left(ordered, prefix)
        while at < len(ordered) and ordered[at].startswith(prefix):
            found.setdefault(ordered[at], []).extend(positions)
            at += 1
    return found


def _prefixed_by_terms(terms: Iterable[str], by_prefix: dict[str, list[int]]) -> dict[str, list[int]]:
    """Same as ``_prefixed_by_bisect``: every prefix of each term (a prefix may be the whole term)."""
    found: dict[str, list[int]] = {}
    for term in terms:
        for end in range(1, len(term) + 1):
            positions = by_prefix.get(term[:end])
            if positions is not None:
                found.setdefault(term, []).extend(positions)
    return found


def tokens_by_text(texts: list[str], response_tokens: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Split the tokens of one multi-text ``_analyze`` answer back per text.
    Elasticsearch's offsets run on across the texts (UTF-16 units, a gap of 1)."""
    return {text: tuple(t for t, _ in found) for text, found in tokens_and_positions_by_text(texts, response_tokens).items()}


def tokens_and_positions_by_text(texts: list[str], response_tokens: list[dict[str, Any]]
                                 ) -> dict[str, tuple[tuple[str, int], ...]]:
    """(token, position relative to the text's first token) per text: the
    positions run on across the texts too, but a phrase query only compares
    the positions of its own terms with each other."""
    starts = []
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text.encode("utf-16-le")) // 2 + 1
    out: dict[str, list[tuple[str, int]]] = {text: [] for text in texts}
    index = 0
    for token in response_tokens:
        at = token["start_offset"]
        while index + 1 < len(starts) and starts[index + 1] <= at:
            index += 1
        out[texts[index]].append((token["token"], int(token.get("position", 0))))
    return {text: tuple((t, p - found[0][1]) for t, p in found) for text, found in out.items()}


@dataclass(frozen=True)
class SubscriptionList:
    """Ids, lookup and identity of one list of subscriptions."""
    subs: list[Subscription]
    signature: tuple          # (id, query) of each: what the anchors index depends on
    by_id: dict[str, Subscription]
    ids: frozenset[str]
    decisions: dict[tuple, dict[str, Any]] = field(default_factory=dict)  # (fields, with positions) -> id -> decision made
    indexes: dict[tuple[str, ...], "AnchorIndex"] = field(default_factory=dict)      # fields -> anchors index

    @classmethod
    def of(cls, subs: list[Subscription]) -> "SubscriptionList":
        by_id = {s.id: s for s in subs}
        return cls(subs, tuple([(s.id, s.query) for s in subs]), by_id, frozenset(by_id))


class Preselector:
    """Analysed words per field (cached for the process), anchors per query,
    an inverted index of the anchors per set of subscriptions."""

    def __init__(self, es, index: str, phrases: bool = False):
        self.es = es
        self.index = index
        # Phrases decided here need term positions, and parsing them costs
        # ~1.6 ms of this process per article (five times the terms alone):
        # more than Elasticsearch spends on the few phrase pairs. Off by default.
        self.phrases = phrases
        self._tokens: dict[tuple[str, str], tuple[str, ...]] = {}
        self._anchors: dict[tuple[str, tuple[str, ...]], Anchors | None] = {}
        self._lowercasing: dict[str, bool] = {}
        self._indexes: dict[tuple, AnchorIndex] = {}
        self._fields: set[str] = set()   # every field a batch has searched so far
        self._predicates: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._derived: SubscriptionList | None = None
        self._positions: dict[tuple[str, str], tuple[int, ...]] = {}
        self._building = asyncio.Lock()

    def _of(self, subs: list[Subscription]) -> "SubscriptionList":
        """What this class derives from a list of subscriptions, once per list
        (the matcher hands over the same list until subscriptions change):
        rebuilding it per batch cost tens of ms with 10,000 of them."""
        if self._derived is None or self._derived.subs is not subs:
            self._derived = SubscriptionList.of(subs)
        return self._derived

    async def candidates(self, subs: list[Subscription], fields: tuple[str, ...], doc_ids: list[str]) -> list[Subscription]:
        """The subscriptions some document of ``doc_ids`` may match."""
        pairs = await self.candidate_pairs(subs, fields, doc_ids)
        keep = set().union(*pairs.values()) if pairs else set()
        return [sub for sub in subs if sub.id in keep]

    async def candidate_pairs(self, subs: list[Subscription], fields: tuple[str, ...], doc_ids: list[str],
                              allowed: Container[str] | None = None,
                              documents: dict[str, dict[str, Any]] | None = None) -> dict[str, set[str]]:
        """doc id -> ids of the subscriptions that document may match, among
        ``subs`` (and in ``allowed`` when given: the matcher passes every
        active subscription, whose index of anchors it reuses across batches,
        and the ids whose filters the batch can satisfy)."""
        return (await self._pairs_and_terms(subs, fields, doc_ids, allowed, documents))[0]

    async def plan(self, subs: list[Subscription], fields: tuple[str, ...], doc_ids: list[str],
                   allowed: Container[str] | None = None,
                   keywords: dict[str, KeywordFacts] | None = None,
                   documents: dict[str, dict[str, Any]] | None = None) -> MatchPlan:
        """The candidate pairs, with those Python can decide exactly from the
        term vectors and, given ``keywords`` (doc id -> its keyword values),
        the keyword fields and filters (``term_predicate``, ``filter_predicate``)."""
        pairs, per_doc = await self._pairs_and_terms(subs, fields, doc_ids, allowed, documents)
        plan = MatchPlan(to_search={}, decided={}, preselected=set().union(*pairs.values()))
        await self._decide(subs, tuple(_bare(f) for f in fields), pairs, per_doc, keywords, plan, self.phrases)
        return plan

    async def settle(self, subs: list[Subscription], fields: tuple[str, ...], plan: MatchPlan,
                     documents: dict[str, dict[str, Any]], keywords: dict[str, KeywordFacts] | None = None) -> None:
        """Decide from term positions what ``plan`` leaves to Elasticsearch, when
        the documents had none (``phrases`` off): only the documents with pairs
        left are analysed again, with positions (a few per batch: phrase
        candidates that hold every term), so that their batch needs no bulk,
        refresh and search. What positions cannot decide stays in the plan."""
        left = {doc_id: sub_ids for doc_id, sub_ids in plan.to_search.items() if sub_ids}
        if not left or self.phrases:
            return
        bare = tuple(_bare(f) for f in fields)
        per_doc = await self._artificial_terms({doc_id: documents[doc_id] for doc_id in left}, bare, positions=True)
        await self._decide(subs, bare, left, per_doc, keywords, plan, True)

    async def _decide(self, subs: list[Subscription], bare: tuple[str, ...], pairs: dict[str, set[str]],
                      per_doc: dict[str, dict[str, Any]], keywords: dict[str, KeywordFacts] | None,
                      plan: MatchPlan, positions: bool) -> None:
        """The ``pairs`` decided from the documents' terms (and ``positions``) in the
        fields ``bare`` go to ``plan.decided`` when they match; the others are ``plan.to_search``."""
        derived = self._of(subs)
        prefix_fields = await self._lowercasing_fields(bare)
        # Looked up per pair (tens per article): by id, not by the query and filters each time.
        if (bare, positions) not in derived.decisions and len(derived.decisions) >= MAX_DECISION_SETS:
            derived.decisions.clear()  # bounded: each set of languages a batch brings has its own
        decisions = derived.decisions.setdefault((bare, positions), {})
        for doc_id, sub_ids in pairs.items():
            terms = per_doc.get(doc_id)
            facts = keywords.get(doc_id) if keywords is not None else None
            doc = None if terms is None else {**terms, **(facts.values if facts is not None else {}), SORTED_TERMS: {}}
            unsure = facts.unsure if facts is not None else KEYWORD_FIELDS
            search = set()
            for sub_id in sub_ids:
                if doc is None:
                    decision = None
                elif (decision := decisions.get(sub_id, _UNKNOWN)) is _UNKNOWN:
                    decision = decisions[sub_id] = self._decision_of(derived.by_id[sub_id], bare, prefix_fields, positions)
                if decision is None or not unsure.isdisjoint(decision[1]):
                    search.add(sub_id)
                    continue
                answer = decision[0](doc)
                if answer is None:  # a phrase whose terms are all there: positions decide
                    search.add(sub_id)
                    continue
                plan.decided_pairs += 1
                if answer:
                    plan.decided.setdefault(doc_id, set()).add(sub_id)
            plan.to_search[doc_id] = search

    def _decision_of(self, sub: Subscription, fields: tuple[str, ...], prefix_fields: Container[str], positions: bool):
        """(predicate, keyword fields it reads) for the subscription's query
        and filters, or None: Elasticsearch decides."""
        key = (sub.query, tuple(tuple(getattr(sub.filters, name)) for name in FILTER_FIELDS), fields, positions)
        if key not in self._predicates:
            self._predicates[key] = self._make_decision(sub, fields, prefix_fields, positions)
        return self._predicates[key]

    def _make_decision(self, sub: Subscription, fields: tuple[str, ...], prefix_fields: Container[str], positions: bool):
        tree = parsed_tree(sub.query) if query_problem(sub.query) is None else None
        # Only words whose analysis is known for every field (else: Elasticsearch decides).
        if tree is None or not all((f, t) in self._tokens for t in word_texts(tree) for f in fields):
            return None
        lookup = lambda field_name, text: self._tokens.get((field_name, text), ())  # noqa: E731
        at = lambda field_name, text: self._positions.get((field_name, text), ())  # noqa: E731
        reads: set[str] = set()
        query = term_predicate(tree, fields, lookup, prefix_fields, reads, at, doc_positions=positions)
        if query is None:
            return None
        if not has_filters(sub):
            return query, frozenset(reads)
        filters = filter_predicate(sub, reads)
        if filters is None:
            return None
        return (lambda doc: filters(doc) and query(doc)), frozenset(reads)  # filters answer True or False

    async def _pairs_and_terms(self, subs, fields, doc_ids, allowed, documents=None):
        bare = tuple(_bare(f) for f in fields)
        index = await self._index_for(subs, bare)
        per_doc = await (self._doc_terms(doc_ids, bare) if documents is None else self._artificial_terms(documents, bare))
        batch_terms: dict[str, set[str]] = {f: set() for f in bare}
        for terms in per_doc.values():
            for field_name, held in terms.items():
                batch_terms.setdefault(field_name, set()).update(held)
        extra = index.expanded_prefixes(batch_terms)
        out: dict[str, set[str]] = {}
        for doc_id in doc_ids:
            terms = per_doc.get(doc_id)
            if terms is None:  # no term vectors came back: let Elasticsearch decide
                out[doc_id] = _within(self._of(subs).ids, allowed)
                continue
            out[doc_id] = _within({index.subs[p].id for p in index.candidates(terms, extra)}, allowed)
        return out, per_doc

    async def _index_for(self, subs: list[Subscription], batch_fields: tuple[str, ...]) -> AnchorIndex:
        """The anchors index of ``subs`` over every field seen so far (it
        holds for any subset of them: see ``anchors``), so that it is built
        once, not for each combination of languages a batch brings."""
        self._fields.update(batch_fields)
        fields = tuple(f for f in (_bare(d) for d in DEFAULT_FIELDS) if f in self._fields)
        derived = self._of(subs)
        index = derived.indexes.get(fields)  # per list first: hashing its signature costs a millisecond
        if index is not None:
            return index
        key = (fields, derived.signature)  # a reloaded list with the same subscriptions finds its index here
        async with self._building:  # concurrent parts of a batch: one builds, the others wait for it
            index = self._indexes.get(key)
            if index is None:
                index = await self._build_index(subs, fields)
                if len(self._indexes) >= MAX_ANCHOR_INDEXES:  # bounded: subscription sets change over time
                    self._indexes.clear()
                self._indexes[key] = index
        derived.indexes[fields] = index  # bounded: fields only grow, up to all of DEFAULT_FIELDS
        return index

    async def _build_index(self, subs: list[Subscription], fields: tuple[str, ...]) -> AnchorIndex:
        trees = {s.query: parsed_tree(s.query) for s in subs if query_problem(s.query) is None}
        await self._analyse({t for tree in trees.values() for t in word_texts(tree)}, fields)
        prefix_fields = await self._lowercasing_fields(fields)
        lookup = lambda field_name, text: self._tokens.get((field_name, text), ())  # noqa: E731

        def anchor_of(sub: Subscription) -> Anchors | None:
            tree = trees.get(sub.query)
            return None if tree is None else self._anchors_of(sub.query, fields, tree, lookup, prefix_fields)

        return AnchorIndex.build(subs, anchor_of)

    def _anchors_of(self, query: str, fields: tuple[str, ...], tree, lookup, prefix_fields) -> Anchors | None:
        key = (query, fields)
        if key not in self._anchors:
            self._anchors[key] = anchors(tree, fields, lookup, prefix_fields)
        return self._anchors[key]

    async def _lowercasing_fields(self, fields: tuple[str, ...]) -> frozenset[str]:
        """Fields whose analyser lower-cases ASCII letters: there a lower-cased
        ASCII prefix is what Elasticsearch looks for."""
        for field_name in fields:
            if field_name not in self._lowercasing:
                answer = await self.es.indices.analyze(index=self.index, field=field_name, text="Wirewatch Zq9")
                self._lowercasing[field_name] = [t["token"] for t in answer.get("tokens", [])] == ["wirewatch", "zq9"]
        return frozenset(f for f in fields if self._lowercasing[f])

    async def _analyse(self, texts: set[str], fields: tuple[str, ...]) -> None:
        if len(self._tokens) > MAX_TOKEN_CACHE:  # bounded: subscriptions come and go
            self._derived = None   # with its decisions
            self._tokens.clear()
            self._positions.clear()
            self._anchors.clear()
            self._indexes.clear()
            self._predicates.clear()
        for field_name in fields:
            missing = sorted(t for t in texts if (field_name, t) not in self._tokens)
            for start in range(0, len(missing), MAX_ANALYZE_TEXTS):
                part = missing[start:start + MAX_ANALYZE_TEXTS]
                answer = await self.es.indices.analyze(index=self.index, field=field_name, text=part)
                for text, found in tokens_and_positions_by_text(part, answer.get("tokens", [])).items():
                    self._tokens[(field_name, text)] = tuple(t for t, _ in found)
                    self._positions[(field_name, text)] = tuple(p for _, p in found)

    async def _artificial_terms(self, documents: dict[str, dict[str, Any]], fields: tuple[str, ...],
                                positions: bool | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """``_doc_terms`` of documents that are not indexed: Elasticsearch
        analyses them with the scratch index's mapping, as indexing them would,
        without the bulk and refresh (a new segment) per batch; most batches
        then never touch the scratch index (``Matcher._match_batch``). With term
        positions when ``positions`` (default: ``phrases``)."""
        ids = list(documents)
        positions = self.phrases if positions is None else positions
        docs = [{"_index": self.index, "doc": documents[doc_id], "fields": list(fields), "positions": positions,
                 "offsets": False, "payloads": False, "term_statistics": False, "field_statistics": False}
                for doc_id in ids]
        answer = await self.es.mtermvectors(docs=docs)
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for doc_id, doc in zip(ids, answer.get("docs", [])):
            if "index_not_found" in str(doc.get("error", "")):
                # Not a document's problem: going on would bulk-index into an index that
                # Elasticsearch creates with a guessed mapping, and match with its analysis.
                raise ScratchIndexMissing(f"scratch index {self.index} is gone")
            if doc.get("error") or not doc.get("found", True):
                log.warning("matcher.term_vectors_missing", doc_id=doc_id, error=str(doc.get("error"))[:200])
                continue
            out[doc_id] = {name: vector.get("terms", {}) for name, vector in (doc.get("term_vectors") or {}).items()}
        return out

    async def _doc_terms(self, doc_ids: list[str], fields: tuple[str, ...]) -> dict[str, dict[str, dict[str, Any]]]:
        """doc id -> field -> {term: {...}} (the stored term vectors; positions in "tokens" with ``phrases``)."""
        answer = await self.es.mtermvectors(
            index=self.index, ids=doc_ids, fields=list(fields), positions=self.phrases, offsets=False,
            payloads=False, term_statistics=False, field_statistics=False, realtime=True,
        )
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for doc in answer.get("docs", []):
            if doc.get("error") or not doc.get("found", False):
                log.warning("matcher.term_vectors_missing", doc_id=doc.get("_id"), error=str(doc.get("error"))[:200])
                continue
            out[doc["_id"]] = {name: vector.get("terms", {}) for name, vector in (doc.get("term_vectors") or {}).items()}
        return out


# --- the matcher --------------------------------------------------------------------

MAX_CACHED_FACTS = 256


@dataclass
class SubscriptionSet:
    """What the matcher derives from one list of subscriptions: the active
    ones (for the anchors index), and the valid active ones with their
    filters' values normalised, so that a batch only checks intersections."""
    source: list[Subscription]
    active: list[Subscription]
    entries: list[tuple[Subscription, dict[str, frozenset[str]] | None]]   # valid ones, in order
    by_id: dict[str, Subscription] = field(default_factory=dict)
    unfiltered: list[int] = field(default_factory=list)                      # positions in entries
    by_filter_value: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    _candidates: dict[tuple, tuple[list[Subscription], frozenset[str], dict[str, int]]] = field(default_factory=dict)

    @classmethod
    def of(cls, source: list[Subscription]) -> "SubscriptionSet":
        active = [s for s in source if s.active]
        entries = [(sub, wanted_values(sub)) for sub in valid_subscriptions(active)]
        made = cls(source, active, entries, {sub.id: sub for sub, _ in entries})
        # Filtered ones under each value of their first filter: a batch looks
        # up its own values instead of testing 10,000 subscriptions.
        for position, (_, wanted) in enumerate(entries):
            if wanted is None:
                made.unfiltered.append(position)
                continue
            name, values = next(iter(wanted.items()))
            for value in values:
                made.by_filter_value.setdefault((name, value), []).append(position)
        return made

    def candidates(self, facts: BatchFacts) -> list[Subscription]:
        """The valid active subscriptions whose filters the batch can satisfy (``may_match``)."""
        return self.candidates_and_ids(facts)[0]

    def candidates_and_ids(self, facts: BatchFacts) -> tuple[list[Subscription], frozenset[str], dict[str, int]]:
        """``candidates`` in order, their ids, and id -> position in that list;
        kept per distinct facts (batches of a steady stream bring the same few
        languages and topics)."""
        key = tuple(sorted(facts.values.items()))
        found = self._candidates.get(key)
        if found is None:
            found = self._compute(facts)
            if len(self._candidates) >= MAX_CACHED_FACTS:
                self._candidates.clear()
            self._candidates[key] = found
        return found

    def _compute(self, facts: BatchFacts) -> tuple[list[Subscription], frozenset[str], dict[str, int]]:
        chosen = set(self.unfiltered)
        for name, values in facts.values.items():
            for value in values:
                for position in self.by_filter_value.get((name, value), ()):
                    if position not in chosen and all(facts.values[n] & wanted
                                                      for n, wanted in self.entries[position][1].items()):
                        chosen.add(position)
        subs = [self.entries[position][0] for position in sorted(chosen)]
        return subs, frozenset(s.id for s in subs), {s.id: i for i, s in enumerate(subs)}


def wanted_values(sub: Subscription) -> dict[str, frozenset[str]] | None:
    """Filter name -> the normalised values ``may_match`` compares, or None without filters."""
    wanted = {}
    for name, fields in FILTER_FIELDS.items():
        values = getattr(sub.filters, name)
        if values:
            wanted[name] = frozenset(_normalise(f, v) for f in fields for v in values)
    return wanted or None


@dataclass
class BatchStats:
    articles: int = 0
    candidate_ids: frozenset[str] = frozenset()    # after the filter pre-selection
    preselected_ids: frozenset[str] = frozenset()  # after the anchor terms (in at least one article's candidates)
    pairs: int = 0             # candidate (subscription, article) pairs sent to Elasticsearch
    decided_pairs: int = 0     # candidate pairs decided from term vectors (``term_predicate``)
    searches: int = 0
    matches: int = 0
    index_s: float = 0.0
    preselect_s: float = 0.0   # part of search_s
    search_s: float = 0.0
    highlight_s: float = 0.0   # highlights and building the alerts
    skipped_subscriptions: list[str] = field(default_factory=list)

    @property
    def candidates(self) -> int:
        return len(self.candidate_ids)

    @property
    def preselected(self) -> int:
        return len(self.preselected_ids)

    @classmethod
    def merged(cls, parts: list["BatchStats"]) -> "BatchStats":
        """One batch's stats from its parts': counts and times add up (the
        parts overlap, so their times may add up to more than the batch
        took), subscriptions count once however many parts they were in."""
        if len(parts) == 1:
            return parts[0]
        out = cls()
        for part in parts:
            for name in ("articles", "pairs", "decided_pairs", "searches", "matches",
                         "index_s", "preselect_s", "search_s", "highlight_s"):
                setattr(out, name, getattr(out, name) + getattr(part, name))
            out.skipped_subscriptions += part.skipped_subscriptions
        out.candidate_ids = frozenset().union(*(p.candidate_ids for p in parts))
        out.preselected_ids = frozenset().union(*(p.preselected_ids for p in parts))
        return out


class ScratchIndexMissing(RuntimeError):
    """The scratch index was dropped under the matcher (its next batch makes a new one)."""


@dataclass
class SearchedShare:
    """The share of a part's documents that still had pairs for Elasticsearch after
    the decisions made here, averaged over recent parts (each counts for a fifth).
    It starts at 0: term vectors without indexing first, until parts show otherwise."""
    value: float = 0.0

    def add(self, searched: int, documents: int) -> None:
        if documents:
            self.value += 0.2 * (searched / documents - self.value)


@dataclass
class ScratchGeneration:
    """The scratch index a matcher writes to now, and how much it has taken."""
    name: str
    started: float = field(default_factory=time.monotonic)
    docs: int = 0

    def spent(self, now: float | None = None) -> bool:
        """Time to move on: full, or old enough that a matcher idle for long finds
        it replaced, never dropped under it by another worker's clean-up."""
        now = time.monotonic() if now is None else now
        return self.docs >= SCRATCH_GENERATION_DOCS or now - self.started >= SCRATCH_GENERATION_AGE_S


def stale_scratch_indices(settings: dict[str, Any], now_ms: int, keep: str) -> list[str]:
    """Scratch indices (a ``get_settings`` answer) created more than
    ``SCRATCH_STALE_AGE_S`` ago, other than ``keep``: what workers that
    stopped without dropping theirs left behind."""
    stale = []
    for name, answer in settings.items():
        created = answer.get("settings", {}).get("index", {}).get("creation_date")
        if name != keep and str(created).isdigit() and now_ms - int(created) > SCRATCH_STALE_AGE_S * 1000:
            stale.append(name)
    return sorted(stale)


class Matcher:
    """``await Matcher(...).match(articles)`` -> alerts, with an AsyncElasticsearch.
    ``await close()`` drops its scratch index."""

    def __init__(
        self,
        es,
        indices: Indices,
        subscriptions: SubscriptionSource,
        *,
        kibana_url: str = "http://127.0.0.1:5601",
        chunk_size: int = CHUNK_SIZE,
        preselect: bool = True,
        max_clauses_per_request: int = MAX_CLAUSES_PER_REQUEST,
        clause_ids: bool = CLAUSE_IDS,
        decide_in_python: bool = True,
        decide_phrases: bool = False,
        part_size: int = PART_SIZE,
    ):
        self.es = es
        self.indices = indices
        self.subscriptions = subscriptions
        self.kibana_url = kibana_url
        self.chunk_size = chunk_size
        self.part_size = max(1, part_size)
        self.max_clauses_per_request = max(1, max_clauses_per_request)
        self.clause_ids = clause_ids
        self.decide_in_python = decide_in_python
        self.decide_phrases = decide_phrases
        self._subscription_cache: SubscriptionSet | None = None
        self._searches = asyncio.Semaphore(CONCURRENT_SEARCHES)
        self._use_preselection = preselect
        self.preselector: Preselector | None = None   # made with the scratch index
        self.generation: ScratchGeneration | None = None
        self.searched_share = SearchedShare()
        self._scratch_made = asyncio.Lock()
        self._matching = 0                  # match() calls in flight
        self._dropping: set[asyncio.Task] = set()
        self._stale_dropped = False
        self.keyword_limits: dict[str, int] = {}
        self.keywords_decidable = False
        self.last_stats = BatchStats()

    @classmethod
    def from_settings(cls, es, settings, subscriptions: SubscriptionSource, **kwargs) -> "Matcher":
        return cls(es, Indices.from_settings(settings.es), subscriptions, kibana_url=settings.es.kibana_url, **kwargs)

    @property
    def scratch_index(self) -> str | None:
        return self.generation.name if self.generation is not None else None

    async def ensure_scratch(self) -> str:
        """Create the scratch index of this matcher's current generation for the
        current articles mapping and return its name: ``<indices.scratch>-<hash
        of settings and mappings>-<generation>``, so a changed template (new
        fields, analysis plugin installed) gets a fresh scratch index instead of
        matching with a stale mapping."""
        if self.generation is not None:
            return self.generation.name
        async with self._scratch_made:  # the parts of a first batch arrive together: one of them makes it
            if self.generation is None:
                await self._make_scratch()
                if not self._stale_dropped:
                    self._stale_dropped = True
                    self._drop_later(self._drop_stale())
        return self.generation.name

    async def close(self) -> None:
        """Drop the scratch index (and wait for older generations being dropped)."""
        if self.generation is not None:
            name, self.generation = self.generation.name, None
            self._drop_later(self._drop(name))
        if self._dropping:
            await asyncio.gather(*self._dropping, return_exceptions=True)

    async def _next_generation(self) -> None:
        """Move to a new scratch index and drop the old one in the background
        (called when no batch of this matcher is in flight)."""
        old, self.generation = self.generation.name, None
        await self.ensure_scratch()
        self._drop_later(self._drop(old))

    def _drop_later(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)

    async def _drop(self, name: str) -> None:
        try:
            await self.es.options(ignore_status=404).indices.delete(index=name)
        except Exception as exc:  # noqa: BLE001 - a leftover is dropped as stale later
            log.warning("matcher.scratch_drop_failed", index=name, error=str(exc)[:300])

    async def _drop_stale(self) -> None:
        """Scratch indices left by workers gone for a day (see ``stale_scratch_indices``)."""
        try:
            answer = await self.es.options(ignore_status=404).indices.get_settings(
                index=f"{self.indices.scratch}-*", name="index.creation_date")
            stale = stale_scratch_indices(dict(answer), int(time.time() * 1000), self.scratch_index or "")
        except Exception as exc:  # noqa: BLE001 - an optimisation of disk space only
            log.warning("matcher.scratch_cleanup_failed", error=str(exc)[:300])
            return
        for name in stale:
            await self._drop(name)

    async def _make_scratch(self) -> None:
        body = await self._scratch_body()
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()[:10]
        name = f"{self.indices.scratch}-{digest}-{uuid.uuid4().hex[:8]}"
        await self.es.indices.create(index=name, **body)
        self.generation = ScratchGeneration(name)
        self.keyword_limits = keyword_limits(body.get("mappings", {}))
        self.keywords_decidable = keyword_mapping_agrees(body.get("mappings", {}))
        if not self.keywords_decidable:
            log.warning("matcher.keyword_fields_unexpected", detail="keyword fields and filters go to Elasticsearch")
        if self._use_preselection:
            if self.preselector is None:
                self.preselector = Preselector(self.es, name, phrases=self.decide_phrases)
            self.preselector.index = name  # same mapping: its caches hold

    async def _scratch_body(self) -> dict[str, Any]:
        """What the articles template gives a new monthly index, as applied
        (``wirewatch es setup`` may have chosen the analyzers); else the
        template files rendered for this node."""
        try:
            simulated = await self.es.indices.simulate_index_template(name=f"{self.indices.articles}-2000.01")
            template = simulated.get("template", {})
            if template.get("mappings", {}).get("properties"):
                return scratch_body_from(template)
        except ApiError as exc:
            log.info("matcher.no_articles_template", reason=_reason(exc))
        return scratch_index_body(self.indices, await plugin_analyzers_available(self.es))

    async def match(self, articles: list[Article]) -> list[Alert]:
        """Alerts of ``articles``, matched in parts of ``part_size`` that overlap:
        Elasticsearch runs in its own process, so while it indexes and searches
        one part, this process plans and builds the alerts of another. A part
        that fails cancels the others and its error is raised. ``last_stats`` sums the parts."""
        if self._matching == 0 and self.generation is not None and self.generation.spent():
            await self._next_generation()
        self._matching += 1
        try:
            return await self._match_parts(articles)
        except (ApiError, ScratchIndexMissing) as exc:
            if isinstance(exc, ScratchIndexMissing) or (exc.meta.status == 404 and "index_not_found" in str(exc)):
                self.generation = None  # dropped under us (by hand, by a clean-up): the caller's retry makes a new one
            raise
        finally:
            self._matching -= 1

    async def _match_parts(self, articles: list[Article]) -> list[Alert]:
        parts = _chunks(articles, self.part_size)
        gate = asyncio.Semaphore(CONCURRENT_PARTS)

        async def one(part: list[Article]) -> tuple[list[Alert], BatchStats]:
            async with gate:
                stats = BatchStats(articles=len(part))
                return await self._match_batch(part, stats), stats

        try:
            async with asyncio.TaskGroup() as group:  # a failed part cancels the others
                tasks = [group.create_task(one(part)) for part in parts]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # what a batch in one part would raise
        self.last_stats = BatchStats.merged([task.result()[1] for task in tasks])
        return unseen_alerts([alert for task in tasks for alert in task.result()[0]], ())

    async def _match_batch(self, articles: list[Article], stats: BatchStats) -> list[Alert]:
        if not articles:
            return []
        documents = [article_document(a) for a in articles]
        facts = batch_facts(documents)
        subscriptions = self._subscription_set(await self.subscriptions.active())
        active = subscriptions.active
        candidates, candidate_ids, candidate_positions = subscriptions.candidates_and_ids(facts)
        stats.candidate_ids = candidate_ids
        if not candidates:
            return []
        await self.ensure_scratch()
        batch = f"{uuid.uuid4().hex[:12]}"
        by_doc = {f"{batch}-{i}": article for i, article in enumerate(articles)}
        doc_ids = list(by_doc)
        scratch = {doc_id: scratch_document(d, doc_id) for doc_id, d in zip(doc_ids, documents)}
        fields = searched_fields(documents)
        keywords = ({doc_id: keyword_facts(d, self.keyword_limits) for doc_id, d in zip(doc_ids, documents)}
                    if self.keywords_decidable else None)
        t0 = time.perf_counter()
        # Term vectors of the documents as they would be indexed, and only those
        # with pairs left for Elasticsearch are indexed (often none: no bulk, no
        # refresh). A large part whose documents mostly have pairs left (as
        # recent parts had) is indexed first instead: reading the stored term
        # vectors then analyses each text once. (The stored term vectors have
        # no positions: phrases decided from positions need the other way.)
        index_first = (len(doc_ids) > ARTIFICIAL_MAX_BATCH and not self.decide_phrases
                       and self.searched_share.value > INDEX_FIRST_SHARE)
        if index_first:
            await self._index(scratch, stats)
        plan = await self._plan(active, candidates, candidate_ids, fields, doc_ids, keywords, stats,
                                None if index_first else scratch)
        searched = [doc_id for doc_id, sub_ids in plan.to_search.items() if sub_ids]
        self.searched_share.add(len(searched), len(doc_ids))
        to_index = doc_ids if index_first else searched
        matched: dict[str, set[str]] = {}
        if to_index:
            if not index_first:
                await self._index({doc_id: scratch[doc_id] for doc_id in to_index}, stats)
            if stats.pairs:
                matched = await self._matched_pairs(candidates, plan.to_search, fields, stats, candidate_positions)
        for doc_id, sub_ids in plan.decided.items():
            matched.setdefault(doc_id, set()).update(sub_ids)
        t2 = time.perf_counter()
        stats.search_s = t2 - t0 - stats.index_s
        alerts = self._alerts(subscriptions.by_id, matched, by_doc)
        stats.highlight_s = time.perf_counter() - t2
        stats.matches = len(alerts)
        log.info("matcher.batch", articles=stats.articles, candidates=stats.candidates, preselected=stats.preselected,
                 pairs=stats.pairs, decided=stats.decided_pairs, searches=stats.searches, alerts=len(alerts), skipped=len(stats.skipped_subscriptions))
        return alerts

    def _subscription_set(self, source: list[Subscription]) -> "SubscriptionSet":
        """Derived once per list the source hands out (it hands out the same
        list until it reloads; the set keeps it alive, so its id is not reused)."""
        if self._subscription_cache is None or self._subscription_cache.source is not source:
            self._subscription_cache = SubscriptionSet.of(source)
        return self._subscription_cache

    def _alerts(self, subs_by_id: dict[str, Subscription], matched: dict[str, set[str]],
                by_doc: dict[str, Article]) -> list[Alert]:
        alerts = []
        for doc_id, sub_ids in sorted(matched.items()):
            article = by_doc[doc_id]
            texts, parts = ArticleTexts.of(article), AlertParts.of(article, self.kibana_url)
            for sub_id in sorted(sub_ids):
                sub = subs_by_id.get(sub_id)
                if sub is not None:
                    alerts.append(build_alert(sub, article, texts.highlight(highlight_terms(sub.query)), self.kibana_url, parts))
        return alerts

    async def _plan(self, active: list[Subscription], subs: list[Subscription], allowed: frozenset[str],
                    fields: tuple[str, ...], doc_ids: list[str], keywords: dict[str, "KeywordFacts"] | None,
                    stats: BatchStats, documents: dict[str, dict[str, Any]] | None = None) -> MatchPlan:
        """doc id -> ids of the subscriptions of ``subs`` to try on it (all of
        them without pre-selection, or when it fails: it is an optimisation),
        less those decided from term vectors. The anchors index is made of
        all ``active`` ones (a set that changes only when subscriptions do,
        unlike ``subs``)."""
        started = time.perf_counter()
        plan = None
        if self.preselector is not None:
            try:
                if self.decide_in_python:
                    plan = await self.preselector.plan(active, fields, doc_ids, allowed=allowed, keywords=keywords,
                                                       documents=documents)
                    if documents is not None:  # not indexed: the few documents left, again with positions
                        await self.preselector.settle(active, fields, plan, documents, keywords)
                else:
                    plan = MatchPlan(await self.preselector.candidate_pairs(active, fields, doc_ids, allowed=allowed,
                                                                            documents=documents), {})
            except ApiError as exc:
                log.warning("matcher.preselection_failed", error=_reason(exc))
        if plan is None:
            plan = MatchPlan({doc_id: set(allowed) for doc_id in doc_ids}, {})
        stats.preselect_s = time.perf_counter() - started
        stats.pairs = sum(len(ids) for ids in plan.to_search.values())
        stats.decided_pairs = plan.decided_pairs
        stats.preselected_ids = frozenset(plan.preselected if plan.preselected is not None
                                          else set().union(*plan.to_search.values(), *plan.decided.values()))
        return plan

    def _shrink_chunks(self, failed_size: int, reason: str) -> None:
        """Too many clauses for the node (it depends on its heap): later batches
        use smaller chunks instead of failing and splitting every time."""
        smaller = max(MIN_CHUNK_SIZE, failed_size // 2)
        if smaller < self.chunk_size:
            log.warning("matcher.chunk_size_reduced", chunk_size=smaller, reason=reason[:200])
            self.chunk_size = smaller

    async def _index(self, documents: dict[str, dict[str, Any]], stats: BatchStats | None = None) -> None:
        started = time.perf_counter()
        try:
            await self._bulk_index(documents)
        finally:
            if stats is not None:
                stats.index_s += time.perf_counter() - started

    async def _bulk_index(self, documents: dict[str, dict[str, Any]]) -> None:
        operations: list[dict[str, Any]] = []
        for doc_id, document in documents.items():
            operations.append({"index": {"_index": self.scratch_index, "_id": doc_id}})
            operations.append(document)
        self.generation.docs += len(documents)
        response = await self.es.bulk(operations=operations, refresh=True)
        if response.get("errors"):
            failed = [item["index"] for item in response["items"] if item["index"].get("error")]
            reason = failed[0]["error"].get("reason", "unknown") if failed else "unknown"
            raise RuntimeError(f"scratch index refused {len(failed)} of {len(documents)} articles: {reason}")

    async def _matched_pairs(self, subs: list[Subscription], pairs: dict[str, set[str]], fields: tuple[str, ...],
                             stats: BatchStats, positions: dict[str, int] | None = None) -> dict[str, set[str]]:
        """doc id -> ids of the subscriptions that match it. Each candidate
        subscription is one named clause limited to its candidate articles;
        chunks of them go in a few msearch requests."""
        searches = candidate_searches(pairs, subs, self.chunk_size, positions)
        requests = _msearch_requests(searches, self.max_clauses_per_request)
        results = await asyncio.gather(*(self._msearch(request, fields, stats) for request in requests))
        merged: dict[str, set[str]] = {}
        for result in results:
            for doc_id, names in result.items():
                merged.setdefault(doc_id, set()).update(names)
        return merged

    async def _msearch(self, searches: list[tuple], fields: tuple[str, ...], stats: BatchStats) -> dict[str, set[str]]:
        body: list[dict[str, Any]] = []
        for subs, doc_ids, candidates in searches:
            body.append({})
            body.append(filters_search_body(subs, doc_ids, fields, candidates if self.clause_ids else None))
        async with self._searches:
            stats.searches += len(searches)
            answer = await self.es.msearch(index=self.scratch_index, searches=body)
        merged: dict[str, set[str]] = {}
        retries = []
        for (subs, doc_ids, _), response in zip(searches, answer["responses"]):
            if "error" in response:
                if response.get("status") != 400:
                    raise RuntimeError(f"scratch search failed ({response.get('status')}): {str(response['error'])[:300]}")
                retries.append(self._search_chunk(subs, doc_ids, fields, stats))  # splits until the culprit is alone
                continue
            for doc_id, names in matches_from_aggregation(response).items():
                merged.setdefault(doc_id, set()).update(names)
        for result in await asyncio.gather(*retries):
            for doc_id, names in result.items():
                merged.setdefault(doc_id, set()).update(names)
        return merged

    async def _search_chunk(self, subs: list[Subscription], doc_ids: list[str], fields: tuple[str, ...],
                            stats: BatchStats) -> dict[str, set[str]]:
        """Matches of one chunk; a refused chunk is split until the culprit is alone."""
        try:
            async with self._searches:
                stats.searches += 1
                response = await self.es.search(index=self.scratch_index, **chunk_search_body(subs, doc_ids, fields))
        except ApiError as exc:
            if exc.meta.status != 400:
                raise
            reason = _reason(exc)
            if any(marker in reason.lower() for marker in ("too many clauses", "too_many", "maxclausecount")):
                self._shrink_chunks(len(subs), reason)
            if len(subs) == 1:
                log.warning("matcher.subscription_refused", subscription_id=subs[0].id, error=_reason(exc))
                stats.skipped_subscriptions.append(subs[0].id)
                return {}
            half = len(subs) // 2
            left, right = await asyncio.gather(
                self._search_chunk(subs[:half], doc_ids, fields, stats),
                self._search_chunk(subs[half:], doc_ids, fields, stats),
            )
            for doc_id, names in right.items():
                left.setdefault(doc_id, set()).update(names)
            return left
        return matches_from_response(dict(response))


def _reason(exc: ApiError) -> str:
    from processors.es.client import describe_error

    return describe_error(exc)[:300]
