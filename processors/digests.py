"""Digests: hourly and daily summaries of a subscription's stories, and the
hourly rate cap of realtime subscriptions.

How an alert gets into a digest: the deliver agent does not send alerts of an
``hourly`` or ``daily`` subscription, nor those of a realtime one beyond its
``max_per_hour`` (``admit_realtime``); it queues them (``queue_for_digest``) as
documents of the ``alerts`` index with ``state: digest_pending`` (so Kibana and
`wirewatch alerts list` see them beside the deliveries). The rate-capped excess
of a realtime subscription goes to its hourly digest.

When a period ends (UTC, pure functions below), the leader worker's timer
(processors/agents/digest.py) calls ``run_due_digests``: for each subscription
with pending items queued before the end of its last completed period, one
digest groups the stories (each once, with its number of sources, read from the
articles index) and goes to every channel of the subscription.

Sent once: the digest id is a hash of the subscription and the period start.
It is claimed in ``indices.alert_claims`` with ``op_type=create`` before
anything is sent; a second trigger (another worker, a restart, the next tick)
finds the claim and stops. A claim left ``pending`` by a crash is taken over
after ``alerts.digest_lease_s`` (compare-and-set on the claim's sequence
number) and the digest is sent again with the same id, so receivers drop the
copy by ``webhook-id``. Items are assigned to the digest (``digest_id``) before
sending, so that a retry sends the same stories.

Rate cap counters are documents of ``alert_claims`` too, one per
(subscription, UTC hour), incremented by compare-and-set (this Elasticsearch
has no scripting); under heavy contention an alert goes to the digest rather
than over the cap.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import random
import smtplib
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any, Awaitable, Callable, Iterable

import structlog
from elasticsearch import ConflictError, NotFoundError

from wirewatch.names import Indices
from wirewatch.schema import Alert, ChannelSpec, Subscription, utcnow

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]

PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}
PENDING, ASSIGNED, DIGESTED, SENT_STATE = "digest_pending", "digest_assigned", "digested", "digest_sent"
CAS_ATTEMPTS = 8
MAX_DUE_SUBSCRIPTIONS = 10_000   # subscriptions with pending items looked at per tick
MAX_HIGHLIGHTS = 2

# Fields this module adds to the `alerts` index (its mapping is not dynamic).
DIGEST_FIELDS: dict[str, Any] = {
    "state": {"type": "keyword"},
    "digest_id": {"type": "keyword"},
    "digest_kind": {"type": "keyword"},
    "digest_reason": {"type": "keyword"},
    "queued_at": {"type": "date"},
    "digested_at": {"type": "date"},
    "story_count": {"type": "integer"},
}


# --- periods (pure, UTC) -------------------------------------------------------------

def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def digest_kind(sub: Subscription) -> str:
    """The digest a subscription's queued alerts go to: its own mode, or hourly
    for the excess of a rate-capped realtime subscription."""
    return sub.mode if sub.mode in PERIODS else "hourly"


def period_start(kind: str, at: datetime) -> datetime:
    at = _utc(at)
    if kind == "hourly":
        return at.replace(minute=0, second=0, microsecond=0)
    if kind == "daily":
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"unknown digest period {kind!r}; known: {sorted(PERIODS)}")


def period_bounds(kind: str, at: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the period that contains ``at``."""
    start = period_start(kind, at)
    return start, start + PERIODS[kind]


