"""Catalogue validation and OPML, schedule arithmetic, feed state, parser isolation."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from producers import schedule
from producers.catalogue import CatalogueError, Feed, dump_catalogue, export_opml, import_opml, load_catalogue, parse_catalogue
from producers.isolation import BoundedParser
from producers.normalise import FeedRefused
from producers.state import MAX_SEEN_PER_FEED, FeedState

GOOD = """\
feeds:
  - url: https://example.com/feed.xml
    name: Example
    language: en
    tags: [world]
  - https://other.example/rss
"""


def test_catalogue_loads_with_defaults(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD)
    feeds = load_catalogue(path)
    assert [f.url for f in feeds] == ["https://example.com/feed.xml", "https://other.example/rss"]
    assert feeds[0].tags == ["world"] and feeds[1].min_interval == 300 and feeds[1].enabled
    assert parse_catalogue(dump_catalogue(feeds)) == feeds


@pytest.mark.parametrize(
    "text, expected",
    [
        ("feeds:\n  - url: https://a.example/\n    min_interval: soon\n", ":3: feeds[0].min_interval"),
        ("feeds:\n  - url: https://a.example/\n  - url: ftp://b.example/\n", ":3: feeds[1].url"),
        ("feeds:\n  - url: https://a.example/\n    colour: red\n", ":3: feeds[0].colour"),
        ("feeds:\n  - url: https://a.example/\n    min_interval: 900\n    max_interval: 600\n", "feeds[0]: Value error, min_interval"),
        ("feeds:\n  - name: no url\n", "feeds[0].url"),
        ("feeds:\n  - url: https://a.example/\n  - url: https://a.example/\n", "already listed at line 2"),
        ("feeds: [unclosed\n", "not valid YAML"),
        ("feed:\n  - https://a.example/\n", "'feeds:' list"),
        ("feeds:\n  - url: https://a.example/\n    language: 'e n'\n", ":3: feeds[0].language"),
    ],
)
def test_catalogue_errors_name_line_and_key(text, expected):
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(text, source="feeds.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("feeds.yaml")


def test_missing_catalogue(tmp_path):
    with pytest.raises(CatalogueError, match="no such file"):
        load_catalogue(tmp_path / "nope.yaml")


def test_opml_round_trip_and_nested_tags():
    feeds = [Feed(url="https://a.example/rss", name="A", language="en", tags=["news"]), Feed(url="https://b.example/atom")]
    assert import_opml(export_opml(feeds)) == feeds
    nested = b"""<?xml version="1.0"?><opml version="1.0"><head/><body>
      <outline text="World"><outline text="BBC" xmlUrl="http://feeds.bbci.co.uk/news/world/rss.xml"/></outline>
      <outline text="bad" xmlUrl="javascript:alert(1)"/></body></opml>"""
    (feed,) = import_opml(nested)
    assert feed.name == "BBC" and feed.tags == ["World"]


@pytest.mark.parametrize("data", [b"<opml><body>", b'<!DOCTYPE x [<!ENTITY a "b">]><opml><body/></opml>', b"<rss/>"])
def test_bad_opml(data):
    with pytest.raises(CatalogueError):
        import_opml(data)


NOW = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


def test_interval_follows_publishing_rate_within_bounds():
    hourly = [NOW - timedelta(hours=h) for h in range(10)]
    assert schedule.regular_interval(min_interval=300, max_interval=21600, published=hourly, now=NOW) == pytest.approx(1800)
    busy = [NOW - timedelta(minutes=m) for m in range(10)]
    assert schedule.regular_interval(min_interval=300, max_interval=21600, published=busy, now=NOW) == 300
    assert schedule.regular_interval(min_interval=300, max_interval=21600, published=[], now=NOW) == 21600
    stale = [NOW - timedelta(days=6, hours=h) for h in range(10)]
    assert schedule.regular_interval(min_interval=300, max_interval=21600, published=stale, now=NOW) == 21600


def test_interval_honours_feed_and_http_hints():
    busy = [NOW - timedelta(minutes=m) for m in range(10)]
    for hint in ("ttl_s", "update_period_s", "max_age_s"):
        assert schedule.regular_interval(min_interval=300, max_interval=21600, published=busy, now=NOW, **{hint: 3600}) == 3600
    assert schedule.regular_interval(min_interval=300, max_interval=21600, published=busy, now=NOW, ttl_s=10**6) == 21600


def test_failure_backoff_is_exponential_capped_and_honours_retry_after():
    delays = [schedule.failure_delay(failures=n, min_interval=300) for n in range(1, 12)]
    assert delays[:3] == [300, 600, 1200]
    assert max(delays) == schedule.BACKOFF_CAP_S and delays == sorted(delays)
    assert schedule.failure_delay(failures=1, min_interval=300, retry_after_s=7200) == 7200


def test_jitter_stays_within_ten_percent():
    import random

    rng = random.Random(1)
    values = [schedule.jittered(1000, rng) for _ in range(200)]
    assert min(values) >= 900 and max(values) <= 1100 and len(set(values)) > 100


def test_feed_state_round_trip_bound_and_prune():
    state = FeedState(url="https://a.example/")
    for i in range(MAX_SEEN_PER_FEED + 10):
        state.remember(f"id{i}", "ab" * 16)
    state.remember("id5000", "cd" * 16)
    assert len(state.seen) == MAX_SEEN_PER_FEED and "id0" not in state.seen
    assert state.is_known("id5000", "cd" * 16) and not state.is_known("id5000", "ab" * 16) and not state.is_known("nope", "ab" * 16)
    back = FeedState.from_json(state.to_json())
    assert back == state and list(back.seen)[-1] == "id5000"
    state.prune({"id5000", "id20"})
    assert set(state.seen) == {"id5000", "id20", "id1009", "id1008"}  # current ones + as many of the newest others
    assert state.entries_seen == MAX_SEEN_PER_FEED + 11


def test_bounded_parser_parses_refuses_and_survives_a_timeout():
    body = b'<rss version="2.0"><channel><title>T</title><item><title>a</title><link>http://a.example/1</link></item></channel></rss>'

    async def run():
        parser = BoundedParser(timeout_s=30)
        try:
            parsed = await parser.parse(body, feed_url="http://a.example/f", fetched_at=NOW)
            assert [a.url for a in parsed.articles] == ["http://a.example/1"]
            with pytest.raises(FeedRefused, match="entities"):
                await parser.parse(b'<!DOCTYPE r [<!ENTITY a "b">]><rss/>', feed_url="http://a.example/f", fetched_at=NOW)
            parser.timeout_s = 0.000001
            with pytest.raises(FeedRefused, match="did not finish"):
                await parser.parse(body, feed_url="http://a.example/f", fetched_at=NOW)
            parser.timeout_s = 30
            again = await parser.parse(body, feed_url="http://a.example/f", fetched_at=NOW)
            assert len(again.articles) == 1
        finally:
            await parser.aclose()

    asyncio.run(run())
