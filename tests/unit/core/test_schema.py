from datetime import datetime, timedelta, timezone

import pytest

from wirewatch.schema import SCHEMA_VERSION, Alert, Article, SchemaError, Source, alert_id, article_id


def _article(**kw):
    base = dict(id=article_id("https://example.org/a"), url="https://example.org/a", title="T",
                source=Source(feed_url="https://example.org/feed"),
                published_at=datetime(2024, 5, 1, 12, 0), fetched_at=datetime.now(timezone.utc))
    base.update(kw)
    return Article(**base)


def test_article_id_is_stable_and_depends_on_url_only():
    assert article_id("https://example.org/a") == article_id("https://example.org/a")
    assert article_id("https://example.org/a") != article_id("https://example.org/b")
    assert len(article_id("x")) == 32


def test_json_round_trip_keeps_utc_dates():
    a = _article(published_at=datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    b = Article.from_json(a.to_json())
    assert b == a
    assert b.published_at == datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert b.published_at.utcoffset() == timedelta(0)


def test_json_is_the_models_own_serialisation_with_every_field():
    """to_json writes what model_dump_json writes (nulls included: consumers read every key), as UTF-8."""
    a = _article(title="Nicolás Maduro “habló” \u2028 ☃", image=None)
    assert a.to_json() == a.model_dump_json().encode("utf-8")
    assert b'"image":null' in a.to_json()


def test_naive_dates_are_taken_as_utc():
    assert _article().published_at.tzinfo is not None


def test_newer_schema_version_is_refused():
    raw = _article().model_dump(mode="json")
    raw["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(SchemaError, match="newer"):
        Article.from_json(raw)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'{"id": "x"}', b"\xff\xfe"])
def test_garbage_is_a_schema_error_not_a_crash(raw):
    with pytest.raises(SchemaError, match="not a valid Article"):
        Article.from_json(raw)


def test_alert_id_is_per_subscription_and_story():
    assert alert_id("s1", "story") == alert_id("s1", "story")
    assert alert_id("s1", "story") != alert_id("s2", "story")
    assert alert_id("s1", "a") != alert_id("s1", "b")


def test_alert_never_carries_channel_secrets():
    alert = Alert(id="a", subscription_id="s", subscription_name="n", owner="o", query="q", article_id="x",
                  story_id="x", title="t", url="u", source="s", published_at=datetime.now(timezone.utc),
                  channels=[{"type": "webhook", "url": "http://h", "secret": "topsecret"}])
    assert b"topsecret" not in alert.to_json()
