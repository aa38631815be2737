"""The API's pure helpers, its route table against the OpenAPI file, and the
answers that need no Elasticsearch (no token: 401)."""

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from processors.api.app import (
    OPENAPI_FILE,
    PREFIX,
    ApiError,
    alerts_search,
    bearer_token,
    create_app,
    decode_cursor,
    encode_cursor,
    unmask_channels,
)
from wirewatch.schema import ChannelSpec


class _NoES:
    """Stands where the Elasticsearch client goes: these tests must not reach it."""

    def __getattr__(self, name):
        raise AssertionError(f"Elasticsearch used: {name}")


def test_every_route_is_described_in_openapi(settings):
    spec = json.loads(OPENAPI_FILE.read_text())
    assert spec["openapi"].startswith("3.")
    app = create_app(settings, es=_NoES())
    routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    assert len(routes) >= 8
    for method, path in routes:
        assert path.startswith(PREFIX)
        described = spec["paths"].get(path[len(PREFIX):], {})
        assert method in described, f"{method.upper()} {path} is not in openapi.json"
    # and nothing is described that does not exist
    described = {(m, PREFIX + p) for p, ops in spec["paths"].items() for m in ops if m != "parameters"}
    assert described == routes


def test_bearer_token_parsing():
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None


def test_cursor_round_trip_and_tampering():
    values = ["2026-11-28T10:00:00Z", "a1", "http://h"]
    assert decode_cursor(encode_cursor(values), 3) == values
    for bad in ("!!", encode_cursor(["x"]), encode_cursor([{"a": 1}, 1, 2]), "x" * 5000):
        with pytest.raises(ApiError) as info:
            decode_cursor(bad, 3)
        assert info.value.status == 400


def test_alerts_search_is_always_scoped_to_the_owner():
    args = alerts_search("ana", "sub-1", 10, ["t", "a", "x"])
    filters = args["query"]["bool"]["filter"]
    assert {"term": {"owner": "ana"}} in filters and {"term": {"subscription_id": "sub-1"}} in filters
    assert args["search_after"] == ["t", "a", "x"] and args["size"] == 10


def test_masked_values_sent_back_keep_the_stored_ones():
    stored = [ChannelSpec(type="webhook", url="https://h/x", secret="whsec_c2VjcmV0"),
              ChannelSpec(type="slack", url="https://hooks.example.com/T/B/secretpath")]
    sent = [ChannelSpec(type="webhook", url="https://h/x", secret="********"),
            ChannelSpec(type="slack", url="https://hooks.example.com/********")]
    kept = unmask_channels(sent, stored)
    assert kept[0].secret == "whsec_c2VjcmV0" and kept[1].url == "https://hooks.example.com/T/B/secretpath"
    with pytest.raises(ApiError):
        unmask_channels([ChannelSpec(type="webhook", url="https://other/x", secret="********")], stored)


def test_without_a_token_the_api_answers_401_and_serves_its_description(settings):
    async def scenario():
        async with TestClient(TestServer(create_app(settings, es=_NoES()), host="127.0.0.1")) as client:
            answer = await client.get(f"{PREFIX}/subscriptions")
            assert answer.status == 401
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await answer.json())["error"]["code"] == "unauthorized"
            answer = await client.get(f"{PREFIX}/alerts", headers={"Authorization": "Basic YTpi"})
            assert answer.status == 401
            spec = await client.get(f"{PREFIX}/openapi.json")
            assert spec.status == 200 and "paths" in await spec.json()

    asyncio.run(scenario())
