"""Deliver agent: alerts.deliver -> each channel of the subscription (webhook, Slack, email).

The match agent sends every alert to the public `alerts` topic, and those
this agent has work for (`subscriptions.needs_delivery`) to `alerts.deliver`.

Alerts of hourly/daily subscriptions, and those of a realtime subscription
beyond its ``max_per_hour``, are not sent here: they are queued for the
subscription's next digest (processors/digests.py, sent by the digest timer).

Delivery retries with backoff live in processors/delivery; after the last
attempt the alert goes to the dead-letter topic. Every attempt is recorded
in the `alerts` index (for Kibana and `wirewatch alerts list`).
"""

from __future__ import annotations

import faust
import structlog

from processors.agents.failures import send_dead_letter, with_retries
from processors.context import WorkerContext
from processors.delivery.http import CLIENTS
from wirewatch.schema import Alert, SchemaError

log = structlog.get_logger(__name__)
DELIVERY_CONCURRENCY = 4  # a slow endpoint must not hold up every other alert


class SharedClients:
    """One Elasticsearch client and one subscription source for all the
    agent's concurrent actors (each used to keep its own, and reloaded the
    10,000 subscriptions on its own), closed when the last actor stops."""

    def __init__(self, make):
        self._make = make      # () -> (es, subscriptions)
        self._users = 0
        self._made = None

    def acquire(self):
        if self._made is None:
            self._made = self._make()
        self._users += 1
        return self._made

    async def release(self) -> None:
        self._users -= 1
        if self._users == 0 and self._made is not None:
            es, self._made = self._made[0], None
            await es.close()
            await CLIENTS.close_all()  # the pooled HTTP clients of the deliveries


def register(app: faust.App, ctx: WorkerContext) -> None:
    from processors.delivery import deliver, record_delivery_async
    from processors.es.client import make_async_client
    from processors.subscriptions import CachedSubscriptions, disable_channel_async

    settings = ctx.settings

    def make_clients():
        es = make_async_client(settings.es)
        return es, CachedSubscriptions(es, ctx.indices, settings.alerts.subscriptions_refresh_s)

    shared = SharedClients(make_clients)

    @app.agent(ctx.topics.deliveries, name=f"{settings.processor.app_id}.deliver", concurrency=DELIVERY_CONCURRENCY)
    async def deliver_agent(stream):
        es, subs = shared.acquire()
        try:
            async for event in stream.events():
                await deliver_one(es, subs, event.key, event.value)
        finally:
            await shared.release()

    async def goes_to_digest(es, subscription, alert: Alert, key: bytes | None, value: bytes) -> bool:
        """Queue the alert for a digest when the subscription's mode or rate cap says so."""
        from processors.digests import route_alert

        proc = settings.processor
        try:
            route = await with_retries(lambda: route_alert(es, ctx.indices, subscription, alert),
                                       what="digest routing", attempts=proc.max_attempts, backoff_s=proc.retry_backoff_s)
        except Exception as exc:  # noqa: BLE001 - never escape an agent
            await send_dead_letter(ctx.topics.dead_letters, "deliver", f"digest routing: {type(exc).__name__}: {exc}",
                                   key, value)
            return True
        if route != "deliver":
            log.info("alert_for_digest", alert_id=alert.id, subscription=subscription.id, route=route)
        return route != "deliver"

    async def deliver_one(es, subs, key: bytes | None, value: bytes) -> None:
        try:
            alert = Alert.from_json(value)
        except SchemaError as exc:
            await send_dead_letter(ctx.topics.dead_letters, "deliver", str(exc), key, value)
            return
        # Channels (and their secrets) come from the subscription, never from the
        # alerts topic, which other consumers read too.
        subscription = (await subs.by_id()).get(alert.subscription_id)
        if subscription is None:
            log.info("alert_for_inactive_subscription", alert_id=alert.id, subscription=alert.subscription_id)
            return
        if await goes_to_digest(es, subscription, alert, key, value):
            return
        for channel in subscription.channels:
            if channel.type == "kafka" or channel.disabled:
                continue  # the alerts topic itself is that channel; a disabled one said 410 Gone
            try:
                result = await deliver(alert, channel, settings)
            except Exception as exc:  # noqa: BLE001 - never escape an agent
                await send_dead_letter(ctx.topics.dead_letters, "deliver", f"{type(exc).__name__}: {exc}", key, value)
                continue
            try:
                await record_delivery_async(es, ctx.indices, alert, result)
            except Exception as exc:  # noqa: BLE001 - the record is secondary to the delivery
                log.warning("record_delivery_failed", alert_id=alert.id, error=str(exc))
            log.info("delivered", alert_id=alert.id, channel=channel.type, ok=result.ok, attempts=result.attempts)
            if result.disabled:
                # 410 Gone: the receiver asked us to stop; that is not a failed delivery.
                await disable_channel_async(es, ctx.indices, alert.subscription_id, channel.url)
                continue
            if not result.ok:
                await send_dead_letter(ctx.topics.dead_letters, "deliver",
                                       f"{channel.type} delivery failed after {result.attempts} attempt(s): {result.error}",
                                       key, value)
