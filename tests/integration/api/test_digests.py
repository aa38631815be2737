"""Digests and the rate cap against the real Elasticsearch, delivered to a
local webhook receiver that checks signatures (wirewatch/harness.py)."""

import asyncio
import base64
from datetime import datetime, timedelta, timezone

import pytest

from processors.digests import (
    admit_realtime,
    claim_digest,
    digest_id,
    last_completed_period,
    period_start,
    queue_for_digest,
    run_due_digests,
)
from processors.subscriptions import SubscriptionStore
from wirewatch.harness import WebhookReceiver
from wirewatch.schema import Alert, ChannelSpec, Subscription, alert_id

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"digest receiver key").decode()


def _alert(sub: Subscription, story: str, title: str) -> Alert:
    return Alert(id=alert_id(sub.id, story), subscription_id=sub.id, subscription_name=sub.name, owner=sub.owner,
                 query=sub.query, article_id=f"art-{story}", story_id=story, title=title,
                 url=f"https://news.example.org/{story}", source="Example News",
                 published_at=datetime(2026, 11, 28, 9, tzinfo=timezone.utc), highlights=["the <em>army</em>"])


def _index_story_articles(es, indices, run_async):
    """story-a: three sources; story-b: one."""
    from processors.es.samples import make_article
    from processors.es.templates import ensure_articles_index, ensure_templates
    from processors.indexer import index_batch

    articles = [make_article(f"https://{d}/a", domain=d, story_id="story-a", text="army")
                for d in ("one.example.org", "two.example.org", "three.example.org")]
    articles.append(make_article("https://four.example.org/b", domain="four.example.org", story_id="story-b", text="army"))
    ensure_templates(es, indices)
    ensure_articles_index(es, indices)

    assert run_async(lambda client: index_batch(client, indices, articles, refresh=True)).all_ok


def test_digest_groups_stories_and_is_sent_once_even_when_triggered_twice(settings, es, indices, run_async):
    _index_story_articles(es, indices, run_async)
    # 10 minutes into an hour, whatever the real clock says: `now + 30s` stays in it
    now = period_start("hourly", datetime.now(timezone.utc)) + timedelta(minutes=10)
    queued_at = now - timedelta(minutes=90)   # in the last completed hour
    with WebhookReceiver(secret=SECRET) as receiver:
        sub = Subscription(id="hourly-sub", name="Army hourly", owner="ana", query="army", mode="hourly",
                           channels=[ChannelSpec(type="webhook", url=receiver.url, secret=SECRET)])
        SubscriptionStore(es, indices).put(sub)

        async def scenario(aes):
            for story, title in (("story-a", "Army moves"), ("story-b", "Army parade"), ("story-a", "Army moves (copy)")):
                await queue_for_digest(aes, indices, _alert(sub, story, title), sub, "mode", now=queued_at)
            # one more, queued in the current hour: it waits for the next digest
            await queue_for_digest(aes, indices, _alert(sub, "story-c", "Too late"), sub, "mode", now=now)
            await aes.indices.refresh(index=indices.alerts)
            together = await asyncio.gather(run_due_digests(aes, indices, settings, now=now),
                                            run_due_digests(aes, indices, settings, now=now))
            # a straggler of the same period, queued after the digest went out: the
            # next trigger (a restart, another worker) must not send that digest again
            await queue_for_digest(aes, indices, _alert(sub, "story-d", "Straggler"), sub, "mode", now=queued_at)
            await aes.indices.refresh(index=indices.alerts)
            again = await run_due_digests(aes, indices, settings, now=now + timedelta(seconds=30))
            return together, again

        together, again = run_async(scenario)
        hooks = receiver.wait_for(2, timeout_s=2)   # waits for a second one that must not come

    assert len(hooks) == 1
    sent = [o for outcomes in together for o in outcomes if o.sent]
    assert len(sent) == 1 and not any(o.sent for o in again)
    hook = hooks[0]
    assert hook.signature_ok
    start, _ = last_completed_period("hourly", now)
    assert hook.headers["webhook-id"] == digest_id(sub.id, start)
    data = hook.json()["data"]
    assert data["kind"] == "hourly" and data["subscription_id"] == sub.id
    stories = {s["story_id"]: s for s in data["stories"]}
    assert set(stories) == {"story-a", "story-b"}          # each once; story-c waits
    assert stories["story-a"]["sources"] == 3 and stories["story-b"]["sources"] == 1
    assert data["stories"][0]["story_id"] == "story-a"     # most sources first

    es.indices.refresh(index=indices.alerts)
    states = {h["_source"]["story_id"]: h["_source"]["state"] for h in es.search(
        index=indices.alerts, query={"term": {"channel": "digest"}}, size=10)["hits"]["hits"]}
    assert states == {"story-a": "digested", "story-b": "digested", "story-c": "digest_pending",
                      "story-d": "digest_pending"}  # both wait for the next period's digest
    records = es.search(index=indices.alerts, query={"term": {"state": "digest_sent"}})["hits"]["hits"]
    assert len(records) == 1 and records[0]["_source"]["ok"] is True and records[0]["_source"]["owner"] == "ana"


