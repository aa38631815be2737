from datetime import datetime, timedelta, timezone

import pytest

from processors.es.layout import ArticleLayout, index_month, month_end, routing_date
from processors.es.samples import make_article
from processors.es.templates import indices_for_prefix
from processors.indexer import MAX_LIST_ITEMS, MAX_TEXT_CHARS, to_document
from wirewatch.schema import Enrichment, Entity

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def test_document_carries_the_fields_alert_queries_use():
    doc = to_document(make_article(), indexed_at=NOW)
    assert doc["source"] == "bbc.co.uk"  # `source:bbc.co.uk` without the www.
    assert doc["domain"] == "www.bbc.co.uk"
    assert doc["language"] == "en"
    assert doc["topics"] == ["politics", "military"]
    # the folded form too, for accent-free queries (the keyword normaliser only lowercases)
    assert doc["entity"] == ["Nicolás Maduro", "Venezuela", "Bolivarian National Guard", "nicolas maduro"]
    assert doc["entities"]["person"] == ["Nicolás Maduro"]
    assert doc["entities"]["organization"] == ["Bolivarian National Guard"]
    assert doc["entities"]["place"] == ["Venezuela"]
    assert doc["country"] == ["ve"]
    assert doc["source_country"] == "gb"
    assert doc["keywords"] == ["armed forces", "maduro"]
    assert doc["story_id"] == "story-1"
    assert doc["indexed_at"] == NOW.isoformat()
    assert doc["published_at"] == "2026-11-20T09:30:00+00:00"


def test_only_the_articles_language_gets_a_stemmed_copy():
    doc = to_document(make_article(language="es-VE"))
    assert doc["language"] == "es"
    assert doc["title_es"] == doc["title"] and doc["text_es"] == doc["text"]
    assert not [k for k in doc if k.startswith(("title_", "text_")) and not k.endswith("_es")]


def test_unsupported_language_gets_no_language_copy():
    doc = to_document(make_article(language="ja"))
    assert doc["language"] == "ja"
    assert not [k for k in doc if k.startswith(("title_", "text_"))]


def test_article_without_enrichment_falls_back_to_declared_language():
    article = make_article().model_copy(update={"enrichment": None, "language": "FR"})
    doc = to_document(article)
    assert doc["language"] == "fr" and "topics" not in doc and "title_fr" in doc


def test_huge_inputs_are_bounded():
    many = [Entity(text=f"Person {i}", type="person") for i in range(MAX_LIST_ITEMS * 3)]
    article = make_article(text="x" * (MAX_TEXT_CHARS + 10))
    article.enrichment = Enrichment(language="en", entities=many)
    doc = to_document(article)
    assert len(doc["text"]) == MAX_TEXT_CHARS
    assert len(doc["entity"]) == MAX_LIST_ITEMS


def test_text_falls_back_to_summary():
    doc = to_document(make_article(text=""))
    assert doc["text"] == "A sergeant calls for an uprising."


def test_monthly_index_follows_published_month():
    layout = ArticleLayout.from_indices(indices_for_prefix("ww-x"))
    assert layout.index_for_article(make_article()) == "ww-x-articles-2026.11"
    assert layout.write_alias == "ww-x-articles-write" and layout.read_alias == "ww-x-articles"


@pytest.mark.parametrize("published, flags, expected_month", [
    (datetime(2026, 10, 31, 23, 0, tzinfo=timezone.utc), (), 10),   # trusted: its own month
    (datetime(2027, 3, 1, tzinfo=timezone.utc), (), 11),            # in the future: fetch month
    (datetime(2019, 1, 1, tzinfo=timezone.utc), (), 11),            # archive item: fetch month
    (datetime(2026, 10, 2, tzinfo=timezone.utc), ("published_missing",), 11),
])
def test_untrusted_dates_route_to_the_fetch_month(published, flags, expected_month):
    article = make_article(published_at=published, fetched_at=datetime(2026, 11, 2, tzinfo=timezone.utc),
                           date_flags=flags)
    assert routing_date(article).month == expected_month


def test_month_parsing_of_index_names():
    assert index_month("ww-articles-2026.02") == (2026, 2)
    assert index_month("ww-articles-r1-2025.12") == (2025, 12)
    assert index_month("ww-articles-2026.13") is None
    assert index_month("ww-articles") is None
    assert month_end(2025, 12) == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert month_end(2026, 2) - timedelta(seconds=1) < datetime(2026, 3, 1, tzinfo=timezone.utc)
