"""Pure parts of the matcher: dedup, filter pre-selection, response parsing."""

from datetime import datetime, timezone
from urllib.parse import unquote

import pytest

from processors.matcher import (
    SCRATCH_GENERATION_AGE_S,
    SCRATCH_GENERATION_DOCS,
    SCRATCH_STALE_AGE_S,
    BatchFacts,
    BatchStats,
    batch_facts,
    chunk_search_body,
    discover_url,
    matched_terms,
    matches_from_response,
    may_match,
    ScratchGeneration,
    stale_scratch_indices,
    story_of,
    unseen_alerts,
)
from wirewatch.schema import Alert, Article, Enrichment, Source, Subscription, SubscriptionFilters

NOW = datetime(2017, 5, 20, tzinfo=timezone.utc)


def _alert(alert_id: str) -> Alert:
    return Alert(id=alert_id, subscription_id="s", subscription_name="s", owner="o", query="q", article_id="a",
                 story_id="st", title="t", url="u", source="x", published_at=NOW)


def _sub(**filters) -> Subscription:
    return Subscription(id="s", name="s", query="maduro", filters=SubscriptionFilters(**filters))


def test_unseen_alerts_drops_seen_and_repeated_ids():
    alerts = [_alert("a"), _alert("b"), _alert("a"), _alert("c")]
    assert [a.id for a in unseen_alerts(alerts, {"b"})] == ["a", "c"]
    assert [a.id for a in unseen_alerts(alerts, set())] == ["a", "b", "c"]


def test_filters_preselect_exactly_on_document_values():
    facts = batch_facts([
        {"language": "en", "source": "bbc.co.uk", "domain": "www.bbc.co.uk", "topics": ["politics"], "source_country": "gb"},
        {"language": "es", "source": "elpais.com", "domain": "elpais.com", "topics": [], "source_country": None},
    ])
    assert may_match(_sub(), facts)
    assert may_match(_sub(languages=["EN"]), facts)          # language is lowercased in the index
    assert not may_match(_sub(languages=["fr"]), facts)
    assert may_match(_sub(topics=["politics"]), facts)
    assert not may_match(_sub(topics=["Politics"]), facts)  # topics are exact
    assert may_match(_sub(sources=["www.bbc.co.uk"]), facts)
    assert not may_match(_sub(languages=["en"], topics=["sport"]), facts)
    assert not may_match(_sub(countries=["fr"]), facts)


def test_empty_facts_only_let_unfiltered_subscriptions_through():
    empty = BatchFacts({name: frozenset() for name in ("languages", "sources", "topics", "countries")})
    assert may_match(_sub(), empty)
    assert not may_match(_sub(languages=["en"]), empty)


def test_chunk_body_names_each_clause_and_restricts_to_the_batch():
    subs = [Subscription(id=f"s{i}", name="n", query="maduro", filters=SubscriptionFilters(languages=["en"])) for i in range(3)]
    body = chunk_search_body(subs, ["d1", "d2"])
    assert body["size"] == 2
    assert body["query"]["bool"]["filter"] == [{"ids": {"values": ["d1", "d2"]}}]
    assert [c["bool"]["_name"] for c in body["query"]["bool"]["should"]] == ["s0", "s1", "s2"]
    assert body["query"]["bool"]["should"][0]["bool"]["filter"] == [{"terms": {"language": ["en"]}}]


def test_matches_from_response():
    response = {"hits": {"hits": [
        {"_id": "d1", "matched_queries": ["s1", "s2"]},
        {"_id": "d2", "matched_queries": {"s3": 1.0}},
        {"_id": "d3"},
    ]}}
    assert matches_from_response(response) == {"d1": {"s1", "s2"}, "d2": {"s3"}}


def test_matched_terms_from_highlights():
    highlight = {"title": ["<em>Maduro</em> and <em>soldiers</em>"], "text": ["the <em>maduro</em> &amp; <em>AT&amp;T</em>"]}
    assert matched_terms(highlight) == ["maduro", "soldiers", "at&t"]


def _article(story_id=None) -> Article:
    return Article(id="abc123", url="https://x.example/a", source=Source(feed_url="https://x.example/rss"),
                   published_at=NOW, fetched_at=NOW, enrichment=Enrichment(story_id=story_id))


def test_story_of_falls_back_to_the_article():
    assert story_of(_article()) == "abc123"
    assert story_of(_article("story-9")) == "story-9"


def test_discover_url_filters_on_the_article_id():
    url = discover_url("http://kibana:5601/", _article())
    assert url.startswith("http://kibana:5601/app/discover#/?")
    decoded = unquote(url)
    assert "_id:\"abc123\"" in decoded and "2017-05-19T00:00:00.000Z" in decoded


