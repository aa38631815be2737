"""`rewrite_urls`: the catalogue follows feeds that moved permanently, edited in
place (comments, order and every other key kept). The CLI verb, with the state
read from Kafka, is tested in tests/integration/producers/test_producer_full_text_and_moves.py."""

from __future__ import annotations

import pytest

from producers.catalogue import CatalogueError, parse_catalogue, rewrite_urls

CATALOGUE = """\
# Feeds of the newsroom (comments stay)
feeds:
  - url: https://old.example/rss   # moved in May
    name: Old Times
    language: en
    tags: [world, politics]
    full_text: true
  - https://bare.example/feed
  - {url: 'https://flow.example/x', name: Flow}
  - url: https://dup.example/
  - url: https://keep.example/
    min_interval: 600
"""


def test_moves_rewrite_only_the_urls():
    plan = rewrite_urls(CATALOGUE, {
        "https://old.example/rss": "https://new.example/rss?page=1",
        "https://bare.example/feed": "https://bare2.example/feed",
        "https://flow.example/x": "https://flow2.example/a,b",   # a comma cannot be plain in a flow mapping
        "https://not-listed.example/": "https://elsewhere.example/",
    })
    assert plan.applied == [("https://old.example/rss", "https://new.example/rss?page=1"),
                            ("https://bare.example/feed", "https://bare2.example/feed"),
                            ("https://flow.example/x", "https://flow2.example/a,b")]
    assert plan.skipped == []
    expected = (CATALOGUE.replace("https://old.example/rss", "https://new.example/rss?page=1")
                .replace("https://bare.example/feed", "https://bare2.example/feed")
                .replace("'https://flow.example/x'", '"https://flow2.example/a,b"'))
    assert plan.text == expected  # byte for byte: nothing else moved
    before, after = parse_catalogue(CATALOGUE), parse_catalogue(plan.text)
    assert [f.model_dump(exclude={"url"}) for f in before] == [f.model_dump(exclude={"url"}) for f in after]


@pytest.mark.parametrize("new, reason", [("https://keep.example/", "already in the catalogue"), ("ftp://files.example/feed", "not usable")])
def test_unusable_moves_are_skipped_with_a_reason(new, reason):
    plan = rewrite_urls(CATALOGUE, {"https://dup.example/": new})
    assert plan.applied == [] and plan.text == CATALOGUE
    ((old, target, why),) = plan.skipped
    assert old == "https://dup.example/" and target == new and reason in why


def test_two_feeds_moving_to_one_url_move_once():
    plan = rewrite_urls(CATALOGUE, {"https://dup.example/": "https://merged.example/", "https://keep.example/": "https://merged.example/"})
    assert plan.applied == [("https://dup.example/", "https://merged.example/")]
    assert [s[0] for s in plan.skipped] == ["https://keep.example/"]
    assert len(parse_catalogue(plan.text)) == 5


def test_broken_catalogue_is_refused():
    with pytest.raises(CatalogueError, match="feeds"):
        rewrite_urls("feeds: 3\n", {"a": "b"})
