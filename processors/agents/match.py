"""Match agent: articles.enriched -> every active subscription at once -> alerts.

One alert per story per subscription: the alert id is a hash of both, and the
alert is claimed in the `alert_claims` index with op_type=create before it is sent.
A claim that exists already is a duplicate (another copy of the story, a
replay, a second worker) and is dropped, unless it was claimed but never
confirmed as sent (a crash in between): then it is sent again, with the same
id, so that receivers can drop the copy.
"""

from __future__ import annotations

import asyncio

import faust
import structlog

from processors.agents.failures import send_dead_letter, with_retries
from processors.agents.index import parse_batch
from processors.context import WorkerContext
from wirewatch.schema import Alert, utcnow

log = structlog.get_logger(__name__)
MAX_BACKOFF_S = 30.0
# How long the match agent waits to fill a batch: latency to the alert matters more
# than batch size. bench alerts at 50 articles/s, 10k subscriptions: 0.2 s gave
# p99 0.84-1.04 s produce->webhook, 0.1 s gave 0.75 s for 4% more CPU per article.
MATCH_WINDOW_S = 0.1


def claim_document(alert: Alert, claimed_at: str | None = None) -> dict:
    return {"subscription_id": alert.subscription_id, "story_id": alert.story_id,
            "article_id": alert.article_id, "state": "pending", "claimed_at": claimed_at or utcnow().isoformat()}


async def claim_alerts(es, index: str, alerts: list[Alert]) -> list[Alert]:
    """The alerts this worker must send: new ones, and ones claimed earlier but never
    confirmed as sent. One bulk request for the claims, one mget for the conflicts."""
    unique = list({a.id: a for a in alerts}.values())
    if not unique:
        return []
    operations = []
    claimed_at = utcnow().isoformat()  # one clock read per batch, not per alert
    for alert in unique:
        operations += [{"create": {"_index": index, "_id": alert.id}}, claim_document(alert, claimed_at)]
    response = await es.bulk(operations=operations)
    to_send, conflicts = [], []
    for alert, item in zip(unique, response["items"]):
        status = item["create"].get("status", 500)
        if status in (200, 201):
            to_send.append(alert)
        elif status == 409:
            conflicts.append(alert)
        else:
            raise RuntimeError(f"claiming alert {alert.id} failed: {item['create'].get('error')}")
    if conflicts:
        found = await es.mget(index=index, ids=[a.id for a in conflicts], source_includes=["state"])
        pending = {d["_id"] for d in found["docs"] if d.get("found") and d["_source"].get("state") == "pending"}
        to_send += [a for a in conflicts if a.id in pending]
    return to_send


async def mark_emitted(es, index: str, alerts: list[Alert]) -> None:
    now = utcnow().isoformat()
    operations = []
    for alert in alerts:
        operations += [{"update": {"_index": index, "_id": alert.id}}, {"doc": {"state": "emitted", "emitted_at": now}}]
    if operations:
        await es.bulk(operations=operations)


def register(app: faust.App, ctx: WorkerContext) -> None:
    from processors.es.client import make_async_client
    from processors.matcher import Matcher
    from processors.subscriptions import CachedSubscriptions, needs_delivery

    settings = ctx.settings

    @app.agent(ctx.topics.enriched, name=f"{settings.processor.app_id}.match")
    async def match_agent(stream):
        es = make_async_client(settings.es)
        subs = CachedSubscriptions(es, ctx.indices, settings.alerts.subscriptions_refresh_s)
        matcher = Matcher.from_settings(es, settings, subs)
        confirming: asyncio.Future | None = None  # the last batch's "emitted" marks, being written
        try:
            async for values in stream.take(settings.es.bulk_size, within=min(settings.es.bulk_wait_s, MATCH_WINDOW_S)):
                articles, bad = parse_batch(values)
                for value, reason in bad:
                    await send_dead_letter(ctx.topics.dead_letters, "match", reason, None, value)
                if articles:
                    confirming = await match_until_done(es, subs, matcher, articles, confirming)
        finally:
            if confirming is not None:
                await confirming
            await matcher.close()
            await es.close()

    async def match_until_done(es, subs, matcher, articles, confirming: asyncio.Future | None) -> asyncio.Future | None:
        """Match (retrying while Elasticsearch is away) and emit; returns the
        confirmation still being written, or the one given when nothing was emitted."""
        delay = 0.5
        while True:
            try:
                alerts = await matcher.match(articles)
                break
            except Exception as exc:  # noqa: BLE001 - ES unreachable: wait, never drop
                log.warning("match_retry", error=f"{type(exc).__name__}: {exc}", articles=len(articles), wait_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
        if not alerts:
            return confirming
        return await emit(es, subs, alerts, confirming)

    async def emit(es, subs, alerts: list[Alert], confirming: asyncio.Future | None) -> asyncio.Future | None:
        """Claim, send, and start confirming (returned) the alerts. The confirmation
        is written while the next batch is matched, off the alerts' path; the
        next claims wait for it, so that a copy of a story in the next batch
        finds its alert confirmed, not pending (which would send it again)."""
        proc = settings.processor
        retry = dict(attempts=proc.max_attempts, backoff_s=proc.retry_backoff_s)
        if confirming is not None:
            await confirming
        try:
            fresh = await with_retries(lambda: claim_alerts(es, ctx.indices.alert_claims, alerts),
                                       what="claim alerts", **retry)

            async def send_all() -> None:
                # Straight to the producer (the topic is raw bytes both ways): Faust's
                # Topic.send wraps each message in futures, callbacks and sensors,
                # 0.2 ms per alert, with ~15 alerts per article.
                producer = await app.maybe_start_producer()
                topic, deliveries = ctx.topics.alerts.get_topic_name(), ctx.topics.deliveries.get_topic_name()
                by_id = await subs.by_id()
                deliver_too = {}  # subscription id -> whether the deliver agent has work for its alerts
                for sub_id in {a.subscription_id for a in fresh}:
                    sub = by_id.get(sub_id)
                    deliver_too[sub_id] = sub is not None and needs_delivery(sub)
                pending = []
                for alert in fresh:
                    key, value = alert.id.encode(), alert.to_json()
                    for name in (topic, deliveries) if deliver_too[alert.subscription_id] else (topic,):
                        pending.append(await producer.send(name, key, value, partition=None, timestamp=None,
                                                           headers=None))
                await asyncio.gather(*pending)  # each resolves once Kafka acknowledged it

            await with_retries(send_all, what="send alerts", **retry)
            log.info("alerts", emitted=len(fresh), duplicates=len(alerts) - len(fresh))
        except Exception as exc:  # noqa: BLE001 - never escape an agent
            await dead_letter_all(alerts, exc)
            return None
        return asyncio.ensure_future(confirm(es, alerts, fresh, retry))

    async def confirm(es, alerts: list[Alert], fresh: list[Alert], retry: dict) -> None:
        try:
            await with_retries(lambda: mark_emitted(es, ctx.indices.alert_claims, fresh), what="confirm alerts", **retry)
        except Exception as exc:  # noqa: BLE001 - never escape an agent
            await dead_letter_all(alerts, exc)

    async def dead_letter_all(alerts: list[Alert], exc: Exception) -> None:
        for alert in alerts:
            await send_dead_letter(ctx.topics.dead_letters, "match", f"{type(exc).__name__}: {exc}",
                                   alert.id.encode(), alert.to_json())
