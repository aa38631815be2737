"""The whole pipeline on the real stack: a feed served on loopback carrying the
sample article -> producer -> Kafka -> worker -> Elasticsearch -> alert -> webhook."""

from __future__ import annotations

import base64
import secrets

import pytest

from wirewatch.demo import DEMO_FEEDS, create_subscription
from wirewatch.harness import FeedServer, WebhookReceiver, WorkerProcess, produce_once, wait_for_hits
from wirewatch.kafka_admin import delete_topics, ensure_topics

pytestmark = pytest.mark.integration
DEADLINE_S = 120


def test_sample_article_reaches_webhook_and_index(settings, topics, indices, es, tmp_path):
    from producers.catalogue import Feed

    ensure_topics(settings.kafka, topics)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    sample = {"latam-desk.xml": (DEMO_FEEDS / "latam-desk.xml").read_bytes()}
    try:
        with FeedServer(sample) as feeds, WebhookReceiver(secret=secret) as receiver:
            create_subscription(settings, receiver.url, secret)
            with WorkerProcess(settings, tmp_path / "worker.log") as worker:
                worker.wait_ready()
                stats = produce_once(settings, [Feed(url=feeds.url("latam-desk.xml"), name="latam")])
                assert stats.articles_produced == 1
                hooks = receiver.wait_for(1, DEADLINE_S)
                assert hooks, f"no alert within {DEADLINE_S}s; worker log:\n{worker.log_tail()}"
                event = hooks[0].json()
                assert hooks[0].signature_ok is True
                assert event["type"] == "alert.matched"
                alert = event["data"]
                assert hooks[0].headers["webhook-id"] == alert["id"]
                assert "Maduro" in alert["title"]
                assert alert["subscription_id"] == "demo-venezuela-military"
                found = wait_for_hits(es, indices.articles, {"ids": {"values": [alert["article_id"]]}}, 30)
        assert found, "the alerted article is not searchable"
        source = found[0]
        assert "politics" in source["topics"]
        hits = es.search(index=indices.articles, query={"query_string": {"query": "maduro AND soldiers"}})
        assert hits["hits"]["total"]["value"] == 1
    finally:
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)
