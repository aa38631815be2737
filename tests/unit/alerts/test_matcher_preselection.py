"""Anchor terms: a necessary condition for a match, never a false "no"."""

import pytest

from processors.matcher import ArticleTexts, anchors, has_anchor_in, searched_fields, tokens_by_text
from processors.query_validation import parse
from wirewatch.schema import Article, Source

FIELDS = ("title", "text")
STOP = {"the", "a"}


def lookup(field_name, text):
    """A stand-in analyser: lowercase words, stop words gone; 'text' also drops a plural s."""
    words = [w for w in text.lower().replace("-", " ").split() if w not in STOP]
    if field_name == "text":
        words = [w[:-1] if w.endswith("s") and len(w) > 4 else w for w in words]
    return tuple(words)


def anchor_of(query):
    return anchors(parse(query).root, FIELDS, lookup)


@pytest.mark.parametrize(
    "query,expected",
    [
        ("maduro", {("title", "maduro"), ("text", "maduro")}),
        ("soldiers", {("title", "soldiers"), ("text", "soldier")}),
        ("maduro AND army", {("title", "army"), ("text", "army")}),  # either one will do; the smaller/first
        ("maduro OR army", {("title", "maduro"), ("text", "maduro"), ("title", "army"), ("text", "army")}),
        ("title:maduro", {("title", "maduro")}),
        ('"armed forces"', {("title", "forces"), ("text", "armed")}),
        ("al-qaeda", {("title", "al"), ("title", "qaeda"), ("text", "al"), ("text", "qaeda")}),
        ("maduro AND NOT army", {("title", "maduro"), ("text", "maduro")}),
        ("the AND maduro", {("title", "maduro"), ("text", "maduro")}),  # a vanished word is no anchor
    ],
)
def test_anchor_sets(query, expected):
    got = anchor_of(query)
    if query == "maduro AND army":
        assert got in ({("title", "army"), ("text", "army")}, {("title", "maduro"), ("text", "maduro")})
    else:
        assert got == expected


@pytest.mark.parametrize(
    "query",
    ["sold*", "maduro OR sold*", "topic:politics", "maduro OR topic:politics", "the", "the OR maduro",
     "(NOT maduro) AND topic:x", "entity:maduro", "maduro lang:en"],
)
def test_no_anchor_means_always_a_candidate(query):
    assert anchor_of(query) is None
    assert has_anchor_in(anchor_of(query), {})


def test_prefix_inside_an_and_does_not_prevent_anchoring():
    assert anchor_of("sold* AND maduro") == {("title", "maduro"), ("text", "maduro")}


def test_has_anchor_in_batch_terms():
    anchor = anchor_of("soldiers")
    assert has_anchor_in(anchor, {"text": {"soldier"}})
    assert not has_anchor_in(anchor, {"text": {"soldiers"}, "title": {"soldier"}})


def test_tokens_by_text_uses_utf16_offsets():
    texts = ["🙂 ab", "cd", "é f"]
    # "🙂 ab" is 5 UTF-16 units: texts start at 0, 6, 9
    tokens = [{"token": "ab", "start_offset": 3}, {"token": "cd", "start_offset": 6},
              {"token": "é", "start_offset": 9}, {"token": "f", "start_offset": 11}]
    assert tokens_by_text(texts, tokens) == {"🙂 ab": ("ab",), "cd": ("cd",), "é f": ("é", "f")}


def test_searched_fields_keep_only_languages_present():
    fields = searched_fields([{"title": "x", "text": "y", "title_es": "x", "text_es": "y", "title_fr": ""}])
    bare = [f.split("^")[0] for f in fields]
    assert set(bare) == {"title", "text", "title_es", "text_es"}


def _article(title, text):
    from datetime import datetime, timezone

    now = datetime(2017, 5, 20, tzinfo=timezone.utc)
    return Article(id="a", url="https://e.org/a", title=title, text=text, source=Source(feed_url="https://e.org/rss"),
                   published_at=now, fetched_at=now)


def test_python_highlight_marks_folded_plural_and_prefix_hits_and_escapes():
    from processors.matcher import highlight_terms

    texts = ArticleTexts.of(_article("Nicolas <Maduro> & soldiers", "x " * 200 + "The Soldier met Nicolás. Venezuelans cheered."))
    got = texts.highlight(highlight_terms('nicolás AND soldiers AND venezuel* AND NOT army'))
    assert got["title"] == ["<em>Nicolas</em> &lt;Maduro&gt; &amp; <em>soldiers</em>"]
    assert "<em>Soldier</em>" in got["text"][0] and "<em>Nicolás</em>" in got["text"][0]
    assert "<em>Venezuelans</em>" in got["text"][0]
    assert texts.highlight(highlight_terms("army")) == {}
