"""Caches of the alert path: per-facts candidates, per-list derived data,
pooled HTTP clients, the deliver agent's shared clients, and the latency
arithmetic of `wirewatch bench alerts` (pure parts, no broker)."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import datetime, timezone
from types import SimpleNamespace

from bench.alerts import median_round, webhook_latencies
from processors.agents.deliver import SharedClients
from processors.delivery.http import ClientPool
from processors.matcher import BatchFacts, SubscriptionList, SubscriptionSet, batch_facts, may_match
from wirewatch.schema import Subscription, SubscriptionFilters


def _subs() -> list[Subscription]:
    return [
        Subscription(id="any", name="any", query="storm"),
        Subscription(id="en", name="en", query="storm", filters=SubscriptionFilters(languages=["EN"])),
        Subscription(id="es", name="es", query="storm", filters=SubscriptionFilters(languages=["es"])),
        Subscription(id="off", name="off", query="storm", active=False),
        Subscription(id="bad", name="bad", query="*storm"),  # no longer valid: dropped
    ]


def test_candidates_are_those_may_match_keeps_and_cached_per_facts():
    subs = _subs()
    subscription_set = SubscriptionSet.of(subs)
    facts = batch_facts([{"language": "en"}])
    first, ids, positions = subscription_set.candidates_and_ids(facts)
    assert all(first[positions[s.id]] is s for s in first)
    assert [s.id for s in first] == [s.id for s in subs if s.active and s.id != "bad" and may_match(s, facts)]
    assert ids == {"any", "en"}
    same_facts = BatchFacts(dict(batch_facts([{"language": "EN"}]).values))
    assert subscription_set.candidates_and_ids(same_facts)[0] is first  # cached
    other, other_ids, _ = subscription_set.candidates_and_ids(batch_facts([{"language": "es"}]))
    assert other_ids == {"any", "es"}
    assert set(subscription_set.by_id) == {"any", "en", "es"}


def test_subscription_list_signature_follows_ids_and_queries():
    subs = _subs()
    derived = SubscriptionList.of(subs)
    assert derived.ids == {s.id for s in subs}
    assert derived.signature == tuple((s.id, s.query) for s in subs)
    changed = [s.model_copy(update={"query": "flood"}) if s.id == "any" else s for s in subs]
    assert SubscriptionList.of(changed).signature != derived.signature


def test_client_pool_reuses_per_host_and_bounds_its_size():
    async def go():
        pool = ClientPool(size=2)
        a1 = pool.get("https://a.example.org/hook/secret-1", 10.0)
        assert pool.get("https://A.example.org/other", 10.0) is a1      # same origin: same client
        b = pool.get("https://b.example.org/hook", 10.0)
        assert b is not a1
        assert pool.get("https://a.example.org:8443/hook", 10.0) is not a1  # another port: another client
        await asyncio.sleep(0)  # the evicted client's close runs
        assert a1.closed and not b.closed
        assert pool.get("https://a.example.org/hook", 10.0) is not a1   # evicted: a fresh one
        return pool

    pool = asyncio.run(go())
    clients = {key: client for key, (_, client) in pool._clients.items()}

    async def later():  # another event loop (a new asyncio.run) never gets a client of the old one
        return pool.get("https://a.example.org/hook", 10.0)

    assert asyncio.run(later()) is not clients[("https://a.example.org", 10.0)]


def test_client_pool_closes_the_clients_of_its_loop():
    async def go():
        pool = ClientPool()
        a, b = pool.get("https://a.example.org/hook", 10.0), pool.get("https://b.example.org/hook", 10.0)
        await pool.close_all()
        return a, b, pool

    a, b, pool = asyncio.run(go())
    assert a.closed and b.closed and not pool._clients


def test_shared_clients_made_once_and_closed_by_the_last_user():
    closed = []

    class FakeEs:
        async def close(self):
            closed.append(True)

    made = []

    def make():
        made.append(1)
        return FakeEs(), "subs"

    async def go():
        shared = SharedClients(make)
        first, second = shared.acquire(), shared.acquire()
        assert first is second and len(made) == 1
        await shared.release()
        assert closed == []
        await shared.release()
        assert closed == [True]
        shared.acquire()  # a restarted actor gets fresh clients
        assert len(made) == 2

    asyncio.run(go())


def _hook(article_id: str, produced: datetime, received_at: float):
    body = json.dumps({"data": {"article_id": article_id, "produced_at": produced.isoformat()}}).encode()
    return SimpleNamespace(received_at=received_at, json=lambda: json.loads(body))


def test_webhook_latencies_first_copy_of_wanted_articles_in_production_order():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    base = t0.timestamp()
    hooks = [
        _hook("b", t0.replace(second=2), base + 2.5),
        _hook("a", t0, base + 0.25),
        _hook("a", t0, base + 9.0),         # a retry: ignored
        _hook("warm", t0, base + 1.0),      # not a measured article
    ]
    assert webhook_latencies(hooks, {"a", "b"}) == [0.25, 0.5]


def test_filter_lookup_equals_may_match_on_many_combinations():
    import itertools
    import random

    rng = random.Random(3)
    values = {"languages": ["en", "es", "FR"], "topics": ["sport", "politics", "Tech"], "sources": ["a.org", "B.org"],
              "countries": ["gb", "US"]}
    subs = []
    for i in range(300):
        filters = {name: rng.sample(options, rng.randint(1, 2)) for name, options in values.items() if rng.random() < 0.4}
        subs.append(Subscription(id=f"s{i}", name="s", query="storm", filters=SubscriptionFilters(**filters)))
    subscription_set = SubscriptionSet.of(subs)
    documents = [{"language": lang, "topics": [topic], "source": src, "domain": "c.org", "source_country": country}
                 for lang, topic, src, country in itertools.product(["en", "fr"], ["sport", "tech"], ["a.org", "b.org"], ["gb", None])]
    for size in (1, 2, 3):
        for batch in itertools.combinations(documents, size):
            facts = batch_facts(batch)
            got, _, _ = subscription_set.candidates_and_ids(facts)
            assert [s.id for s in got] == [s.id for s in subs if may_match(s, facts)]


def test_prefix_expansion_same_both_ways():
    from processors.matcher import _prefixed_by_bisect, _prefixed_by_terms

    by_prefix = {"ve": [1], "venez": [2, 3], "army": [4], "zz": [5]}
    terms = {"venezuela", "venez", "vex", "army", "armys", "arm", "v"}
    by_terms = {t: sorted(p) for t, p in _prefixed_by_terms(terms, by_prefix).items()}
    by_bisect = {t: sorted(p) for t, p in _prefixed_by_bisect(sorted(terms), by_prefix).items()}
    assert by_terms == by_bisect == {"venezuela": [1, 2, 3], "venez": [1, 2, 3], "vex": [1], "army": [4], "armys": [4]}


def test_bench_reports_the_round_of_median_throughput():
    rounds = [{"rate": 500.0, "id": "fast"}, {"rate": 180.0, "id": "cold"}, {"rate": 430.0, "id": "middle"}]
    assert median_round(rounds)["id"] == "middle"
    assert median_round(rounds[:2])["id"] == "cold"  # an even count: the lower middle, never flattering
    assert median_round(rounds[:1])["id"] == "fast"


def test_bench_says_when_elasticsearch_is_still_cold():
    from bench.alerts import COLD_NODE_CPU_PER_ARTICLE_S, WARM_NODE_CPU_S, cold_node_note

    assert cold_node_note(WARM_NODE_CPU_S, 1000) is None
    note = cold_node_note(30.0, 1000)
    passes = math.ceil((WARM_NODE_CPU_S - 30) / (1000 * COLD_NODE_CPU_PER_ARTICLE_S))
    assert "used 30 s of CPU" in note and f"--warm-up {passes} " in note
    assert "--warm-up 1 " in cold_node_note(WARM_NODE_CPU_S - 0.1, 1000)