def last_completed_period(kind: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the latest period that has ended at ``now``."""
    end = period_start(kind, now)
    return end - PERIODS[kind], end


def digest_id(subscription_id: str, start: datetime) -> str:
    key = f"{subscription_id}\x00digest\x00{_utc(start).isoformat()}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def rate_counter_id(subscription_id: str, at: datetime) -> str:
    key = f"{subscription_id}\x00rate\x00{period_start('hourly', at).isoformat()}"
    return "rate-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def within_cap(sent_this_hour: int, cap: int | None) -> bool:
    return cap is None or sent_this_hour < cap


def queued_for_digest(sub: Subscription) -> bool:
    """Whether every alert of ``sub`` waits for a digest (its mode says so)."""
    return sub.mode in PERIODS


# --- grouping (pure) -----------------------------------------------------------------

@dataclass(frozen=True)
class DigestStory:
    story_id: str
    title: str
    url: str
    source: str
    published_at: str
    sources: int
    highlights: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    kibana_url: str = ""


@dataclass(frozen=True)
class Digest:
    id: str
    subscription_id: str
    subscription_name: str
    owner: str
    query: str
    kind: str
    period_start: datetime
    period_end: datetime
    stories: list[DigestStory]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "subscription_id": self.subscription_id, "subscription_name": self.subscription_name,
            "owner": self.owner, "query": self.query, "kind": self.kind,
            "period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat(),
            "story_count": len(self.stories),
            "stories": [vars(s) for s in self.stories],
        }


def group_stories(items: Iterable[dict[str, Any]], source_counts: dict[str, int]) -> list[DigestStory]:
    """One entry per story (the earliest-published item stands for it), most
    sources first, then newest. ``source_counts``: story id -> number of
    sources known to the articles index; the items' own distinct sources are
    the floor."""
    by_story: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        story = item.get("story_id") or item.get("article_id") or item.get("alert_id")
        if story:
            by_story.setdefault(str(story), []).append(item)
    stories = []
    for story, group in by_story.items():
        first = min(group, key=lambda i: str(i.get("published_at") or ""))
        seen_sources = {i.get("source") for i in group if i.get("source")}
        stories.append(DigestStory(
            story_id=story,
            title=str(first.get("title") or ""),
            url=str(first.get("url") or ""),
            source=str(first.get("source") or ""),
            published_at=str(first.get("published_at") or ""),
            sources=max(int(source_counts.get(story, 0) or 0), len(seen_sources), 1),
            highlights=list(first.get("highlights") or [])[:MAX_HIGHLIGHTS],
            topics=list(first.get("topics") or []),
            kibana_url=str(first.get("kibana_url") or ""),
        ))
    stories.sort(key=lambda s: s.published_at, reverse=True)
    stories.sort(key=lambda s: s.sources, reverse=True)  # stable: newest first among equals
    return stories


def build_digest(sub: Subscription, start: datetime, end: datetime, items: list[dict[str, Any]],
                 source_counts: dict[str, int]) -> Digest:
    return Digest(id=digest_id(sub.id, start), subscription_id=sub.id, subscription_name=sub.name, owner=sub.owner,
                  query=sub.query, kind=digest_kind(sub), period_start=start, period_end=end,
                  stories=group_stories(items, source_counts))


# --- what each channel receives (pure) ----------------------------------------------

def webhook_body(digest: Digest) -> bytes:
    payload = {"type": "digest.ready", "timestamp": digest.period_end.isoformat(), "data": digest.as_json()}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _heading(digest: Digest) -> str:
    from processors.delivery.formatting import one_line

    return (f"{one_line(digest.subscription_name, 100)}: {len(digest.stories)} "
            f"stor{'y' if len(digest.stories) == 1 else 'ies'}, {digest.kind} digest, "
            f"{digest.period_start:%Y-%m-%d %H:%M}–{digest.period_end:%H:%M} UTC")


def slack_body(digest: Digest, max_lines: int = 50) -> bytes:
    from processors.delivery.formatting import one_line
    from processors.delivery.slack import _link, escape

    lines = [f"*{escape(_heading(digest))}*"]
    for story in digest.stories[:max_lines]:
        lines.append(f"• {_link(story.url, one_line(story.title) or '(no title)')} — "
                     f"{escape(one_line(story.source, 100))}, {story.sources} source(s)")
    if len(digest.stories) > max_lines:
        lines.append(f"… and {len(digest.stories) - max_lines} more")
    return json.dumps({"text": "\n".join(lines)}, ensure_ascii=False).encode("utf-8")


def email_text(digest: Digest) -> str:
    from processors.delivery.formatting import clean, one_line, plain_highlight

    lines = [_heading(digest), f"Query: {one_line(digest.query)}", ""]
    for story in digest.stories:
        lines.append(f"* {one_line(story.title) or '(no title)'}")
        lines.append(f"  {clean(story.url, 2048)}")
        lines.append(f"  {one_line(story.source)}, {story.sources} source(s), published {story.published_at[:16]}")
        lines.extend(f"  … {plain_highlight(h)} …" for h in story.highlights)
        lines.append("")
    return "\n".join(lines) + "\n"


def email_html(digest: Digest) -> str:
    from processors.delivery.email import _a
    from processors.delivery.formatting import html_highlight, one_line

    esc = html.escape
    items = []
    for story in digest.stories:
        quotes = "".join(f"<blockquote>{html_highlight(h)}</blockquote>" for h in story.highlights)
        items.append(f"<li>{_a(story.url, one_line(story.title) or '(no title)')}<br>"
                     f"{esc(one_line(story.source))}, {story.sources} source(s), "
                     f"published {esc(story.published_at[:16])}{quotes}</li>")
    return (f"<!doctype html><html><body><h2>{esc(_heading(digest))}</h2>"
            f"<p>Query: <code>{esc(one_line(digest.query))}</code></p><ol>{''.join(items)}</ol></body></html>")


def email_message(digest: Digest, to: list[str], sender: str) -> EmailMessage:
    from processors.delivery.email import envelope

    return envelope(_heading(digest), to, sender, "X-Wirewatch-Digest-Id", digest.id,
                    email_text(digest), email_html(digest))


# --- sending (the same channels, address rules and retry policy as alerts) ---------

async def deliver_digest(digest: Digest, channel: ChannelSpec, settings, *, sleep: Sleep = asyncio.sleep,
                         rng: random.Random | None = None):
    """Send ``digest`` on ``channel`` with bounded retries; returns a DeliveryResult."""
    from processors.delivery import DeliveryResult, target_of
    from processors.delivery import email as email_channel
    from processors.delivery.http import HttpAnswer, TargetRefused, new_client, policy_for, post
    from processors.delivery.policy import RetryPolicy, Verdict, classify
    from processors.delivery.signing import BadSecret, signature_headers

    started = time.monotonic()
    try:
        target = target_of(channel)
    except email_channel.EmailTargetInvalid as exc:
        return DeliveryResult(False, 0, error=str(exc), channel=channel.type)
    policy, address_policy = RetryPolicy.from_settings(settings.alerts), policy_for(settings.alerts)
    client = new_client(settings.alerts.webhook_timeout_s) if channel.type in ("webhook", "slack") else None

    async def once() -> HttpAnswer:
        if channel.type == "webhook":
            body = webhook_body(digest)
            return await post(client, channel.url or "", body, signature_headers(digest.id, body, channel.secret),
                              address_policy)
        if channel.type == "slack":
            return await post(client, channel.url or "", slack_body(digest), {}, address_policy)
        if channel.type == "email":
            return await _send_email(digest, channel, settings, address_policy)
        raise TargetRefused(f"unknown channel type {channel.type!r}")

    attempt, last, verdict = 0, HttpAnswer(None, error="not attempted"), Verdict.GIVE_UP
    try:
        while attempt < policy.max_attempts:
            attempt += 1
            try:
                last = await once()
            except (TargetRefused, BadSecret, email_channel.EmailTargetInvalid) as exc:
                last, verdict = HttpAnswer(None, error=str(exc)), Verdict.GIVE_UP
                break
            verdict = last.verdict or classify(last.status)
            log.info("digest.attempt", digest_id=digest.id, channel=channel.type, target=target, attempt=attempt,
                     status=last.status, verdict=verdict.value)
            if not policy.should_retry(verdict, attempt):
                break
            await sleep(policy.delay(attempt, last.retry_after_s, rng))
    finally:
        if client is not None:
            await client.close()
    return DeliveryResult(ok=verdict is Verdict.DELIVERED, attempts=attempt, status=last.status,
                          disabled=verdict is Verdict.DISABLE,
                          error=None if verdict is Verdict.DELIVERED else (last.error or verdict.value),
                          channel=channel.type, target=target, seconds=time.monotonic() - started)


async def _send_email(digest: Digest, channel: ChannelSpec, settings, address_policy):
    from processors.delivery import email as email_channel
    from processors.delivery.http import HttpAnswer, TargetRefused
    from processors.delivery.policy import Verdict
    from producers.safety import RefusedAddress, ResolveError

    host, port = email_channel.smtp_target(channel)
    to = email_channel.recipients(channel)
    try:
        address = (await address_policy.resolve(host, port))[0]
    except RefusedAddress as exc:
        raise TargetRefused(str(exc).replace("producer.allow_hosts", "alerts.allow_hosts")) from None
    except ResolveError as exc:
        return HttpAnswer(None, error=f"DNS: {exc}")
    msg = email_message(digest, to, settings.alerts.email_from)
    try:
        await email_channel.send(str(address), port, host, msg, to, settings.alerts.webhook_timeout_s)
    except smtplib.SMTPResponseException as exc:
        verdict = Verdict.RETRY if 400 <= exc.smtp_code < 500 else Verdict.GIVE_UP
        return HttpAnswer(exc.smtp_code, error=f"SMTP {exc.smtp_code}"[:300], verdict=verdict)
    except (OSError, smtplib.SMTPException, asyncio.TimeoutError) as exc:
        return HttpAnswer(None, error=f"SMTP: {type(exc).__name__}: {str(exc)[:200]}")
    return HttpAnswer(250, verdict=Verdict.DELIVERED)


# --- Elasticsearch: queue, rate cap, claims ------------------------------------------

_mapped: set[str] = set()


async def ensure_digest_fields(es, indices: Indices) -> None:
    """The alerts index with this module's fields (adding fields is idempotent)."""
    if indices.alerts in _mapped:
        return
    from processors.delivery.records import ensure_alerts_index_async

    await ensure_alerts_index_async(es, indices)
    await es.indices.put_mapping(index=indices.alerts, properties=DIGEST_FIELDS)
    _mapped.add(indices.alerts)


def pending_id(alert: Alert) -> str:
    return f"{alert.id}-digest"


def pending_document(alert: Alert, kind: str, reason: str, now: datetime) -> dict[str, Any]:
    from types import SimpleNamespace

    from processors.delivery.records import delivery_record

    queued = SimpleNamespace(channel="digest", target=kind, ok=None, disabled=False, attempts=0, status=None,
                             error=None, seconds=0.0)
    return {**delivery_record(alert, queued, now), "state": PENDING, "digest_kind": kind, "digest_reason": reason,
            "queued_at": _utc(now).isoformat()}


async def queue_for_digest(es, indices: Indices, alert: Alert, sub: Subscription, reason: str,
                           now: datetime | None = None) -> bool:
    """Record ``alert`` for the next digest of ``sub``; False when it was queued
    already (a replay: create never overwrites an item a digest has taken)."""
    await ensure_digest_fields(es, indices)
    try:
        await es.create(index=indices.alerts, id=pending_id(alert),
                        document=pending_document(alert, digest_kind(sub), reason, now or utcnow()))
    except ConflictError:
        return False
    log.info("digest.queued", alert_id=alert.id, subscription_id=sub.id, reason=reason)
    return True


async def admit_realtime(es, indices: Indices, sub: Subscription, now: datetime | None = None) -> bool:
    """Whether one more realtime alert of ``sub`` fits under its hourly cap (and count it)."""
    if sub.max_per_hour is None:
        return True
    now = now or utcnow()
    counter = rate_counter_id(sub.id, now)
    for _ in range(CAS_ATTEMPTS):
        try:
            hit = await es.get(index=indices.alert_claims, id=counter)
        except NotFoundError:
            try:
                await es.create(index=indices.alert_claims, id=counter, document={
                    "kind": "rate", "subscription_id": sub.id, "count": 1,
                    "hour": period_start("hourly", now).isoformat()})
                return True
            except ConflictError:
                continue  # another worker counted first: read its count
        count = int(hit["_source"].get("count", 0))
        if not within_cap(count, sub.max_per_hour):
            return False
        try:
            await es.index(index=indices.alert_claims, id=counter, if_seq_no=hit["_seq_no"],
                           if_primary_term=hit["_primary_term"], document={**hit["_source"], "count": count + 1})
            return True
        except ConflictError:
            continue
    log.warning("digest.rate_cap_contention", subscription_id=sub.id)
    return False


async def route_alert(es, indices: Indices, sub: Subscription, alert: Alert, now: datetime | None = None) -> str:
    """What the deliver agent does with one alert of ``sub``: ``"deliver"`` it now,
    or it was ``"queued"`` for a digest (mode, or over the rate cap), or it was
    queued already (``"duplicate"``, a replay)."""
    if queued_for_digest(sub):
        reason = "mode"
    elif await admit_realtime(es, indices, sub, now):
        return "deliver"
    else:
        reason = "rate_cap"
    return "queued" if await queue_for_digest(es, indices, alert, sub, reason, now) else "duplicate"


async def claim_digest(es, indices: Indices, digest: str, sub_id: str, start: datetime, now: datetime,
                       lease_s: float) -> bool:
    """True when this caller must send digest ``digest``: a fresh claim, or the
    takeover of one left pending longer than ``lease_s`` (a crash)."""
    document = {"kind": "digest", "subscription_id": sub_id, "period_start": _utc(start).isoformat(),
                "state": "pending", "claimed_at": _utc(now).isoformat()}
    try:
        await es.create(index=indices.alert_claims, id=digest, document=document, refresh=True)
        return True
    except ConflictError:
        pass
    hit = await es.get(index=indices.alert_claims, id=digest)
    source = hit["_source"]
    if source.get("state") != "pending" or not lease_expired(source.get("claimed_at"), now, lease_s):
        return False
    try:
        await es.index(index=indices.alert_claims, id=digest, document=document, if_seq_no=hit["_seq_no"],
                       if_primary_term=hit["_primary_term"], refresh=True)
    except ConflictError:
        return False  # another worker took it over first
    log.warning("digest.retaken", digest_id=digest, subscription_id=sub_id)
    return True


def lease_expired(claimed_at: str | None, now: datetime, lease_s: float) -> bool:
    try:
        claimed = _utc(datetime.fromisoformat(str(claimed_at)))
    except ValueError:
        return True
    return (_utc(now) - claimed).total_seconds() >= lease_s


async def finish_claim(es, indices: Indices, digest: str, state: str, stories: int) -> None:
    await es.update(index=indices.alert_claims, id=digest, refresh=True,
                    doc={"state": state, "stories": stories, "finished_at": utcnow().isoformat()})


# --- Elasticsearch: items and source counts ------------------------------------------

def pending_query(sub_id: str, before: datetime) -> dict[str, Any]:
    return {"bool": {"filter": [{"term": {"subscription_id": sub_id}}, {"term": {"state": PENDING}},
                                {"range": {"queued_at": {"lt": _utc(before).isoformat()}}}]}}


async def assign_items(es, indices: Indices, sub_id: str, digest: str, before: datetime, limit: int) -> int:
    """Mark up to ``limit`` pending items of ``sub_id`` queued before ``before`` as
    this digest's; returns how many."""
    response = await es.search(index=indices.alerts, query=pending_query(sub_id, before), size=limit,
                               sort=[{"queued_at": "asc"}], source=False)
    ids = [hit["_id"] for hit in response["hits"]["hits"]]
    if ids:
        operations: list[dict[str, Any]] = []
        for doc_id in ids:
            operations += [{"update": {"_index": indices.alerts, "_id": doc_id}},
                           {"doc": {"state": ASSIGNED, "digest_id": digest}}]
        await es.bulk(operations=operations, refresh="wait_for")
    return len(ids)


async def assigned_items(es, indices: Indices, digest: str, limit: int) -> list[tuple[str, dict[str, Any]]]:
    response = await es.search(index=indices.alerts, size=limit, sort=[{"queued_at": "asc"}],
                               query={"bool": {"filter": [{"term": {"digest_id": digest}},
                                                          {"term": {"state": ASSIGNED}}]}})
    return [(hit["_id"], hit["_source"]) for hit in response["hits"]["hits"]]


async def mark_digested(es, indices: Indices, ids: list[str], now: datetime) -> None:
    operations: list[dict[str, Any]] = []
    for doc_id in ids:
        operations += [{"update": {"_index": indices.alerts, "_id": doc_id}},
                       {"doc": {"state": DIGESTED, "digested_at": _utc(now).isoformat()}}]
    if operations:
        await es.bulk(operations=operations, refresh="wait_for")


async def story_source_counts(es, indices: Indices, story_ids: list[str]) -> dict[str, int]:
    """Story id -> sources: the larger of the enrichment's ``story_sources`` and
    the distinct domains indexed for the story. {} when the articles index
    cannot say (logged): a digest without counts beats no digest."""
    if not story_ids:
        return {}
    try:
        response = await es.search(
            index=indices.articles, size=0, query={"terms": {"story_id": story_ids}},
            aggs={"stories": {"terms": {"field": "story_id", "size": len(story_ids)},
                              "aggs": {"declared": {"max": {"field": "story_sources"}},
                                       "domains": {"cardinality": {"field": "domain"}}}}})
    except NotFoundError:
        return {}
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.warning("digest.source_counts_failed", error=str(exc)[:300])
        return {}
    counts = {}
    for bucket in response.get("aggregations", {}).get("stories", {}).get("buckets", []):
        declared = bucket.get("declared", {}).get("value") or 0
        counts[str(bucket["key"])] = int(max(declared, bucket.get("domains", {}).get("value") or 0))
    return counts


async def subscriptions_with_pending(es, indices: Indices, before: datetime) -> dict[str, datetime]:
    """Subscription id -> when its oldest pending item was queued, for items queued before ``before``."""
    if not await es.indices.exists(index=indices.alerts):
        return {}
    await ensure_digest_fields(es, indices)
    response = await es.search(
        index=indices.alerts, size=0,
        query={"bool": {"filter": [{"term": {"state": PENDING}},
                                   {"range": {"queued_at": {"lt": _utc(before).isoformat()}}}]}},
        aggs={"subs": {"terms": {"field": "subscription_id", "size": MAX_DUE_SUBSCRIPTIONS},
                       "aggs": {"oldest": {"min": {"field": "queued_at"}}}}})
    return {str(b["key"]): datetime.fromtimestamp(b["oldest"]["value"] / 1000, timezone.utc)
            for b in response["aggregations"]["subs"]["buckets"] if b["oldest"].get("value") is not None}


def is_due(kind: str, oldest_queued: datetime, now: datetime) -> bool:
    """Whether a subscription whose oldest pending item was queued at
    ``oldest_queued`` has a digest to send at ``now`` (pure)."""
    return _utc(oldest_queued) < last_completed_period(kind, now)[1]


def digest_record(digest: Digest, result, now: datetime) -> dict[str, Any]:
    """What the alerts index keeps of one digest delivery."""
    return {
        "alert_id": digest.id, "digest_id": digest.id, "subscription_id": digest.subscription_id,
        "subscription_name": digest.subscription_name, "owner": digest.owner, "query": digest.query,
        "title": f"{digest.kind} digest: {len(digest.stories)} stories", "story_count": len(digest.stories),
        "state": SENT_STATE, "digest_kind": digest.kind, "channel": result.channel, "target": result.target,
        "ok": result.ok, "disabled": result.disabled, "attempts": result.attempts, "status": result.status,
        "error": result.error, "delivery_seconds": round(result.seconds, 4),
        "matched_at": digest.period_end.isoformat(), "recorded_at": _utc(now).isoformat(),
    }


# --- one digest, and every due one ---------------------------------------------------

@dataclass
class DigestOutcome:
    subscription_id: str
    digest_id: str
    sent: bool                      # this call sent it (False: not due, empty, or sent by another)
    stories: int = 0
    results: list = field(default_factory=list)


async def run_digest(es, indices: Indices, settings, sub: Subscription, now: datetime, *,
                     sleep: Sleep = asyncio.sleep) -> DigestOutcome:
    """Send the digest of ``sub``'s last completed period if it is due and
    nobody sent it yet."""
    kind = digest_kind(sub)
    start, end = last_completed_period(kind, now)
    did = digest_id(sub.id, start)
    outcome = DigestOutcome(sub.id, did, sent=False)
    await ensure_digest_fields(es, indices)
    waiting = await es.count(index=indices.alerts, query=pending_query(sub.id, end))
    if not waiting["count"] and not await _has_assigned(es, indices, did):
        return outcome
    if not await claim_digest(es, indices, did, sub.id, start, now, settings.alerts.digest_lease_s):
        return outcome
    limit = settings.alerts.digest_max_stories
    await assign_items(es, indices, sub.id, did, end, limit)
    items = await assigned_items(es, indices, did, limit)
    if not items:
        await finish_claim(es, indices, did, "empty", 0)
        return outcome
    sources = [item for _, item in items]
    counts = await story_source_counts(es, indices, sorted({str(i.get("story_id")) for i in sources if i.get("story_id")}))
    digest = build_digest(sub, start, end, sources, counts)
    outcome.stories, outcome.sent = len(digest.stories), True
    for channel in sub.channels:
        if channel.type == "kafka" or channel.disabled:
            continue
        result = await deliver_digest(digest, channel, settings, sleep=sleep)
        outcome.results.append(result)
        await _record(es, indices, digest, result)
        if result.disabled and channel.url:
            from processors.subscriptions import disable_channel_async

            await disable_channel_async(es, indices, sub.id, channel.url)
    await mark_digested(es, indices, [doc_id for doc_id, _ in items], now)
    await finish_claim(es, indices, did, "sent", len(digest.stories))
    log.info("digest.sent", digest_id=did, subscription_id=sub.id, kind=kind, stories=len(digest.stories),
             ok=[r.ok for r in outcome.results])
    return outcome


async def _has_assigned(es, indices: Indices, did: str) -> bool:
    """Items assigned to a digest that a crash left unsent."""
    answer = await es.count(index=indices.alerts, query={"bool": {"filter": [{"term": {"digest_id": did}},
                                                                            {"term": {"state": ASSIGNED}}]}})
    return answer["count"] > 0


async def _record(es, indices: Indices, digest: Digest, result) -> None:
    from processors.delivery.records import record_id

    record_key = record_id(Alert.model_construct(id=digest.id), result)
    try:
        await es.index(index=indices.alerts, id=record_key, document=digest_record(digest, result, utcnow()))
    except Exception as exc:  # noqa: BLE001 - the record is secondary to the delivery
        log.warning("digest.record_failed", digest_id=digest.id, error=str(exc)[:300])


async def run_due_digests(es, indices: Indices, settings, now: datetime | None = None, *,
                          sleep: Sleep = asyncio.sleep) -> list[DigestOutcome]:
    """Every digest due at ``now``: what the leader's timer calls. One
    subscription's failure is logged and does not stop the others."""
    from processors.subscriptions import load_active_async

    now = _utc(now or utcnow())
    oldest = await subscriptions_with_pending(es, indices, period_start("hourly", now))
    if not oldest:
        return []
    # a deleted or switched-off subscription is not loaded: its items wait (and show in Kibana)
    subs = [s for s in await load_active_async(es, indices) if s.id in oldest]
    outcomes = []
    for sub in subs:
        if not is_due(digest_kind(sub), oldest[sub.id], now):
            continue
        try:
            outcomes.append(await run_digest(es, indices, settings, sub, now, sleep=sleep))
        except Exception as exc:  # noqa: BLE001 - next tick tries again; the claim lease covers a half-done one
            log.warning("digest.failed", subscription_id=sub.id, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    return outcomes
