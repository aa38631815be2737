from datetime import datetime, timezone

import pytest

from wirewatch.schema import Article, Source, article_id


@pytest.fixture
def sample_article_json():
    def make(title: str) -> bytes:
        return Article(id=article_id("https://example.org/x"), url="https://example.org/x", title=title,
                       source=Source(feed_url="https://example.org/feed"),
                       published_at=datetime.now(timezone.utc), fetched_at=datetime.now(timezone.utc)).to_json()
    return make