def test_a_digest_left_half_sent_by_a_crash_is_sent_after_the_lease_only(settings, es, indices, run_async):
    now = datetime.now(timezone.utc)
    start, _ = last_completed_period("daily", now)
    with WebhookReceiver(secret=SECRET) as receiver:
        sub = Subscription(id="daily-sub", name="Daily", owner="ana", query="army", mode="daily",
                           channels=[ChannelSpec(type="webhook", url=receiver.url, secret=SECRET)])
        SubscriptionStore(es, indices).put(sub)
        did = digest_id(sub.id, start)
        lease = settings.alerts.digest_lease_s

        async def scenario(aes):
            await queue_for_digest(aes, indices, _alert(sub, "s1", "Army"), sub, "mode", now=start + timedelta(hours=1))
            await aes.indices.refresh(index=indices.alerts)
            # a worker claimed it just now and is still sending: leave it alone
            assert await claim_digest(aes, indices, did, sub.id, start, now, lease)
            first = await run_due_digests(aes, indices, settings, now=now)
            # the same claim, seen after the lease: that worker died; send it, with the same id
            later = await run_due_digests(aes, indices, settings, now=now + timedelta(seconds=lease + 1))
            return first, later

        first, later = run_async(scenario)
        hooks = receiver.wait_for(1, timeout_s=5)
    assert not any(o.sent for o in first)
    assert [o.sent for o in later] == [True]
    assert len(hooks) == 1 and hooks[0].headers["webhook-id"] == did


def test_rate_cap_lets_max_per_hour_through_then_queues(settings, es, indices, run_async):
    sub = Subscription(id="capped", name="Capped", owner="ana", query="army", max_per_hour=3)
    hour = datetime(2026, 11, 28, 10, 5, tzinfo=timezone.utc)

    async def scenario(aes):
        concurrent = await asyncio.gather(*(admit_realtime(aes, indices, sub, now=hour) for _ in range(6)))
        after = await admit_realtime(aes, indices, sub, now=hour + timedelta(minutes=50))
        next_hour = await admit_realtime(aes, indices, sub, now=hour + timedelta(hours=1))
        uncapped = await admit_realtime(aes, indices, sub.model_copy(update={"max_per_hour": None}), now=hour)
        return concurrent, after, next_hour, uncapped

    concurrent, after, next_hour, uncapped = run_async(scenario)
    assert sorted(concurrent) == [False, False, False, True, True, True]
    assert after is False and next_hour is True and uncapped is True


def test_routing_of_alerts_by_mode_and_cap(settings, es, indices, run_async):
    from processors.digests import route_alert

    capped = Subscription(id="capped", name="Capped", owner="ana", query="army", max_per_hour=1)
    hourly = Subscription(id="hourly", name="Hourly", owner="ana", query="army", mode="hourly")
    now = datetime(2026, 11, 28, 10, 5, tzinfo=timezone.utc)

    async def scenario(aes):
        return [
            await route_alert(aes, indices, capped, _alert(capped, "s1", "first"), now),
            await route_alert(aes, indices, capped, _alert(capped, "s2", "over the cap"), now),
            await route_alert(aes, indices, capped, _alert(capped, "s2", "over the cap"), now),  # a replay
            await route_alert(aes, indices, hourly, _alert(hourly, "s1", "hourly"), now),
        ]

    assert run_async(scenario) == ["deliver", "queued", "duplicate", "queued"]
    es.indices.refresh(index=indices.alerts)
    reasons = {h["_source"]["subscription_id"]: h["_source"]["digest_reason"]
               for h in es.search(index=indices.alerts, query={"term": {"state": "digest_pending"}})["hits"]["hits"]}
    assert reasons == {"capped": "rate_cap", "hourly": "mode"}
