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
from elasticsearch import ConflictError

from processors.agents.failures import send_dead_letter, with_retries
from processors.agents.index import parse_batch
from processors.context import WorkerContext
from wirewatch.schema import Alert, utcnow

log = structlog.get_logger(__name__)
MAX_BACKOFF_S = 30.0


async def claim_alert(es, index: str, alert: Alert) -> bool:
    """True if this worker must send the alert (new, or claimed but never sent)."""
    document = {"subscription_id": alert.subscription_id, "story_id": alert.story_id,
                "article_id": alert.article_id, "state": "pending", "claimed_at": utcnow().isoformat()}
    try:
        await es.create(index=index, id=alert.id, document=document)
        return True
    except ConflictError:
        existing = await es.get(index=index, id=alert.id, source_includes=["state"])
        return existing["_source"].get("state") == "pending"


async def mark_emitted(es, index: str, alert: Alert) -> None:
    await es.update(index=index, id=alert.id, doc={"state": "emitted", "emitted_at": utcnow().isoformat()})


def register(app: faust.App, ctx: WorkerContext) -> None:
    from processors.es.client import make_async_client
    from processors.matcher import Matcher
    from processors.subscriptions import CachedSubscriptions

    settings = ctx.settings

    @app.agent(ctx.topics.enriched, name=f"{settings.processor.app_id}.match")
    async def match_agent(stream):
        es = make_async_client(settings.es)
        subs = CachedSubscriptions(es, ctx.indices, settings.alerts.subscriptions_refresh_s)
        matcher = Matcher.from_settings(es, settings, subs)
        try:
            async for values in stream.take(settings.es.bulk_size, within=min(settings.es.bulk_wait_s, 0.5)):
                articles, bad = parse_batch(values)
                for value, reason in bad:
                    await send_dead_letter(ctx.topics.dead_letters, "match", reason, None, value)
                if articles:
                    await match_until_done(es, matcher, articles)
        finally:
            await es.close()

    async def match_until_done(es, matcher, articles) -> None:
        delay = 0.5
        while True:
            try:
                alerts = await matcher.match(articles)
                break
            except Exception as exc:  # noqa: BLE001 - ES unreachable: wait, never drop
                log.warning("match_retry", error=f"{type(exc).__name__}: {exc}", articles=len(articles), wait_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
        for alert in alerts:
            await emit(es, alert)

    async def emit(es, alert: Alert) -> None:
        proc = settings.processor
        try:
            if not await with_retries(lambda: claim_alert(es, ctx.indices.alert_claims, alert),
                                      attempts=proc.max_attempts, backoff_s=proc.retry_backoff_s, what="claim alert"):
                return
            await with_retries(lambda: ctx.topics.alerts.send(key=alert.id.encode(), value=alert.to_json()),
                               attempts=proc.max_attempts, backoff_s=proc.retry_backoff_s, what="send alert")
            await with_retries(lambda: mark_emitted(es, ctx.indices.alert_claims, alert),
                               attempts=proc.max_attempts, backoff_s=proc.retry_backoff_s, what="confirm alert")
            log.info("alert", alert_id=alert.id, subscription=alert.subscription_id, article_id=alert.article_id)
        except Exception as exc:  # noqa: BLE001 - never escape an agent
            await send_dead_letter(ctx.topics.dead_letters, "match", f"{type(exc).__name__}: {exc}",
                                   alert.id.encode(), alert.to_json())
