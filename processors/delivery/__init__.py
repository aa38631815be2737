"""Delivering alerts: ``await deliver(alert, channel, settings)``.

One module per channel builds what is sent (webhook.py: Standard Webhooks
signed JSON; slack.py: Slack-compatible incoming webhook; email.py: SMTP);
http.py sends to user-given URLs with the feed fetcher's address rules
(producers/safety.py); policy.py decides on retries (pure); records.py writes
each delivery to the ``alerts`` index. The ``kafka`` channel is the alerts
topic itself, which the agent publishes to for every alert: nothing to do here.

``deliver`` never raises for a receiver's trouble: it returns a
``DeliveryResult``. ``ok`` false and ``disabled`` false = the caller sends the
alert to the dead-letter topic with ``error``; ``disabled`` true = the receiver
answered 410 Gone: report it and stop sending to that endpoint
(``processors.subscriptions.SubscriptionStore.disable_channel``).
"""

from __future__ import annotations

import asyncio
import random
import smtplib
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

import structlog

from processors.delivery import email as email_channel
from processors.delivery import slack, webhook
from processors.delivery.http import CLIENTS, HttpAnswer, TargetRefused, policy_for, post, safe_target
from processors.delivery.policy import RetryPolicy, Verdict, classify
from processors.delivery.signing import BadSecret
from producers.safety import RefusedAddress, ResolveError
from wirewatch.schema import Alert, ChannelSpec

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    attempts: int
    status: int | None = None      # last HTTP status or SMTP reply code
    disabled: bool = False         # 410 Gone: stop sending to this endpoint
    error: str | None = None       # why it failed, for the dead-letter topic
    channel: str = ""              # channel type
    target: str = ""               # scheme://host[:port], never the secret path
    seconds: float = 0.0


def target_of(channel: ChannelSpec) -> str:
    if channel.type == "email":
        return f"smtp://{email_channel.smtp_target(channel)[0]} -> {len(channel.to)} recipient(s)" if channel.url else "smtp"
    return safe_target(channel.url or "")


async def deliver(alert: Alert, channel: ChannelSpec, settings, *, sleep: Sleep = asyncio.sleep,
                  rng: random.Random | None = None) -> DeliveryResult:
    """Send ``alert`` on ``channel`` with bounded retries (settings.alerts)."""
    started = time.monotonic()
    policy = RetryPolicy.from_settings(settings.alerts)
    try:
        target = target_of(channel)
    except email_channel.EmailTargetInvalid as exc:
        return DeliveryResult(False, 0, error=str(exc), channel=channel.type)
    if channel.type == "kafka":
        return DeliveryResult(True, 0, channel="kafka", target="alerts topic")
    send_once = _sender(alert, channel, settings)
    attempt, last = 0, HttpAnswer(None, error="not attempted")
    verdict = Verdict.GIVE_UP
    try:
        while attempt < policy.max_attempts:
            attempt += 1
            try:
                last = await send_once()
            except (TargetRefused, BadSecret, email_channel.EmailTargetInvalid) as exc:
                last, verdict = HttpAnswer(None, error=str(exc)), Verdict.GIVE_UP
                break
            verdict = last.verdict or classify(last.status)
            log.info("delivery.attempt", alert_id=alert.id, channel=channel.type, target=target,
                     attempt=attempt, status=last.status, verdict=verdict.value, error=last.error)
            if not policy.should_retry(verdict, attempt):
                break
            await sleep(policy.delay(attempt, last.retry_after_s, rng))
    finally:
        await send_once.aclose()
    result = DeliveryResult(
        ok=verdict is Verdict.DELIVERED,
        attempts=attempt,
        status=last.status,
        disabled=verdict is Verdict.DISABLE,
        error=None if verdict is Verdict.DELIVERED else (last.error or verdict.value),
        channel=channel.type,
        target=target,
        seconds=time.monotonic() - started,
    )
    if result.disabled:
        log.warning("delivery.endpoint_gone", alert_id=alert.id, subscription_id=alert.subscription_id, target=target)
    elif not result.ok:
        log.warning("delivery.failed", alert_id=alert.id, subscription_id=alert.subscription_id, target=target,
                    attempts=attempt, error=result.error)
    return result


class _Sender:
    """One channel's single attempt, with the pooled HTTP client of its target
    (shared across attempts and alerts: ``http.ClientPool``)."""

    def __init__(self, alert: Alert, channel: ChannelSpec, settings):
        self.alert = alert
        self.channel = channel
        self.settings = settings
        self.policy = policy_for(settings.alerts)
        self.client = (CLIENTS.get(channel.url or "", settings.alerts.webhook_timeout_s)
                       if channel.type in ("webhook", "slack") else None)

    async def __call__(self) -> HttpAnswer:
        if self.channel.type == "webhook":
            body, headers = webhook.request(self.alert, self.channel)  # fresh timestamp and signature
            return await post(self.client, self.channel.url or "", body, headers, self.policy)
        if self.channel.type == "slack":
            return await post(self.client, self.channel.url or "", slack.body(self.alert), {}, self.policy)
        if self.channel.type == "email":
            return await self._email()
        raise TargetRefused(f"unknown channel type {self.channel.type!r}")

    async def _email(self) -> HttpAnswer:
        host, port = email_channel.smtp_target(self.channel)
        to = email_channel.recipients(self.channel)
        try:
            address = (await self.policy.resolve(host, port))[0]
        except RefusedAddress as exc:
            raise TargetRefused(str(exc).replace("producer.allow_hosts", "alerts.allow_hosts")) from None
        except ResolveError as exc:
            return HttpAnswer(None, error=f"DNS: {exc}")
        msg = email_channel.message(self.alert, to, sender=self.settings.alerts.email_from)
        try:
            await email_channel.send(str(address), port, host, msg, to, self.settings.alerts.webhook_timeout_s)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()] or [550]
            transient = all(400 <= code < 500 for code in codes)  # e.g. 450 mailbox busy, greylisting
            return HttpAnswer(max(codes), error=f"recipients refused ({max(codes)}): {list(exc.recipients)[:3]}",
                              verdict=Verdict.RETRY if transient else Verdict.GIVE_UP)
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            verdict = Verdict.RETRY if 400 <= code < 500 else Verdict.GIVE_UP  # 4xx transient, 5xx permanent
            return HttpAnswer(code, error=f"SMTP {code}: {exc.smtp_error!r}"[:300], verdict=verdict)
        except (OSError, smtplib.SMTPException, asyncio.TimeoutError) as exc:
            return HttpAnswer(None, error=f"SMTP: {type(exc).__name__}: {str(exc)[:200]}")
        return HttpAnswer(250, verdict=Verdict.DELIVERED)

    async def aclose(self) -> None:
        """Nothing to close: the client stays in the pool for the next alert."""


def _sender(alert: Alert, channel: ChannelSpec, settings) -> _Sender:
    return _Sender(alert, channel, settings)


async def deliver_all(alert: Alert, channels: list[ChannelSpec], settings, **kwargs) -> list[DeliveryResult]:
    """Every channel of the alert's subscription, concurrently."""
    return list(await asyncio.gather(*(deliver(alert, c, settings, **kwargs) for c in channels)))


from processors.delivery.records import record_delivery, record_delivery_async  # noqa: E402

__all__ = ["DeliveryResult", "deliver", "deliver_all", "record_delivery", "record_delivery_async"]
