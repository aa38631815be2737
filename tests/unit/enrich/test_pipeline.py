from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from processors.enrich.pipeline import Enricher
from wirewatch.schema import Article, Enrichment, Source


def article(title, text, language=None):
    now = datetime.now(timezone.utc)
    return Article(id="id1", url="https://example.org/a", title=title, text=text, language=language,
                   source=Source(feed_url="https://example.org/feed"), published_at=now, fetched_at=now)


def test_sample_article_enrichment(enricher, sample_article):
    result = enricher.enrich(article(*sample_article))
    assert isinstance(result, Enrichment)
    assert result.language == "en" and result.language_confidence > 0.5
    assert [t.name for t in result.topics][:2] == ["politics", "conflict_war"]
    assert result.keywords[0].phrase == "Nicolás Maduro"
    assert {"Nicolás Maduro", "Leopoldo López", "Venezuela"} <= {e.text for e in result.entities}
    assert result.story_id is None  # the story step's job
    assert result.enriched_at is not None


def test_fixture_article_enrichment(enricher, fixture_article):
    result = enricher.enrich(article(*fixture_article))
    assert result.language == "en"
    assert result.topics[0].name == "politics"
    assert "María Elena Cordero" in {e.text for e in result.entities}


ODD = [
    "",
    " ",
    "\x00\x01\x02" * 1000,
    bytes(range(256)).decode("latin-1") * 20,
    "\ud800\udfff lone surrogates",
    "x" * 500_000,
    "word " * 100_000,
    "(" * 5000 + ")" * 5000,
    "Ünïcödé ÀÉÎÕÜ " * 500,
    "日本語のニュース記事です。" * 300,
    "مرحبا بالعالم " * 300,
    "🙂🙃🎉" * 1000,
    "A" * 10 + " B" * 10000,
    "Mr. " * 3000,
]


@pytest.mark.parametrize("text", ODD, ids=range(len(ODD)))
def test_never_raises_on_odd_text(enricher, text):
    result = enricher.enrich(article(text[:300], text, language="xx"))
    assert isinstance(result, Enrichment)
    assert len(result.entities) <= 30 and len(result.keywords) <= 10


def test_declared_language_used_for_short_texts(enricher):
    assert enricher.enrich(article("Hola", "", language="es-ES")).language == "es"


def test_from_settings_reads_the_taxonomy_dir(tmp_path, fixture_article):
    (tmp_path / "extra.yaml").write_text("topics:\n  venezuela:\n    query: 'venezuela AND maduro'\n", encoding="utf-8")
    settings = SimpleNamespace(processor=SimpleNamespace(taxonomy_dir=tmp_path))
    result = Enricher.from_settings(settings).enrich(article(*fixture_article))
    assert "venezuela" in {t.name for t in result.topics}


def test_document_frequencies_grow_with_each_article(fixture_article):
    enricher = Enricher()
    enricher.enrich(article(*fixture_article))
    enricher.enrich(article(*fixture_article))
    assert enricher.df.n_docs == 2 and enricher.df.df("maduro") == 2


def test_a_failing_step_leaves_its_field_empty(fixture_article, monkeypatch):
    enricher = Enricher(update_stats=False)

    def broken(*_args):
        raise RuntimeError("boom")

    monkeypatch.setattr(enricher.entities, "extract", broken)
    result = enricher.enrich(article(*fixture_article))
    assert result.entities == [] and result.topics and result.keywords
