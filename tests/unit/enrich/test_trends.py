"""Windowed trend counts and the trending score, with a fake clock."""

import math

import pytest

from processors.trends import (
    KeyBudget,
    TumblingCounts,
    article_terms,
    trending,
    trends_report,
    window_start,
)

HOUR = 3600.0
T0 = 1_700_000_000.0 - 1_700_000_000.0 % HOUR   # an hour boundary


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def enrichment(keywords=(), entities=(), topics=()):
    return {"keywords": [{"phrase": k, "score": 1.0} for k in keywords],
            "entities": [{"text": e, "type": "person"} for e in entities],
            "topics": [{"name": t, "score": 1.0} for t in topics]}


def test_article_terms_fold_keywords_cap_and_dedupe():
    e = enrichment(keywords=["Political Prisoners", "political  prisoners", "oil", "x", "y"],
                   entities=["Leopoldo López", "Venezuela"], topics=["politics"])
    assert article_terms(e, max_terms=3) == ["keyword:political prisoners", "keyword:oil",
                                             "entity:Leopoldo López", "entity:Venezuela", "topic:politics"]


def test_article_terms_ignore_hostile_shapes():
    assert article_terms({"keywords": "oops", "entities": [None, {"text": 5}], "topics": [{"name": " "}]}, 5) == []


def test_the_enrich_agent_takes_the_same_terms_from_its_enrichment_as_trends_from_the_wire():
    from processors.trends import enrichment_terms
    from wirewatch.schema import Enrichment

    e = enrichment(keywords=["Political Prisoners", "political  prisoners", "oil", " ", "y"],
                   entities=["Leopoldo López", "Venezuela"], topics=["politics", "politics"])
    assert enrichment_terms(Enrichment.model_validate(e), 3) == article_terms(e, 3)


def test_carried_terms_keep_only_bounded_known_keys():
    from processors.trends import MAX_CARRIED_TERMS, MAX_TERM_CHARS, carried_terms

    assert carried_terms("keyword:oil") == [] and carried_terms(None) == []
    hostile = ["keyword:oil", "keyword:oil", 5, None, "people:x", "topic:", "entity:" + "x" * (MAX_TERM_CHARS + 1),
               "topic:politics", ["keyword:nested"]]
    assert carried_terms(hostile) == ["keyword:oil", "topic:politics"]
    assert len(carried_terms([f"keyword:k{i}" for i in range(MAX_CARRIED_TERMS * 2)])) == MAX_CARRIED_TERMS


def test_mentions_counted_together_are_dropped_together():
    budget = KeyBudget(max_keys=1)
    assert budget.admit(0, "a", 3) and not budget.admit(0, "b", 4)
    assert budget.dropped == 4


def test_tumbling_windows_and_expiry():
    clock = Clock(T0 + 10)
    counts = TumblingCounts(300, expires_s=HOUR, clock=clock)
    counts.add("topic:sport")
    clock.now = T0 + 310
    counts.add("topic:sport")
    counts.add("topic:sport")
    starts = sorted({rng[0] for (_key, rng) in counts.data})
    assert starts == [T0, T0 + 300]
    clock.now = T0 + 300 + 300 + HOUR  # both windows ended more than an hour ago... the first one first
    assert counts.expire() == 2 and counts.data == {}


def test_key_budget_bounds_distinct_keys_per_window():
    budget = KeyBudget(max_keys=2, max_windows=2)
    assert budget.admit(0, "a") and budget.admit(0, "b") and budget.admit(0, "a")
    assert not budget.admit(0, "c") and budget.dropped == 1
    assert budget.admit(300, "c")
    budget.admit(600, "d")
    assert len(budget.seen) == 2


def test_burst_scores_above_steady_term():
    # Baseline: 6 hours where "topic:politics" is mentioned 60 times an hour, "entity:Tintori" never.
    clock = Clock(T0)
    short = TumblingCounts(300, HOUR, clock)
    hourly = TumblingCounts(HOUR, 25 * HOUR, clock)
    for hour in range(6):
        for minute in range(60):
            ts = T0 + hour * HOUR + minute * 60
            hourly.add("topic:politics", ts)
            short.add("topic:politics", ts)
    now = T0 + 6 * HOUR + 240   # 4 minutes into the 5-minute window
    clock.now = now
    for i in range(4):
        for key in ("topic:politics", "entity:Tintori", "entity:Tintori"):
            hourly.add(key, now - 200 + i)
            short.add(key, now - 200 + i)
    report = trends_report(short.data.items(), hourly.data.items(), "5m", now, baseline_hours=24)
    by_term = {t["term"]: t for t in report["trends"]}
    assert report["trends"][0]["term"] == "Tintori"
    assert by_term["Tintori"]["count"] == 8 and by_term["Tintori"]["expected"] == 0
    # politics: 1 a minute over the baseline, so 4 expected in 4 minutes, 4 seen: about 0.
    assert by_term["politics"]["expected"] == pytest.approx(4.0, rel=0.01)
    assert abs(by_term["politics"]["score"]) < 0.5
    only_topics = trends_report(short.data.items(), hourly.data.items(), "5m", now, 24, kind="topic")
    assert [t["term"] for t in only_topics["trends"]] == ["politics"]


