"""Fixtures shared by every test.

Integration tests (marked ``integration``) talk to the real local stack
(``wirewatch stack up``). Each test gets topics and indices of its own through
a unique prefix, and its indices are deleted afterwards. When the stack is
down they are skipped with the reason, except under ``CI=true``, where they
fail: CI must never pass by running nothing.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from wirewatch.names import Indices, Topics
from wirewatch.settings import (
    AlertSettings,
    ESSettings,
    KafkaSettings,
    ProcessorSettings,
    ProducerSettings,
    Settings,
    StackSettings,
)

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def corpus_path(*parts: str) -> Path:
    """A path in ../shared/corpus, or a skip that says what was not run."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/corpus/{'/'.join(parts)} not present: this corpus test was not run")
    return path


def _stack_problem(kafka: KafkaSettings, es: ESSettings) -> str | None:
    from wirewatch import stack

    problems = []
    if not stack.kafka_answers(kafka.bootstrap_servers, timeout_s=5):
        problems.append(f"Kafka at {kafka.bootstrap_servers} does not answer")
    if not stack.es_answers(es.url, timeout_s=5):
        problems.append(f"Elasticsearch at {es.url} does not answer")
    return "; ".join(problems) or None


@pytest.fixture(scope="session")
def _stack_checked():
    problem = _stack_problem(KafkaSettings(), ESSettings())
    if problem:
        message = f"local stack is down ({problem}); run `wirewatch stack up`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: " + message, pytrace=False)
        pytest.skip(message)


@pytest.fixture
def settings(request, tmp_path) -> Settings:
    """Settings with a prefix of this test's own for every topic and index."""
    if request.node.get_closest_marker("integration"):
        request.getfixturevalue("_stack_checked")
    tag = f"t{uuid.uuid4().hex[:10]}"
    return Settings(
        kafka=KafkaSettings(topic_prefix=f"{tag}."),
        es=ESSettings(index_prefix=f"ww-{tag}"),
        producer=ProducerSettings(allow_hosts=["127.0.0.1"], feeds_file=tmp_path / "feeds.yaml"),
        processor=ProcessorSettings(app_id=f"ww-{tag}", data_dir=tmp_path / "faust", web_port=0),
        alerts=AlertSettings(allow_hosts=["127.0.0.1"], subscriptions_refresh_s=0.2),
        stack=StackSettings(state_dir=tmp_path / "stack"),
    )


@pytest.fixture
def topics(settings) -> Topics:
    return Topics.from_settings(settings.kafka)


@pytest.fixture
def indices(settings) -> Indices:
    return Indices.from_settings(settings.es)


@pytest.fixture
def kafka_bootstrap(settings) -> str:
    return settings.kafka.bootstrap_servers


@pytest.fixture
def es(settings):
    from elasticsearch import Elasticsearch

    client = Elasticsearch(settings.es.url, request_timeout=30)
    yield client
    prefix = settings.es.index_prefix
    try:
        client.options(ignore_status=404).indices.delete(index=f"{prefix}*", expand_wildcards="all")
        client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}*")
        client.options(ignore_status=404).cluster.delete_component_template(name=f"{prefix}*")
    finally:
        client.close()


@pytest.fixture
def run_async(settings, es):
    """Run ``fn(async_es)`` to completion with a fresh AsyncElasticsearch client.
    (Asks for ``es`` so that the indices it creates are cleaned up.)"""
    import asyncio

    from processors.es.client import make_async_client

    def runner(fn):
        async def main():
            client = make_async_client(settings.es)
            try:
                return await fn(client)
            finally:
                await client.close()

        return asyncio.run(main())

    return runner


@pytest.fixture
def kafka_topics(settings, topics):
    """Creates this test's topics, and deletes them afterwards."""
    from wirewatch.kafka_admin import delete_topics, ensure_topics

    ensure_topics(settings.kafka, topics)
    yield topics
    delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)


def pytest_configure(config):
    # Library code logs through structlog; send it to stderr, as the CLI does, so
    # that it never mixes with the output a test reads.
    from wirewatch.logs import configure_logging

    configure_logging()
