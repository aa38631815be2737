"""CachedSubscriptions: the matcher's and deliver agent's subscription source re-reads
the subscriptions only when the index changed, and sees every kind of change."""

from __future__ import annotations

import pytest

from processors.subscriptions import CachedSubscriptions, SubscriptionStore
from wirewatch.schema import Subscription

pytestmark = pytest.mark.integration


def _sub(i: int, **update) -> Subscription:
    return Subscription(**{"id": f"s{i}", "name": f"s {i}", "query": f"word{i}", **update})


def test_reloads_only_on_change_and_sees_every_change(run_async, es, indices):
    store = SubscriptionStore(es, indices)

    async def go(aes):
        source = CachedSubscriptions(aes, indices, refresh_s=0.0)
        seen = [await source.active()]                      # no index yet: nothing
        store.put(_sub(1), validate_on_server=False)
        store.put(_sub(2), validate_on_server=False)
        seen.append(await source.active())
        seen.append(await source.active())                  # unchanged: the same list object
        store.put(_sub(3), validate_on_server=False)
        seen.append(await source.active())                  # created
        store.put(_sub(1, query="changed"), validate_on_server=False)
        seen.append(await source.active())                  # updated, same count
        store.put(_sub(2, active=False), validate_on_server=False)
        seen.append(await source.active())                  # deactivated
        es.delete(index=indices.subscriptions, id="s3", refresh=True)
        seen.append(await source.active())                  # deleted
        return seen, (await source.by_id())

    seen, by_id = run_async(go)
    assert seen[0] == []
    assert sorted(s.id for s in seen[1]) == ["s1", "s2"]
    assert seen[2] is seen[1]
    assert sorted(s.id for s in seen[3]) == ["s1", "s2", "s3"]
    assert {s.id: s.query for s in seen[4]}["s1"] == "changed"
    assert sorted(s.id for s in seen[5]) == ["s1", "s3"]
    assert sorted(s.id for s in seen[6]) == ["s1"]
    assert list(by_id) == ["s1"] and by_id["s1"].query == "changed"


def test_keeps_serving_between_checks(run_async, es, indices):
    store = SubscriptionStore(es, indices)
    store.put(_sub(1), validate_on_server=False)

    async def go(aes):
        source = CachedSubscriptions(aes, indices, refresh_s=3600.0)
        first = await source.active()
        store.put(_sub(2), validate_on_server=False)
        return first, await source.active()

    first, second = run_async(go)
    assert second is first and [s.id for s in first] == ["s1"]
