"""The worker's deliver agent, on the real stack: for one article, a realtime
subscription gets its webhook while an hourly one's alert is queued for the
digest (and nothing is sent to it)."""

from __future__ import annotations

import base64
import secrets

import pytest

from processors.subscriptions import SubscriptionStore
from wirewatch.demo import DEMO_FEEDS, DEMO_QUERY, create_subscription
from wirewatch.harness import FeedServer, WebhookReceiver, WorkerProcess, produce_once, wait_for_hits
from wirewatch.kafka_admin import delete_topics, ensure_topics
from wirewatch.schema import ChannelSpec, Subscription

pytestmark = pytest.mark.integration
DEADLINE_S = 120


def _queued(es, index, deadline_s):
    return wait_for_hits(es, index, {"term": {"state": "digest_pending"}}, deadline_s)


def test_hourly_alert_is_queued_while_realtime_is_delivered(kafka_up, settings, topics, indices, es, tmp_path):
    from producers.catalogue import Feed

    ensure_topics(settings.kafka, topics)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    sample = {"latam-desk.xml": (DEMO_FEEDS / "latam-desk.xml").read_bytes()}
    try:
        with FeedServer(sample) as feeds, WebhookReceiver(secret=secret) as realtime, \
                WebhookReceiver(secret=secret) as hourly:
            create_subscription(settings, realtime.url, secret)
            SubscriptionStore(es, indices).put(Subscription(
                id="hourly-digest", name="Hourly", owner="ana", query=DEMO_QUERY, mode="hourly",
                channels=[ChannelSpec(type="webhook", url=hourly.url, secret=secret)]))
            with WorkerProcess(settings, tmp_path / "worker.log") as worker:
                worker.wait_ready()
                stats = produce_once(settings, [Feed(url=feeds.url("latam-desk.xml"), name="latam")])
                assert stats.articles_produced == 1
                hooks = realtime.wait_for(1, DEADLINE_S)
                assert hooks, f"no realtime alert within {DEADLINE_S}s; worker log:\n{worker.log_tail()}"
                queued = _queued(es, indices.alerts, 60)
                assert [q["subscription_id"] for q in queued] == ["hourly-digest"], worker.log_tail()
                assert queued[0]["digest_reason"] == "mode" and "Maduro" in queued[0]["title"]
                assert hourly.wait_for(1, 2) == []
    finally:
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)