def test_score_formula_and_young_window():
    # 10 seen where 1 per 100 s was usual, 200 s into the window (elapsed floored at 60 s when younger).
    top = trending({"keyword:oil": 10}, current_start=T0, now=T0 + 200,
                   hourly_totals={"keyword:oil": 10 + 36}, oldest_hour_start=T0 - HOUR)
    expected = 36 / HOUR * 200
    assert top[0].score == pytest.approx((10 - expected) / math.sqrt(expected + 1))
    young = trending({"keyword:oil": 1}, T0, T0 + 1, {"keyword:oil": 1 + 36}, T0 - HOUR)
    assert young[0].expected == pytest.approx(36 / HOUR * 60)


def test_hour_window_uses_previous_hours_only():
    hourly = {("topic:sport", (T0, T0 + HOUR - 0.1)): 30, ("topic:sport", (T0 + HOUR, T0 + 2 * HOUR - 0.1)): 30}
    report = trends_report([], hourly.items(), "1h", T0 + HOUR + 1800, baseline_hours=24)
    (sport,) = report["trends"]
    assert sport["count"] == 30 and sport["expected"] == pytest.approx(15.0)  # 30 an hour, half an hour in
    assert window_start(T0 + HOUR + 1800, HOUR) == report["window_start"]


def test_bad_window_or_kind_is_refused():
    with pytest.raises(ValueError, match="window"):
        trends_report([], [], "2d", T0, 24)
    with pytest.raises(ValueError, match="kind"):
        trends_report([], [], "5m", T0, 24, kind="people")


# ------------------------------------------------------------ `wirewatch trends`

def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_says_when_no_worker_answers(monkeypatch, capsys):
    from processors.enrich.cli import main

    monkeypatch.setenv("WIREWATCH_PROCESSOR_WEB_PORT", str(_free_port()))
    assert main(["trends", "--timeout", "2"]) == 2
    err = capsys.readouterr().err
    assert "no worker answers" in err and "Traceback" not in err


