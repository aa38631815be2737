"""Fixtures of the API and digest tests: the API served on 127.0.0.1 by
aiohttp's test server, tokens made with the real store."""

from __future__ import annotations

import asyncio
import os

import pytest


@pytest.fixture(scope="session")
def _stack_checked():
    """These tests need Elasticsearch only: narrows the root conftest's check, with the same CI rule."""
    from wirewatch import stack
    from wirewatch.settings import ESSettings

    es_settings = ESSettings()
    if not stack.es_answers(es_settings.url, timeout_s=5):
        message = f"Elasticsearch at {es_settings.url} does not answer; run `wirewatch stack up`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: " + message, pytrace=False)
        pytest.skip(message)


@pytest.fixture
def token_for(es, indices):
    from processors.tokens import TokenStore

    store = TokenStore(es, indices)

    def make(owner: str) -> str:
        return store.create(owner)[1]

    make.store = store
    return make


@pytest.fixture
def api(settings, es):
    """``api(scenario)`` runs ``await scenario(client)`` against the API on a
    real 127.0.0.1 port; ``client.call(method, path, token, json=...)`` returns
    (status, body)."""
    from aiohttp.test_utils import TestClient, TestServer

    from processors.api import PREFIX, create_app

    def runner(scenario):
        async def main():
            async with TestClient(TestServer(create_app(settings, es=es), host="127.0.0.1")) as client:
                async def call(method, path, token=None, **kwargs):
                    headers = kwargs.pop("headers", {})
                    if token is not None:
                        headers["Authorization"] = f"Bearer {token}"
                    answer = await client.request(method, PREFIX + path, headers=headers, **kwargs)
                    text = await answer.text()
                    return answer.status, (await answer.json() if text and answer.content_type == "application/json" else None)

                client.call = call
                return await scenario(client)

        return asyncio.run(main())

    return runner


@pytest.fixture
def kafka_up(settings):
    from wirewatch import stack

    if not stack.kafka_answers(settings.kafka.bootstrap_servers, timeout_s=5):
        message = f"Kafka at {settings.kafka.bootstrap_servers} does not answer; run `wirewatch stack up`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: " + message, pytrace=False)
        pytest.skip(message)
