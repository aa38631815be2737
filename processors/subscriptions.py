"""Alert subscriptions: stored in the Elasticsearch index ``indices.subscriptions``.

Why Elasticsearch is the system of record (and not a compacted Kafka topic):
the things done with subscriptions are lookups (by id, by owner, active only),
which a topic cannot answer without every reader replaying it into a table of
its own; the CLI and the API need read-your-writes (``refresh=true``: writes are rare) and
a query by owner; the store lives next to the articles and alerts it refers to,
so Kibana shows all three, and it is backed up with them (snapshots). The
matcher only needs "all active subscriptions, a few seconds fresh", which a
reload when the index changed gives (``CachedSubscriptions``). Rebuild = restore the index
from a snapshot, or re-``put`` from an export (``subs list --json``).

Note: channel secrets (webhook HMAC keys) are stored in the document, not
indexed; whoever can read this index can read them. Restrict it in a secured
cluster.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Iterable

import structlog
from elasticsearch import NotFoundError

from processors.query_validation import QueryRejected, parse
from wirewatch.names import Indices
from wirewatch.schema import SchemaError, Subscription

log = structlog.get_logger(__name__)

PAGE_SIZE = 2000
MAX_SUBSCRIPTIONS = 200_000   # bound on what one load brings into memory
MAX_LIST = 10_000

SUBSCRIPTIONS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "name": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
        "owner": {"type": "keyword"},
        "query": {"type": "text", "index": False},
        "filters": {
            "properties": {
                "languages": {"type": "keyword"},
                "sources": {"type": "keyword"},
                "topics": {"type": "keyword"},
                "countries": {"type": "keyword"},
            }
        },
        "channels": {"type": "object", "enabled": False},
        "mode": {"type": "keyword"},
        "max_per_hour": {"type": "integer"},
        "active": {"type": "boolean"},
        "created_at": {"type": "date"},
    },
}


class SubscriptionInvalid(ValueError):
    """A subscription that cannot be saved: the text says why."""


def ensure_index(es, indices: Indices) -> None:
    """Create the subscriptions index if it is missing (idempotent)."""
    if es.indices.exists(index=indices.subscriptions):
        return
    try:
        es.indices.create(
            index=indices.subscriptions,
            mappings=SUBSCRIPTIONS_MAPPING,
            settings={"number_of_shards": 1, "number_of_replicas": 0},
        )
    except Exception as exc:  # two processes raced to create it
        if "resource_already_exists_exception" not in str(exc):
            raise


def check(sub: Subscription) -> None:
    """Validate what ``put`` would store; raise SubscriptionInvalid / QueryRejected."""
    if not sub.id or len(sub.id) > 128 or any(c in sub.id for c in "/\\ \t\n"):
        raise SubscriptionInvalid(f"subscription id {sub.id!r}: 1-128 characters, no slash or space")
    if not sub.name.strip() or len(sub.name) > 200:
        raise SubscriptionInvalid("subscription name: 1-200 characters")
    parse(sub.query)
    for channel in sub.channels:
        check_channel(channel)


def check_channel(channel) -> None:
    """What can be known before the first delivery (addresses are checked at
    delivery time: DNS answers change)."""
    from urllib.parse import urlsplit

    from processors.delivery.signing import BadSecret, decode_secret

    if channel.type in ("webhook", "slack"):
        if not channel.url:
            raise SubscriptionInvalid(f"{channel.type} channel needs a url")
        try:
            parts = urlsplit(channel.url)
        except ValueError as exc:
            raise SubscriptionInvalid(f"{channel.type} url: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SubscriptionInvalid(f"{channel.type} url must be http(s)://host/..., not {channel.url[:100]!r}")
    if channel.secret:
        try:
            decode_secret(channel.secret)
        except BadSecret as exc:
            raise SubscriptionInvalid(str(exc)) from None
    if channel.type == "email":
        from processors.delivery.email import EmailTargetInvalid, recipients, smtp_target

        try:
            recipients(channel)
            smtp_target(channel)
        except EmailTargetInvalid as exc:
            raise SubscriptionInvalid(str(exc)) from None


def needs_delivery(sub: Subscription) -> bool:
    """Whether the deliver agent has work for this subscription's alerts: a channel other
    than the alerts topic still enabled, a digest mode, or a rate cap. The others' alerts
    only go to the alerts topic: at ~15 alerts per article, a Kafka message the worker
    consumes only to skip it cost as much as the matching."""
    return sub.mode != "realtime" or sub.max_per_hour is not None or \
        any(channel.type != "kafka" and not channel.disabled for channel in sub.channels)


def to_document(sub: Subscription) -> dict[str, Any]:
    return sub.model_dump(mode="json")


def from_hit(hit: dict[str, Any]) -> Subscription | None:
    """A stored document as a Subscription; None (logged) for a corrupt one, so
    one bad document cannot stop matching for everyone else."""
    try:
        return Subscription.from_json(hit["_source"])
    except (SchemaError, KeyError) as exc:
        log.warning("subscriptions.corrupt_document", doc_id=hit.get("_id"), error=str(exc))
        return None


def active_query(owner: str | None = None, active_only: bool = True) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    if active_only:
        filters.append({"term": {"active": True}})
    if owner is not None:
        filters.append({"term": {"owner": owner}})
    return {"bool": {"filter": filters}} if filters else {"match_all": {}}


class SubscriptionStore:
    """CRUD on the subscriptions index with a sync Elasticsearch client."""

    def __init__(self, es, indices: Indices):
        self.es = es
        self.indices = indices
        self._index_ready = False

    def _ready(self) -> None:
        if not self._index_ready:
            ensure_index(self.es, self.indices)
            self._index_ready = True

    def put(self, sub: Subscription, *, validate_on_server: bool = True) -> Subscription:
        """Validate and store (create or replace); visible to searches on return."""
        check(sub)
        if validate_on_server:
            self._validate_on_server(sub)
        self._ready()
        self.es.index(index=self.indices.subscriptions, id=sub.id, document=to_document(sub), refresh=True)
        log.info("subscriptions.put", subscription_id=sub.id, owner=sub.owner)
        return sub

    def _validate_on_server(self, sub: Subscription) -> None:
        from processors.query_validation import validate

        if self.es.indices.exists(index=self.indices.articles):
            validate(sub.query, self.es, self.indices.articles)

    def disable_channel(self, sub_id: str, url: str) -> Subscription | None:
        """After a 410 Gone: drop the channel with this URL; a subscription left
        without any channel is deactivated. Returns the updated subscription.
        (A ``disabled`` flag on ChannelSpec would keep the channel visible: see
        the report to the lead.)"""
        sub = self.get(sub_id)
        if sub is None:
            return None
        updated = without_channel(sub, url)
        if updated is None:
            return sub
        self._ready()
        self.es.index(index=self.indices.subscriptions, id=sub.id, document=to_document(updated), refresh=True)
        log.warning("subscriptions.channel_disabled", subscription_id=sub_id, remaining=len(updated.channels), active=updated.active)
        return updated

    def get(self, sub_id: str) -> Subscription | None:
        self._ready()
        try:
            hit = self.es.get(index=self.indices.subscriptions, id=sub_id)
        except NotFoundError:
            return None
        return from_hit(dict(hit))

    def delete(self, sub_id: str) -> bool:
        """True when it existed."""
        self._ready()
        try:
            self.es.delete(index=self.indices.subscriptions, id=sub_id, refresh=True)
        except NotFoundError:
            return False
        log.info("subscriptions.deleted", subscription_id=sub_id)
        return True

    def list(self, owner: str | None = None, active_only: bool = False, limit: int = MAX_LIST) -> list[Subscription]:
        return list(self._iterate(active_query(owner, active_only), limit))

    def all_active(self) -> list[Subscription]:
        return list(self._iterate(active_query(None, True), MAX_SUBSCRIPTIONS))

    def _iterate(self, query: dict[str, Any], limit: int) -> Iterable[Subscription]:
        self._ready()
        after = None
        seen = 0
        while seen < limit:
            page = self.es.search(**search_page(self.indices, query, after, min(PAGE_SIZE, limit - seen)))
            hits = page["hits"]["hits"]
            for hit in hits:
                sub = from_hit(hit)
                if sub is not None:
                    yield sub
            seen += len(hits)
            if len(hits) < PAGE_SIZE:
                return
            after = hits[-1]["sort"]
        log.warning("subscriptions.list_truncated", limit=limit)


def search_page(indices: Indices, query: dict[str, Any], after: list | None, size: int) -> dict[str, Any]:
    """Arguments of one page of a search_after walk, sorted by id (stable)."""
    args: dict[str, Any] = {
        "index": indices.subscriptions,
        "query": query,
        "size": size,
        "sort": [{"id": "asc"}],
        "track_total_hits": False,
    }
    if after is not None:
        args["search_after"] = after
    return args


async def load_active_async(es_async, indices: Indices, limit: int = MAX_SUBSCRIPTIONS) -> list[Subscription]:
    """Every active subscription, with an AsyncElasticsearch client."""
    if not await es_async.indices.exists(index=indices.subscriptions):
        return []
    subs: list[Subscription] = []
    after = None
    while len(subs) < limit:
        page = await es_async.search(**search_page(indices, active_query(), after, min(PAGE_SIZE, limit - len(subs))))
        hits = page["hits"]["hits"]
        subs.extend(s for s in map(from_hit, hits) if s is not None)
        if len(hits) < PAGE_SIZE:
            return subs
        after = hits[-1]["sort"]
    log.warning("subscriptions.load_truncated", limit=limit)
    return subs


def without_channel(sub: Subscription, url: str) -> Subscription | None:
    """The subscription with the channel at ``url`` marked disabled (kept, so that its
    owner sees what happened; deactivated when no enabled channel is left), or None
    when it has no such enabled channel (pure)."""
    if not any(c.url == url and not c.disabled for c in sub.channels):
        return None
    channels = [c.model_copy(update={"disabled": True}) if c.url == url else c for c in sub.channels]
    return sub.model_copy(update={"channels": channels, "active": sub.active and any(not c.disabled for c in channels)})


async def disable_channel_async(es_async, indices: Indices, sub_id: str, url: str) -> Subscription | None:
    """``SubscriptionStore.disable_channel`` for the delivery agent (AsyncElasticsearch):
    call it when ``DeliveryResult.disabled`` (410 Gone)."""
    try:
        hit = await es_async.get(index=indices.subscriptions, id=sub_id)
    except NotFoundError:
        return None
    sub = from_hit(dict(hit))
    updated = without_channel(sub, url) if sub is not None else None
    if updated is None:
        return sub
    await es_async.index(index=indices.subscriptions, id=sub_id, document=to_document(updated), refresh=True)
    log.warning("subscriptions.channel_disabled", subscription_id=sub_id, remaining=len(updated.channels), active=updated.active)
    return updated


class StaticSubscriptions:
    """A fixed list (tests, benchmarks)."""

    def __init__(self, subs: list[Subscription]):
        self.subs = [s for s in subs if s.active]

    async def active(self) -> list[Subscription]:
        return self.subs


FULL_RELOAD_S = 300.0   # re-read everything at least this often, changed or not


class CachedSubscriptions:
    """The active subscriptions for the matcher and the deliver agent, re-read
    only when the subscriptions index changed. Every ``refresh_s`` seconds
    (settings.alerts.subscriptions_refresh_s) one size-0 search reads a
    fingerprint (documents, sum of ``_seq_no``: any create, update or delete
    changes it, on any number of shards, since a write gives its document a
    higher ``_seq_no``; and it is what searches see, so a change not yet
    refreshed is seen once it is). Re-reading and parsing 10,000 subscriptions
    every 2 s cost a worker a third of a core per agent; and an unchanged list
    keeps its identity, so the matcher keeps its derived indexes. When a check
    or reload fails, the previous list keeps serving (logged): a blip of
    Elasticsearch should not stop alerts for subscriptions we already know."""

    def __init__(self, es_async, indices: Indices, refresh_s: float, full_reload_s: float = FULL_RELOAD_S,
                 clock=time.monotonic):
        self.es = es_async
        self.indices = indices
        self.refresh_s = refresh_s
        self.full_reload_s = full_reload_s
        self.clock = clock
        self._subs: list[Subscription] | None = None
        self._by_id: dict[str, Subscription] = {}
        self._fingerprint: tuple | None = None
        self._checked_at = self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def is_stale(self) -> bool:
        return self._subs is None or self.clock() - self._checked_at >= self.refresh_s

    async def active(self) -> list[Subscription]:
        if self.is_stale():
            async with self._lock:
                if self.is_stale():
                    await self._refresh()
        return self._subs or []

    async def by_id(self) -> dict[str, Subscription]:
        """The active subscriptions by id (the deliver agent looks one up per alert)."""
        await self.active()
        return self._by_id

    async def _refresh(self) -> None:
        try:
            fingerprint = await self._read_fingerprint()   # before the reload: a change during it is seen next time
            if self._subs is None or fingerprint != self._fingerprint or self.clock() - self._loaded_at >= self.full_reload_s:
                subs = await load_active_async(self.es, self.indices)
                if self._subs is None or len(subs) != len(self._subs):
                    log.info("subscriptions.loaded", count=len(subs))
                self._subs, self._by_id = subs, {s.id: s for s in subs}
                self._fingerprint, self._loaded_at = fingerprint, self.clock()
        except Exception as exc:  # noqa: BLE001 - keep serving the last good list
            if self._subs is None:
                raise
            log.warning("subscriptions.reload_failed", error=str(exc)[:300], kept=len(self._subs))
        self._checked_at = self.clock()

    async def _read_fingerprint(self) -> tuple:
        answer = await self.es.options(ignore_status=404).search(
            index=self.indices.subscriptions, size=0, track_total_hits=True,
            aggs={"seq": {"sum": {"field": "_seq_no"}}})
        if answer.meta.status == 404:
            return ("missing",)
        return (answer["hits"]["total"]["value"], answer["aggregations"]["seq"]["value"])


__all__ = [
    "CachedSubscriptions",
    "QueryRejected",
    "StaticSubscriptions",
    "SubscriptionInvalid",
    "SubscriptionStore",
    "disable_channel_async",
    "ensure_index",
    "load_active_async",
]
