"""`es reindex --from-kafka` against the real Kafka and Elasticsearch."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from processors.es.client import make_async_client
from processors.es.reindex import ReindexError, reindex_from_kafka
from processors.es.samples import make_article, synthetic_articles
from processors.es.templates import ensure_articles_index, ensure_templates
from processors.indexer import index_batch

pytestmark = pytest.mark.integration


def _produce(settings, topic, messages):
    """(key, value) pairs; the key is the article id, as the pipeline sends it,
    so the versions of one article stay in order on one partition."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers.split(","), acks="all")
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()


def _index(settings, indices, articles):
    async def run():
        client = make_async_client(settings.es)
        try:
            return await index_batch(client, indices, articles, refresh=True)
        finally:
            await client.close()

    return asyncio.run(run())


def test_rebuild_matches_the_topic_and_swaps_the_aliases(es, settings, indices, kafka_topics):
    articles = synthetic_articles(40, seed=3)
    # A later version of one article, moved to another month: still one document.
    moved = articles[0].model_copy(update={"title": "Updated", "published_at": datetime(2026, 10, 2, tzinfo=timezone.utc),
                                           "fetched_at": datetime(2026, 10, 2, tzinfo=timezone.utc)})
    _produce(settings, kafka_topics.enriched, [(a.id.encode(), a.to_json()) for a in articles] + [(b"poison", b"not an article"), (moved.id.encode(), moved.to_json())])
    ensure_templates(es, indices)
    ensure_articles_index(es, indices)
    ghost = make_article("https://ghost.example/only-in-the-old-index")
    assert _index(settings, indices, [ghost, articles[1]]).all_ok
    old = set(es.indices.get_alias(name=indices.articles))

    report = reindex_from_kafka(settings, es, timeout_s=120)

    assert (report.read, report.invalid, report.distinct, report.indexed) == (42, 1, 40, 40)
    es.indices.refresh(index=indices.articles)
    assert es.count(index=indices.articles)["count"] == 40
    assert es.count(index=indices.articles, query={"ids": {"values": [ghost.id]}})["count"] == 0
    hits = es.search(index=indices.articles, query={"ids": {"values": [moved.id]}})["hits"]["hits"]
    assert [h["_source"]["title"] for h in hits] == ["Updated"]
    now_in_alias = set(es.indices.get_alias(name=indices.articles))
    assert now_in_alias and all(name.startswith(report.base) for name in now_in_alias)
    assert not any(es.indices.exists(index=name) for name in old)
    [write_index] = es.indices.get_alias(name=f"{indices.articles}-write")
    assert write_index.startswith(report.base)


def test_missing_topic_is_a_clear_error_and_changes_nothing(es, settings, indices):
    ensure_templates(es, indices)
    current = ensure_articles_index(es, indices)
    with pytest.raises(ReindexError, match="does not exist"):
        reindex_from_kafka(settings, es, timeout_s=30)
    assert list(es.indices.get_alias(name=indices.articles)) == [current]
