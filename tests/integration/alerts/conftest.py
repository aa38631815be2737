"""Fixtures of the alert tests: articles built with the schema (no Kafka
needed) and a runner for coroutines against an AsyncElasticsearch client."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from wirewatch.schema import Article, Enrichment, Entity, Source, TopicTag, article_id

SAMPLE = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus" / "sample-article.txt"
# A few sentences of the shape of the sample article, so the tests run without ../shared.
SAMPLE_LIKE = (
    "A sergeant in the Venezuelan Armed Forces has released a video calling for his fellow soldiers "
    "to rise up against dictator Nicolás Maduro and reject orders to attack unarmed civilians, the latest "
    "indication that Maduro is losing the support of the military amid a wave of violent crackdowns."
)


def build_article(
    url: str,
    title: str,
    text: str,
    *,
    language: str = "en",
    topics: tuple[str, ...] = (),
    entities: tuple[str, ...] = (),
    story_id: str | None = None,
    feed_name: str = "Example News",
    domain: str = "news.example.org",
    country: str | None = None,
) -> Article:
    now = datetime(2017, 5, 20, 12, 0, tzinfo=timezone.utc)
    return Article(
        id=article_id(url),
        url=url,
        title=title,
        summary=text[:200],
        text=text,
        source=Source(feed_url=f"https://{domain}/rss", feed_title=feed_name, feed_name=feed_name, domain=domain, country=country),
        published_at=now,
        fetched_at=now,
        produced_at=now,
        enrichment=Enrichment(
            language=language,
            language_confidence=0.99,
            topics=[TopicTag(name=t, score=1.0) for t in topics],
            entities=[Entity(text=e, type="person") for e in entities],
            story_id=story_id,
        ),
    )


@pytest.fixture
def make_article():
    return build_article


@pytest.fixture
def sample_like_article() -> Article:
    return build_article(
        "https://news.example.org/venezuela-sergeant",
        "Venezuelan sergeant urges soldiers to rise up against Maduro",
        SAMPLE_LIKE,
        topics=("politics", "military"),
        entities=("Nicolás Maduro",),
    )


@pytest.fixture(scope="session")
def _stack_checked():
    """Alert tests need Elasticsearch only (articles are built in the test, no
    Kafka): this narrows the root conftest's check, with the same CI rule."""
    import os

    from wirewatch import stack
    from wirewatch.settings import ESSettings

    es_settings = ESSettings()
    if not stack.es_answers(es_settings.url, timeout_s=5):
        message = f"Elasticsearch at {es_settings.url} does not answer; run `wirewatch stack up`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: " + message, pytrace=False)
        pytest.skip(message)
