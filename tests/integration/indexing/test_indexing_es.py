"""Indexing and search against the real local Elasticsearch."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from processors.es.client import make_async_client
from processors.es.layout import ArticleLayout
from processors.es.prune import prune
from processors.es.samples import make_article
from processors.es.templates import ensure_articles_index, ensure_templates, plugin_analyzers_available
from processors.indexer import index_batch, to_document
from processors.search import QueryError, search

pytestmark = pytest.mark.integration


def _index(settings, indices, articles, **kwargs):
    async def run():
        client = make_async_client(settings.es)
        try:
            return await index_batch(client, indices, articles, refresh=True, **kwargs)
        finally:
            await client.close()

    return asyncio.run(run())


@pytest.fixture
def ready(es, indices):
    ensure_templates(es, indices)
    ensure_articles_index(es, indices)
    return indices


@pytest.fixture
def corpus(settings, ready):
    """The sample article plus two others, indexed."""
    articles = [
        make_article(),
        make_article("https://www.lemonde.fr/economie/1", title="La Bourse de Paris recule", text="Les marchés reculent.",
                     domain="www.lemonde.fr", language="fr", topics=("business",), entities=(),
                     published_at=datetime(2026, 10, 5, tzinfo=timezone.utc),
                     fetched_at=datetime(2026, 10, 5, 1, tzinfo=timezone.utc)),
        make_article("https://elpais.com/deportes/1", title="El Real Madrid gana", text="Los jugadores celebran.",
                     domain="elpais.com", language="es", topics=("sport",), entities=(("Real Madrid", "organization"),),
                     published_at=datetime(2026, 11, 25, tzinfo=timezone.utc),
                     fetched_at=datetime(2026, 11, 25, 1, tzinfo=timezone.utc)),
    ]
    outcome = _index(settings, ready, articles)
    assert outcome.all_ok, outcome
    return articles


def _ids(result):
    return [hit.id for hit in result.hits]


def test_setup_is_idempotent_and_builds_both_aliases(es, indices):
    ensure_templates(es, indices)
    first = ensure_articles_index(es, indices)
    ensure_templates(es, indices)
    assert ensure_articles_index(es, indices) == first
    aliases = es.indices.get_alias(index=f"{indices.articles}-*")
    assert aliases[first]["aliases"] == {indices.articles: {}, f"{indices.articles}-write": {"is_write_index": True}}
    assert list(aliases) == [first]


def test_sample_article_is_found_by_words_phrases_and_fields(es, corpus, ready):
    sample = corpus[0].id
    assert _ids(search(es, ready, "maduro")) == [sample]
    assert _ids(search(es, ready, '"armed forces"')) == [sample]
    assert _ids(search(es, ready, "maduro AND (military OR soldiers)")) == [sample]
    assert _ids(search(es, ready, 'entity:"Nicolás Maduro"')) == [sample]
    assert _ids(search(es, ready, 'entity:"nicolás maduro"')) == [sample]
    assert _ids(search(es, ready, 'entity:"NICOLAS MADURO"')) == [sample]  # without its accent
    assert _ids(search(es, ready, "topic:politics AND lang:en AND source:bbc.co.uk")) == [sample]
    assert _ids(search(es, ready, "lang:es")) == [corpus[2].id]
    assert search(es, ready, "maduro").hits[0].highlights[0].count("<em>") >= 1
    # A malformed query says where.
    with pytest.raises(QueryError, match="column 12"):
        search(es, ready, "maduro AND (")
    with pytest.raises(QueryError, match="notadate"):
        search(es, ready, "published_at:notadate")


def test_filters_newest_first_and_aggregations(es, corpus, ready):
    everything = search(es, ready, "*")
    assert _ids(everything) == [corpus[2].id, corpus[0].id, corpus[1].id]
    assert _ids(search(es, ready, "*", topic="business")) == [corpus[1].id]
    assert _ids(search(es, ready, "*", since="2026-11-01", until="2026-11-21")) == [corpus[0].id]
    assert _ids(search(es, ready, "*", until="2026-10-31")) == [corpus[1].id]
    assert _ids(search(es, ready, "maduro", since="2026-11-21")) == []
    assert _ids(search(es, ready, "*", source="www.lemonde.fr", lang="fr")) == [corpus[1].id]
    result = search(es, ready, "*", facets=["topics", "source", "language", "person"])
    assert dict(result.facets["topics"]) == {"politics": 1, "military": 1, "business": 1, "sport": 1}
    assert dict(result.facets["source"]) == {"bbc.co.uk": 1, "lemonde.fr": 1, "elpais.com": 1}
    assert dict(result.facets["language"]) == {"en": 1, "fr": 1, "es": 1}
    assert dict(result.facets["person"]) == {"Nicolás Maduro": 1}


def test_indexing_twice_leaves_one_document_each(es, settings, corpus, ready):
    again = _index(settings, ready, corpus + [corpus[0]])
    assert sorted(again.ok) == sorted(a.id for a in corpus)
    assert es.count(index=ready.articles)["count"] == len(corpus)


def test_update_that_moves_month_overwrites_in_place(es, settings, corpus, ready):
    moved = corpus[1].model_copy(update={"published_at": datetime(2026, 11, 3, tzinfo=timezone.utc),
                                         "title": "La Bourse de Paris remonte"})
    assert _index(settings, ready, [moved]).ok == [moved.id]
    hits = es.search(index=ready.articles, query={"ids": {"values": [moved.id]}})["hits"]["hits"]
    assert len(hits) == 1
    assert hits[0]["_index"].endswith("-2026.10")  # where it already lived
    assert hits[0]["_source"]["title"] == "La Bourse de Paris remonte"


def test_mapping_error_is_permanent_and_the_rest_is_indexed(es, settings, ready):
    good, bad = make_article(), make_article("https://www.bbc.co.uk/news/2")

    def build(article):
        doc = to_document(article)
        if article.id == bad.id:
            doc["published_at"] = "the day after tomorrow"
        return doc

    outcome = _index(settings, ready, [good, bad], build=build)
    assert outcome.ok == [good.id]
    assert [(a.id, "published_at" in reason) for a, reason in outcome.permanent] == [(bad.id, True)]
    assert outcome.transient == [] and outcome.attempts == 1


def test_index_with_a_conflicting_mapping_gives_permanent_failures(es, settings, ready):
    # An index created by hand (or by an older template) where story_id is a number.
    article = make_article(published_at=datetime(2026, 9, 9, tzinfo=timezone.utc),
                           fetched_at=datetime(2026, 9, 9, tzinfo=timezone.utc))
    index = ArticleLayout.from_indices(ready).index_for_article(article)
    es.indices.create(index=index, mappings={"properties": {"story_id": {"type": "long"}}})
    outcome = _index(settings, ready, [article])
    assert outcome.ok == []
    assert len(outcome.permanent) == 1 and "story_id" in outcome.permanent[0][1]


def test_unreachable_elasticsearch_gives_transient_failures(settings, indices):
    dead = settings.es.model_copy(update={"url": "http://127.0.0.1:9", "request_timeout_s": 2})

    async def run():
        client = make_async_client(dead).options(max_retries=0)
        try:
            return await index_batch(client, indices, [make_article()], max_attempts=2, backoff_s=0.01)
        finally:
            await client.close()

    outcome = asyncio.run(run())
    assert outcome.ok == [] and outcome.permanent == []
    assert len(outcome.transient) == 1 and "ConnectionError" in outcome.transient[0][1]
    assert outcome.attempts == 2


def test_prune_drops_whole_old_months_only(es, settings, ready):
    now = datetime.now(timezone.utc)
    old = now - timedelta(days=200)
    articles = [make_article("https://x.example/old", published_at=old, fetched_at=old),
                make_article("https://x.example/new", published_at=now, fetched_at=now)]
    assert _index(settings, ready, articles).all_ok
    layout = ArticleLayout.from_indices(ready)
    plan = prune(es, ready, timedelta(days=90))
    assert plan.delete == [layout.index_for(old)]
    assert es.count(index=ready.articles)["count"] == 1
    assert es.indices.exists(index=layout.index_for(now))


def test_spanish_analyzer_stems_when_plugin_installed(es, settings, ready):
    if not plugin_analyzers_available(es):
        pytest.skip("wirewatch analysis plugin not installed on the node: Spanish stemming not tested")
    article = make_article("https://elpais.com/1", title="Un soldado deserta", text="El soldado huyó.",
                           language="es", domain="elpais.com")
    assert _index(settings, ready, [article]).all_ok
    assert _ids(search(es, ready, "soldados")) == [article.id]


def test_rejected_with_429_is_transient_and_succeeds_later(es, settings, ready):
    # The flood-stage block makes Elasticsearch answer 429 for every write: a
    # real overload signal, no mock.
    now = datetime.now(timezone.utc)
    article = make_article(published_at=now, fetched_at=now)  # routed to the month `ready` created
    index = ArticleLayout.from_indices(ready).index_for_article(article)
    es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": True})
    try:
        outcome = _index(settings, ready, [article], max_attempts=3, backoff_s=0.05)
    finally:
        es.indices.put_settings(index=index, settings={"index.blocks.read_only_allow_delete": None})
    assert outcome.ok == [] and outcome.permanent == []
    assert outcome.attempts == 3 and outcome.transient[0][1].startswith("429 cluster_block_exception")
    assert _index(settings, ready, [article]).ok == [article.id]


def test_prune_deletes_old_alert_claim_and_dead_letter_documents_but_keeps_pending_digest_items(
        es, ready, monkeypatch):
    import processors.es.prune as prune_module
    from processors.agents.deadletters import DEAD_LETTERS_MAPPING
    from processors.delivery.records import ensure_alerts_index

    monkeypatch.setattr(prune_module, "DELETE_PAGE", 2)  # several pages
    now = datetime.now(timezone.utc)
    old, new = (now - timedelta(days=120)).isoformat(), now.isoformat()
    ensure_alerts_index(es, ready)
    es.indices.create(index=ready.dead_letters, mappings=DEAD_LETTERS_MAPPING)
    docs = {
        ready.alerts: [{"recorded_at": old}] * 3 + [{"recorded_at": new},
                                                     {"queued_at": old, "state": "pending"}],  # a digest item not sent yet
        ready.alert_claims: [{"state": "sent", "claimed_at": old}] * 4 + [{"kind": "rate", "hour": old},
                                                                         {"state": "sent", "claimed_at": new}],
        ready.dead_letters: [{"failed_at": old}, {"failed_at": new}],
    }
    for index, sources in docs.items():
        for i, source in enumerate(sources):
            es.index(index=index, id=f"doc-{i}", document=source)
        es.indices.refresh(index=index)

    dry = prune(es, ready, timedelta(days=90), dry_run=True)
    assert dry.documents == {ready.alerts: 3, ready.alert_claims: 5, ready.dead_letters: 1}
    assert es.count(index=ready.alert_claims)["count"] == 6  # a dry run deletes nothing

    plan = prune(es, ready, timedelta(days=90))
    assert plan.documents == {ready.alerts: 3, ready.alert_claims: 5, ready.dead_letters: 1}
    assert sorted(h["_id"] for h in es.search(index=ready.alerts)["hits"]["hits"]) == ["doc-3", "doc-4"]
    assert [h["_id"] for h in es.search(index=ready.alert_claims)["hits"]["hits"]] == ["doc-5"]
    assert [h["_id"] for h in es.search(index=ready.dead_letters)["hits"]["hits"]] == ["doc-1"]
    assert prune(es, ready, timedelta(days=90)).documents == {ready.alerts: 0, ready.alert_claims: 0,
                                                             ready.dead_letters: 0}
