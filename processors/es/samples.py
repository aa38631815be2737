"""Realistic articles built in code: for the indexing tests, the index benchmark
and examples. No broker or corpus needed (the corpus sample is used when
present)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from wirewatch.schema import Article, Enrichment, Entity, Keyword, Source, TopicTag, article_id

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
SAMPLE_TEXT_FALLBACK = (
    "A sergeant in the Venezuelan Armed Forces has released a video calling for his fellow soldiers "
    "to rise up against dictator Nicolás Maduro and reject orders to attack unarmed civilians."
)


def sample_text() -> str:
    """The real sample article when ../shared/corpus is there, else its first sentence."""
    path = CORPUS / "sample-article.txt"
    return path.read_text(encoding="utf-8") if path.is_file() else SAMPLE_TEXT_FALLBACK


def make_article(
    url: str = "https://www.bbc.co.uk/news/world-latin-america-1",
    *,
    title: str = "Venezuelan sergeant calls on soldiers to rise against Maduro",
    text: str | None = None,
    published_at: datetime = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc),
    fetched_at: datetime = datetime(2026, 11, 20, 9, 35, tzinfo=timezone.utc),
    domain: str = "www.bbc.co.uk",
    language: str = "en",
    topics: tuple[str, ...] = ("politics", "military"),
    entities: tuple[tuple[str, str], ...] = (("Nicolás Maduro", "person"), ("Venezuela", "place"),
                                             ("Bolivarian National Guard", "organization")),
    story_id: str | None = "story-1",
    date_flags: tuple[str, ...] = (),
) -> Article:
    return Article(
        id=article_id(url),
        url=url,
        title=title,
        text=sample_text() if text is None else text,
        summary="A sergeant calls for an uprising.",
        source=Source(feed_url=f"https://{domain}/feeds/world.rss", feed_title="BBC News - World", domain=domain,
                      country="gb"),
        published_at=published_at,
        fetched_at=fetched_at,
        date_flags=list(date_flags),
        content_hash="h1",
        enrichment=Enrichment(
            language=language,
            language_confidence=0.98,
            topics=[TopicTag(name=t, score=0.9) for t in topics],
            keywords=[Keyword(phrase="armed forces", score=0.7), Keyword(phrase="maduro", score=0.6)],
            entities=[Entity(text=name, type=kind, country="ve" if kind == "place" else None) for name, kind in entities],
            story_id=story_id,
            enriched_at=fetched_at,
        ),
    )


_BENCH_WORDS = ("government", "minister", "election", "market", "shares", "football", "match", "film", "music",
                "technology", "software", "protest", "army", "economy", "bank", "court", "health", "climate")


def synthetic_articles(count: int, *, seed: int = 7, text_words: int = 400) -> list[Article]:
    """``count`` distinct articles of news-like size (about 2.5 kB of text),
    deterministic for a seed: the same documents for every run of a benchmark."""
    import random

    rng = random.Random(seed)
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    out = []
    for n in range(count):
        words = " ".join(rng.choice(_BENCH_WORDS) for _ in range(text_words))
        published = base.replace(day=1 + n % 27, hour=n % 24)
        out.append(make_article(
            f"https://news{n % 13}.example.org/story/{seed}/{n}",
            title=f"Story {n}: {' '.join(rng.choice(_BENCH_WORDS) for _ in range(8))}",
            text=words, published_at=published, fetched_at=published, domain=f"news{n % 13}.example.org",
            topics=(rng.choice(("politics", "business", "sport", "tech", "entertainment")),),
            story_id=f"story-{n // 3}",
        ))
    return out