def test_cli_prints_the_worker_answer(monkeypatch, capsys):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from processors.enrich.cli import main

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.path)
            body = json.dumps({"window": "1h", "baseline_hours": 24, "trends": [
                {"kind": "entity", "term": "Lilian Tintori", "count": 8, "expected": 0.5, "score": 6.7}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("WIREWATCH_PROCESSOR_WEB_PORT", str(server.server_address[1]))
        assert main(["trends", "--window", "1h", "--kind", "entity", "--limit", "5"]) == 0
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert "Lilian Tintori" in out and "6.70" in out
    assert seen == ["/trends?window=1h&limit=5&kind=entity"]


def test_cli_refuses_a_bad_limit(capsys):
    from processors.enrich.cli import main

    assert main(["trends", "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err


def test_pending_counts_sum_per_window_and_flush_on_time():
    from processors.trends import PendingCounts

    clock = Clock(0.0)
    pending = PendingCounts(clock=clock)
    pending.add_all("5m", T0, {"topic:sport": 1})
    pending.add_all("5m", T0, {"topic:sport": 2})  # two articles of one message
    pending.add_all("5m", T0 + 300, {"topic:sport": 1})
    pending.add_all("5m", T0 + 300, {"keyword:oil": 1})
    pending.add_all("5m", T0 + 300, {"keyword:oil": 1})
    pending.add_all("5m", T0 + 300, {"keyword:once": 1})
    assert not pending.due()
    rows = dict(pending.rows("5m", 300))
    assert rows[("topic:sport", (T0, T0 + 299.9))] == 3 and rows[("keyword:once", (T0 + 300, T0 + 599.9))] == 1
    clock.now = PendingCounts.FLUSH_S
    assert pending.due()
    taken = pending.take()
    # The closed window's counts go out; in the current one, single mentions wait.
    assert taken == {("5m", T0): {"topic:sport": 3}, ("5m", T0 + 300): {"keyword:oil": 2}}
    assert sorted(pending.rows("5m", 300)) == [(("keyword:once", (T0 + 300, T0 + 599.9)), 1),
                                               (("topic:sport", (T0 + 300, T0 + 599.9)), 1)]
    assert not pending.due()
    pending.add_all("5m", T0 + 300, {"keyword:oil": 1})   # already written: one more mention is written at once
    pending.add_all("5m", T0 + 300, {"keyword:once": 1})  # its second mention: written with both
    assert pending.take() == {("5m", T0 + 300): {"keyword:oil": 1, "keyword:once": 2}}
    pending.add_all("5m", T0 + 600, {"keyword:late": 1})
    pending.add_all("5m", T0 + 300, {"keyword:stale": 1})  # a late single mention of a closed window is dropped
    assert pending.take() == {} and pending.rows("5m", 300) == [(("keyword:late", (T0 + 600, T0 + 899.9)), 1)]


@pytest.mark.parametrize("query, problem", [({"window": "2d"}, "window"), ({"kind": "people"}, "kind"),
                                            ({"limit": "0"}, "limit"), ({"limit": "-3"}, "limit"),
                                            ({"limit": "9999"}, "limit"), ({"limit": "ten"}, "limit")])
def test_endpoint_refuses_bad_queries(query, problem):
    from processors.agents.trends import query_params

    with pytest.raises(ValueError, match=problem):
        query_params(query)


def test_endpoint_query_defaults():
    from processors.agents.trends import query_params

    assert query_params({}) == ("5m", None, 20)
    assert query_params({"window": "1h", "kind": "entity", "limit": "7"}) == ("1h", "entity", 7)


def test_shards_are_stable_and_rows_expand_back_to_terms():
    from processors.shards import merged_counts as merged
    from processors.trends import TREND_SHARDS, by_shard, shard_of, shard_rows

    # The same shard in every process (CRC-32, not Python's salted hash): a restarted
    # worker must find the counts its changelog recovered under the same keys.
    assert shard_of("keyword:election") == shard_of("keyword:election")
    assert shard_of("keyword:election") == f"s{__import__('zlib').crc32(b'keyword:election') % TREND_SHARDS:02d}"
    counts = {f"keyword:term{i}": i + 1 for i in range(200)}
    shards = by_shard(counts)
    assert len(shards) <= TREND_SHARDS and sum(map(len, shards.values())) == 200
    rng = (0.0, 299.0)
    stored = {(shard, rng): merged({}, increments) for shard, increments in shards.items()}
    stored = {key: merged(value, {k: 1 for k in value}) for key, value in stored.items()}  # a second flush adds 1
    assert dict(((k, r), n) for (k, r), n in shard_rows(stored.items())) == {(k, rng): n + 1 for k, n in counts.items()}


def test_merged_ignores_a_corrupt_stored_value():
    from processors.shards import merged_counts as merged
    from processors.trends import shard_rows

    assert merged("not a dict", {"topic:sport": 2}) == {"topic:sport": 2}
    assert merged({"topic:sport": "x", 5: 1, "topic:war": 1}, {"topic:war": 2}) == {"topic:war": 3}
    assert shard_rows([(("s01", (0.0, 1.0)), None), (("s02", (0.0, 1.0)), {"topic:war": 3, "bad": "x"})]) == \
        [(("topic:war", (0.0, 1.0)), 3)]


def test_a_window_admits_a_whole_message_as_key_by_key_admission_would():
    import random

    from processors.trends import KeyBudget

    rng = random.Random(4)
    for _ in range(300):
        one, bulk = KeyBudget(max_keys=rng.randint(1, 12)), KeyBudget(max_keys=0)
        bulk.max_keys = one.max_keys
        for _message in range(rng.randint(1, 5)):
            start = rng.choice([0, 300])
            counts = {f"k{rng.randint(0, 15)}": rng.randint(1, 3) for _ in range(rng.randint(0, 10))}
            expected = {key: n for key, n in counts.items() if one.admit(start, key, n)}
            assert dict(bulk.admit_all(start, counts)) == expected
        assert bulk.seen == one.seen and bulk.dropped == one.dropped


def test_pending_increments_of_a_message_add_up():
    from processors.trends import PendingCounts

    pending = PendingCounts(clock=lambda: 0.0)
    pending.add_all("5m", 0.0, {"topic:sport": 2, "keyword:oil": 1})
    pending.add_all("5m", 0.0, {"keyword:oil": 3, "keyword:gas": 1})
    assert pending.counts[("5m", 0.0)] == {"topic:sport": 2, "keyword:oil": 4, "keyword:gas": 1}
    assert pending.keys == 3
