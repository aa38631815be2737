"""The subscription store round-trips through Elasticsearch."""

import asyncio

import pytest

from processors.query_validation import QueryRejected
from processors.subscriptions import CachedSubscriptions, SubscriptionStore
from wirewatch.schema import ChannelSpec, Subscription, SubscriptionFilters

pytestmark = pytest.mark.integration


def _sub(sub_id, owner="ana", active=True, query="maduro AND (military OR soldiers)"):
    return Subscription(
        id=sub_id,
        name=f"name {sub_id}",
        owner=owner,
        query=query,
        filters=SubscriptionFilters(languages=["en"], topics=["politics"]),
        channels=[ChannelSpec(type="webhook", url="http://127.0.0.1:9/hook", secret="s3cret")],
        active=active,
    )


def test_round_trip(es, indices):
    store = SubscriptionStore(es, indices)
    original = _sub("s1")
    store.put(original)
    assert store.get("s1") == original
    assert store.get("missing") is None
    assert store.delete("s1") is True
    assert store.get("s1") is None
    assert store.delete("s1") is False


def test_list_by_owner_and_active(es, indices):
    store = SubscriptionStore(es, indices)
    store.put(_sub("a1", owner="ana"))
    store.put(_sub("a2", owner="ana", active=False))
    store.put(_sub("b1", owner="bob"))
    assert sorted(s.id for s in store.list()) == ["a1", "a2", "b1"]
    assert sorted(s.id for s in store.list(owner="ana")) == ["a1", "a2"]
    assert sorted(s.id for s in store.list(owner="ana", active_only=True)) == ["a1"]
    assert sorted(s.id for s in store.all_active()) == ["a1", "b1"]


def test_put_refuses_a_bad_query(es, indices):
    store = SubscriptionStore(es, indices)
    with pytest.raises(QueryRejected) as caught:
        store.put(_sub("bad", query="maduro AND *ilitary"))
    assert caught.value.position == 11
    assert store.get("bad") is None


def test_cached_loader_sees_changes_after_refresh(es, indices, run_async):
    store = SubscriptionStore(es, indices)
    store.put(_sub("c1"))
    ticks = [0.0]

    async def scenario(aes):
        cache = CachedSubscriptions(aes, indices, refresh_s=10.0, clock=lambda: ticks[0])
        first = [s.id for s in await cache.active()]
        store.put(_sub("c2"))
        cached = [s.id for s in await cache.active()]
        ticks[0] = 11.0
        refreshed = sorted(s.id for s in await cache.active())
        return first, cached, refreshed

    first, cached, refreshed = run_async(scenario)
    assert first == ["c1"]
    assert cached == ["c1"]            # not stale yet: no reload
    assert refreshed == ["c1", "c2"]
