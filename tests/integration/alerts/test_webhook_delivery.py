"""Webhook delivery to a real local receiver (aiohttp on 127.0.0.1) that checks
signatures with its own HMAC computation."""

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest
from aiohttp import web

from processors.delivery import deliver, record_delivery
from processors.subscriptions import SubscriptionStore
from wirewatch.schema import Alert, ChannelSpec, Subscription

pytestmark = pytest.mark.integration

SECRET_KEY = b"a very secret key of the receiver"
SECRET = "whsec_" + base64.b64encode(SECRET_KEY).decode()


def _channel(url: str) -> ChannelSpec:
    return ChannelSpec(type="webhook", url=url, secret=SECRET)


def _alert() -> Alert:
    return Alert(
        id="alert-0001",
        subscription_id="sub-1",
        subscription_name="Venezuela <military>",
        owner="ana",
        query="maduro AND military",
        article_id="art-1",
        story_id="story-1",
        title="Sergeant calls on soldiers & officers",
        url="https://news.example.org/a",
        source="news.example.org",
        published_at=datetime(2017, 5, 20, tzinfo=timezone.utc),
        highlights=["calls on <em>soldiers</em>"],
    )


class Receiver:
    """Answers with the next status of ``script`` (the last one repeats)."""

    def __init__(self, script, headers=None):
        self.script = list(script)
        self.headers = headers or {}
        self.requests = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        msg_id = request.headers.get("webhook-id", "")
        timestamp = request.headers.get("webhook-timestamp", "")
        signed = f"{msg_id}.{timestamp}.".encode() + body
        expected = "v1," + base64.b64encode(hmac.new(SECRET_KEY, signed, hashlib.sha256).digest()).decode()
        valid = expected in request.headers.get("webhook-signature", "").split(" ")
        self.requests.append({"id": msg_id, "valid": valid, "body": json.loads(body)})
        status = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return web.Response(status=status if valid else 401, headers=self.headers if status != 200 else {})


async def _serve_and_deliver(receiver, settings, sleeps):
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        alert, channel = _alert(), _channel(f"http://127.0.0.1:{port}/hook")

        async def fake_sleep(seconds):
            sleeps.append(seconds)

        return alert, channel, await deliver(alert, channel, settings, sleep=fake_sleep)
    finally:
        await runner.cleanup()


def _run(receiver, settings, sleeps=None):
    return asyncio.run(_serve_and_deliver(receiver, settings, [] if sleeps is None else sleeps))


def test_signed_delivery_verifies(settings):
    receiver = Receiver([200])
    alert, channel, result = _run(receiver, settings)
    assert result.ok and result.attempts == 1 and result.status == 200
    assert [r["valid"] for r in receiver.requests] == [True]
    assert receiver.requests[0]["id"] == alert.id
    assert receiver.requests[0]["body"]["data"]["id"] == alert.id
    assert receiver.requests[0]["body"]["type"] == "alert.matched"


def test_fails_twice_then_succeeds_with_the_same_webhook_id(settings):
    receiver = Receiver([503, 500, 200])
    sleeps = []
    alert, channel, result = _run(receiver, settings, sleeps)
    assert result.ok and result.attempts == 3
    assert [r["id"] for r in receiver.requests] == [alert.id] * 3
    assert all(r["valid"] for r in receiver.requests)
    assert len(sleeps) == 2 and sleeps[0] <= sleeps[1]  # backoff grows (jittered halves do not overlap)
    # what the receiver dedups on: one id, delivered once
    assert len({r["id"] for r in receiver.requests}) == 1


def test_gone_disables_without_retry(settings, es, indices):
    receiver = Receiver([410])
    alert, channel, result = _run(receiver, settings)
    assert result.disabled and not result.ok and result.attempts == 1

    store = SubscriptionStore(es, indices)
    store.put(Subscription(id="sub-1", name="s", query="maduro", channels=[channel]), validate_on_server=False)
    updated = store.disable_channel("sub-1", channel.url)
    assert [c.disabled for c in updated.channels] == [True] and updated.active is False
    assert store.get("sub-1").active is False


def test_gone_disables_through_the_async_helper(settings, es, indices):
    from processors.es.client import make_async_client
    from processors.subscriptions import disable_channel_async

    other = ChannelSpec(type="slack", url="https://hooks.example.org/x")
    store = SubscriptionStore(es, indices)
    gone = _channel("http://127.0.0.1:9/hook")
    store.put(Subscription(id="sub-2", name="s", query="maduro", channels=[gone, other]), validate_on_server=False)

    async def go():
        client = make_async_client(settings.es)
        try:
            return await disable_channel_async(client, indices, "sub-2", gone.url)
        finally:
            await client.close()

    updated = asyncio.run(go())
    assert [c.disabled for c in updated.channels] == [True, False] and updated.active is True
    assert [(c.url, c.disabled) for c in store.get("sub-2").channels] == [(gone.url, True), (other.url, False)]


def test_retry_after_is_honoured(settings):
    receiver = Receiver([429, 200], headers={"Retry-After": "7"})
    sleeps = []
    _, _, result = _run(receiver, settings, sleeps)
    assert result.ok and sleeps == [7.0]


def test_gives_up_after_max_attempts(settings):
    receiver = Receiver([500])
    _, _, result = _run(receiver, settings)
    assert not result.ok and not result.disabled
    assert result.attempts == settings.alerts.max_attempts == len(receiver.requests)
    assert "500" in result.error


def test_client_error_is_not_retried(settings):
    receiver = Receiver([400])
    _, _, result = _run(receiver, settings)
    assert not result.ok and result.attempts == 1


def test_loopback_refused_unless_allowed(settings):
    strict = settings.model_copy(update={"alerts": settings.alerts.model_copy(update={"allow_hosts": []})})
    receiver = Receiver([200])
    _, _, result = _run(receiver, strict)
    assert not result.ok and result.attempts == 1
    assert receiver.requests == []
    assert "loopback" in result.error and "alerts.allow_hosts" in result.error


def test_delivery_is_recorded(settings, es, indices):
    receiver = Receiver([200])
    alert, channel, result = _run(receiver, settings)
    record_delivery(es, indices, alert, result, refresh=True)
    record_delivery(es, indices, alert, result, refresh=True)  # a replay overwrites
    hits = es.search(index=indices.alerts, query={"term": {"alert_id": alert.id}})["hits"]["hits"]
    assert len(hits) == 1
    assert hits[0]["_source"]["ok"] is True and hits[0]["_source"]["target"].startswith("http://127.0.0.1:")
    assert "/hook" not in hits[0]["_source"]["target"]