def test_batch_stats_of_parts_add_up_and_count_each_subscription_once():
    first = BatchStats(articles=125, candidate_ids=frozenset({"a", "b"}), preselected_ids=frozenset({"a"}), pairs=3,
                       decided_pairs=10, searches=1, matches=4, index_s=0.5, skipped_subscriptions=["x"])
    second = BatchStats(articles=50, candidate_ids=frozenset({"b", "c"}), preselected_ids=frozenset({"b"}), pairs=2,
                        decided_pairs=5, searches=2, matches=1, index_s=0.25, skipped_subscriptions=["y"])
    merged = BatchStats.merged([first, second])
    assert (merged.articles, merged.pairs, merged.decided_pairs, merged.searches, merged.matches) == (175, 5, 15, 3, 5)
    assert merged.index_s == 0.75 and merged.skipped_subscriptions == ["x", "y"]
    assert (merged.candidates, merged.preselected) == (3, 2)
    assert BatchStats.merged([first]) is first and BatchStats.merged([]).articles == 0


def test_match_runs_a_batch_in_parts_keeps_their_order_and_raises_a_failed_parts_error():
    import asyncio
    from types import SimpleNamespace

    from processors.matcher import Matcher
    from wirewatch.names import Indices
    from wirewatch.settings import ESSettings

    class Parts(Matcher):
        async def _match_batch(self, articles, stats):
            await asyncio.sleep(0.02 if articles[0] == "a" else 0)  # the first part finishes last
            if "bad" in articles:
                raise ValueError("part refused")
            stats.pairs = len(articles)
            return [SimpleNamespace(id=a) for a in articles]

    matcher = Parts(None, Indices.from_settings(ESSettings()), None, part_size=2)
    alerts = asyncio.run(matcher.match(["a", "b", "c", "a"]))
    assert [a.id for a in alerts] == ["a", "b", "c"]  # in article order, each id once
    assert (matcher.last_stats.articles, matcher.last_stats.pairs) == (4, 4)
    with pytest.raises(ValueError, match="part refused"):  # its own error, not an exception group
        asyncio.run(matcher.match(["a", "b", "bad", "c"]))


def test_accented_text_is_searched_in_place_and_agrees_with_the_token_index():
    import random

    from processors.matcher import TokenIndex, highlight_terms

    assert TokenIndex.of("José Bogotá niño").lowered == "jose bogota nino"   # folded letter by letter, same offsets
    assert TokenIndex.of("Straße in İstanbul").lowered is None               # "ß" folds to two letters: tokenised
    rng = random.Random(6)
    words = ["José", "Bogotá", "bogota", "jose", "Niño", "niños", "soldiers", "Müller", "straße", "İstanbul", "café",
             "cafés", "résumé", "naïve", "Łódź", "e\u0301cole", "ΑΘΗΝΑ", "Москва", "O’Brien", "don't", "PRISONERS", "josé’s"]
    queries = ["jose", "bogota", "nino", "muller", "strasse", "istanbul", "cafe", "resume", "naive", "lodz", "ecole",
               "αθηνα", "москва", "o'brien", "prisoner", "jos*", "caf*"]
    for _ in range(1500):
        text = " ".join(rng.choice(words) + rng.choice(["", ",", "."]) for _ in range(rng.randint(1, 25)))
        found, tokenised = TokenIndex.of(text), TokenIndex.tokenised(text)
        for query in queries:
            terms = highlight_terms(query)
            assert found.hits(terms) == tokenised.hits(terms), (text, query)


def test_a_scratch_generation_is_spent_when_full_or_old():
    generation = ScratchGeneration("s-1", started=1000.0)
    assert not generation.spent(now=1000.0 + SCRATCH_GENERATION_AGE_S - 1)
    assert generation.spent(now=1000.0 + SCRATCH_GENERATION_AGE_S)
    generation.docs = SCRATCH_GENERATION_DOCS - 1
    assert not generation.spent(now=1001.0)
    generation.docs += 1
    assert generation.spent(now=1001.0)


def test_stale_scratch_indices_are_those_older_than_a_day_but_ours():
    now_ms = 10_000_000_000
    day_ago = now_ms - SCRATCH_STALE_AGE_S * 1000

    def answer(created):
        return {"settings": {"index": {"creation_date": str(created)}}}

    settings = {"s-old": answer(day_ago - 1), "s-young": answer(day_ago + 1), "s-mine": answer(day_ago - 5),
                "s-odd": {"settings": {}}, "s-older": answer(0)}
    assert stale_scratch_indices(settings, now_ms, keep="s-mine") == ["s-old", "s-older"]
