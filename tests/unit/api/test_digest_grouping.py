"""Grouping a period's alerts into stories, and what each channel receives."""

import json
from datetime import datetime, timezone

from processors.digests import build_digest, email_html, email_text, group_stories, slack_body, webhook_body
from wirewatch.schema import Subscription

UTC = timezone.utc


def _item(story, source, published, title="T", url="https://e.org/a"):
    return {"story_id": story, "source": source, "published_at": published, "title": title, "url": url,
            "highlights": ["the <em>army</em> said"], "topics": ["politics"]}


def test_each_story_once_with_its_sources():
    items = [
        _item("s1", "A", "2026-11-28T10:00:00+00:00", title="first copy"),
        _item("s1", "B", "2026-11-28T09:00:00+00:00", title="earliest copy"),
        _item("s2", "C", "2026-11-28T11:00:00+00:00"),
        _item("s3", "D", "2026-11-28T08:00:00+00:00"),
    ]
    stories = group_stories(items, {"s2": 5})
    assert [s.story_id for s in stories] == ["s2", "s1", "s3"]  # most sources first
    by_id = {s.story_id: s for s in stories}
    assert by_id["s1"].title == "earliest copy"
    assert by_id["s1"].sources == 2   # distinct sources among the items: the floor
    assert by_id["s2"].sources == 5   # the articles index knows more
    assert by_id["s3"].sources == 1


def test_equal_sources_newest_first_and_items_without_story_fall_back_to_article():
    items = [_item("a", "X", "2026-01-01T00:00:00+00:00"), _item("b", "Y", "2026-01-02T00:00:00+00:00"),
             {"article_id": "art-9", "title": "no story", "published_at": "2026-01-03T00:00:00+00:00"}]
    assert [s.story_id for s in group_stories(items, {})] == ["art-9", "b", "a"]


def test_empty():
    assert group_stories([], {}) == []


def _digest():
    sub = Subscription(id="s", name="Venezuela <mil> & co", query='maduro AND "armed forces"', mode="hourly")
    items = [_item("s1", "Example <b>News</b>", "2026-11-28T10:00:00+00:00", title="Soldiers <script>x</script>",
                   url="javascript:alert(1)")]
    return build_digest(sub, datetime(2026, 11, 28, 10, tzinfo=UTC), datetime(2026, 11, 28, 11, tzinfo=UTC),
                        items, {"s1": 4})


def test_webhook_payload_lists_the_stories():
    body = json.loads(webhook_body(_digest()))
    assert body["type"] == "digest.ready"
    data = body["data"]
    assert data["story_count"] == 1 and data["stories"][0]["sources"] == 4
    assert data["period_start"] == "2026-11-28T10:00:00+00:00" and data["kind"] == "hourly"


def test_slack_and_email_escape_article_fields():
    slack = json.loads(slack_body(_digest()))["text"]
    assert "<script>" not in slack and "&lt;script&gt;" in slack and "4 source(s)" in slack
    assert "javascript:" not in slack  # not a link
    page = email_html(_digest())
    assert "<script>" not in page and "&lt;script&gt;" in page and "javascript:" not in page
    assert "<mark>army</mark>" in page
    text = email_text(_digest())
    assert "Soldiers <script>x</script>" in text and "4 source(s)" in text and "[army]" in text
