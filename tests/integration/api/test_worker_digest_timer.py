"""The digest timer in a real worker (leader of its group): alerts queued in the
last hour go out as one digest, once, although the timer ticks every second."""

from __future__ import annotations

import asyncio
import base64
import secrets
from datetime import datetime, timedelta, timezone

import pytest

from processors.subscriptions import SubscriptionStore
from wirewatch.harness import WebhookReceiver, WorkerProcess
from wirewatch.kafka_admin import delete_topics, ensure_topics
from wirewatch.schema import Alert, ChannelSpec, Subscription, alert_id

pytestmark = pytest.mark.integration
DEADLINE_S = 120

def _queue(settings, indices, sub, stories, at):
    from processors.digests import queue_for_digest
    from processors.es.client import make_async_client

    async def main():
        client = make_async_client(settings.es)
        try:
            for story in stories:
                alert = Alert(id=alert_id(sub.id, story), subscription_id=sub.id, subscription_name=sub.name,
                              owner=sub.owner, query=sub.query, article_id=story, story_id=story, title=f"About {story}",
                              url=f"https://e.org/{story}", source="e.org", published_at=at)
                await queue_for_digest(client, indices, alert, sub, "mode", now=at)
            await client.indices.refresh(index=indices.alerts)
        finally:
            await client.close()

    asyncio.run(main())


def test_worker_sends_the_due_digest_once(kafka_up, settings, topics, indices, es, tmp_path):
    ensure_topics(settings.kafka, topics)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    try:
        with WebhookReceiver(secret=secret) as receiver:
            sub = Subscription(id="hourly-digest", name="Hourly", owner="ana", query="army", mode="hourly",
                               channels=[ChannelSpec(type="webhook", url=receiver.url, secret=secret)])
            SubscriptionStore(es, indices).put(sub)
            _queue(settings, indices, sub, ["s1", "s2"], datetime.now(timezone.utc) - timedelta(minutes=65))
            worker = WorkerProcess(settings, tmp_path / "worker.log", extra_env={"WIREWATCH_ALERTS_DIGEST_CHECK_S": "1"})
            with worker:
                worker.wait_ready()
                hooks = receiver.wait_for(1, DEADLINE_S)
                assert hooks, f"no digest within {DEADLINE_S}s; worker log:\n{worker.log_tail()}"
                hooks = receiver.wait_for(2, 4)   # four more ticks: still one
        assert len(hooks) == 1 and hooks[0].signature_ok
        data = hooks[0].json()["data"]
        assert sorted(s["story_id"] for s in data["stories"]) == ["s1", "s2"]
    finally:
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)
