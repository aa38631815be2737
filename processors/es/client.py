"""Elasticsearch clients built from `ESSettings`, with a deadline and bounded
retries on every request.

Retries happen in the transport: a request that fails with a connection error,
a timeout, 429 or a 5xx is sent again up to ``MAX_RETRIES`` times. Every
request Wirewatch sends is safe to repeat (bulk index ops carry their ``_id``),
so retrying a 500 cannot double a document.

This node answers ``GET /`` with 405, so never use ``info()``/``ping()`` as a
health check: use ``cluster_health()`` below.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch, Elasticsearch
from elasticsearch.serializer import (
    CompatibilityModeJsonSerializer,
    CompatibilityModeNdjsonSerializer,
    NdjsonSerializer,
    OrjsonSerializer,
)

from wirewatch.settings import ESSettings

MAX_RETRIES = 3
RETRY_ON_STATUS = (429, 500, 502, 503, 504)


class OrjsonNdjsonSerializer(CompatibilityModeNdjsonSerializer):
    """Bodies of bulk and msearch requests, a line each, encoded by orjson.

    The client's ``serializer`` option covers JSON bodies only: every bulk of
    articles or scratch copies and every msearch of subscription clauses went
    through the standard library's json, line by line. A line orjson refuses
    (a lone surrogate, which the standard library escapes) is left to it.
    """

    def json_dumps(self, data: Any) -> bytes:
        try:
            return orjson.dumps(data, default=self.default)
        except TypeError:
            return super().json_dumps(data)

    def json_loads(self, data: bytes) -> Any:
        return orjson.loads(data)


# Both media types of each: the client sends the compatibility ones ("+json", "+x-ndjson") to Elasticsearch 8.
_JSON, _NDJSON = OrjsonSerializer(), OrjsonNdjsonSerializer()
JSON_SERIALIZERS = {OrjsonSerializer.mimetype: _JSON, CompatibilityModeJsonSerializer.mimetype: _JSON}
NDJSON_SERIALIZERS = {NdjsonSerializer.mimetype: _NDJSON, CompatibilityModeNdjsonSerializer.mimetype: _NDJSON}


class ESUnavailable(Exception):
    """Elasticsearch cannot be reached or is not healthy; the text says which."""


def client_options(es_settings: ESSettings) -> dict[str, Any]:
    """Keyword arguments shared by the sync and async clients (pure)."""
    options: dict[str, Any] = {
        "hosts": [es_settings.url],
        "request_timeout": es_settings.request_timeout_s,
        "max_retries": MAX_RETRIES,
        "retry_on_status": RETRY_ON_STATUS,
        "retry_on_timeout": True,
        # orjson decodes about twice as fast as json: term vectors of every matched batch come back as JSON.
        "serializers": {**JSON_SERIALIZERS, **NDJSON_SERIALIZERS},
    }
    if es_settings.username:
        password = es_settings.password.get_secret_value() if es_settings.password else ""
        options["basic_auth"] = (es_settings.username, password)
    return options


def make_client(es_settings: ESSettings, *, max_retries: int = MAX_RETRIES) -> Elasticsearch:
    """``max_retries=0`` or 1 suits a CLI command: a person is waiting."""
    return Elasticsearch(**{**client_options(es_settings), "max_retries": max_retries})


def make_async_client(es_settings: ESSettings) -> AsyncElasticsearch:
    """An aiohttp-based client; close it with ``await client.close()``."""
    return AsyncElasticsearch(**client_options(es_settings))


def cluster_health(es: Elasticsearch, *, timeout_s: float = 5.0) -> dict[str, Any]:
    """The cluster health, or ESUnavailable naming the address and the cause."""
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    try:
        health = es.options(request_timeout=timeout_s, max_retries=0).cluster.health()
    except (TransportError, ApiError) as exc:
        raise ESUnavailable(f"Elasticsearch at {_address(es)} is unreachable: {describe_error(exc)}") from None
    if health.get("status") not in ("green", "yellow"):
        raise ESUnavailable(f"Elasticsearch at {_address(es)} is {health.get('status')}")
    return dict(health)


def describe_error(exc: BaseException) -> str:
    """One line for an ES client exception: the most telling reason ES gave,
    else the exception's own text."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return best_reason(body["error"])
    text = str(exc).strip() or type(exc).__name__
    errno = _ERRNO.search(" ".join(_exception_texts(exc)))
    if errno:  # urllib3/aiohttp nest the OS error three deep: keep only it
        return f"{type(exc).__name__}: {_balanced(errno.group(1))}"
    return text.splitlines()[0][:500]


def _exception_texts(exc: BaseException) -> list[str]:
    """Texts of an exception, its causes and the transport's recorded errors
    (bounded walk)."""
    texts, todo, seen = [], [exc], set()
    while todo and len(seen) < 20:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts.append(str(current))
        todo.extend([current.__cause__, current.__context__, *getattr(current, "errors", ())])
    return texts


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\[\]\n]+)")


def _balanced(text: str) -> str:
    """Drop the closing brackets and quotes of the wrappers around an OS error
    text: "Connect call failed ('127.0.0.1', 9))')" -> "Connect call failed ('127.0.0.1', 9)"."""
    text = text.strip()
    while text and (text[-1] in "'\"" or (text[-1] == ")" and text.count(")") > text.count("("))):
        text = text[:-1].rstrip()
    return text
GENERIC_REASONS = frozenset({"all shards failed"})


def reason_chain(error: dict[str, Any]) -> list[str]:
    """Reasons from the outermost to the innermost: ES wraps the useful one
    (e.g. the position of a query syntax error) in shard failures and
    ``caused_by`` links."""
    reasons: list[str] = []
    node: Any = error
    for _ in range(12):  # bounded: ES nests a few levels at most
        if not isinstance(node, dict):
            break
        if node.get("reason"):
            reasons.append(str(node["reason"]))
        if isinstance(node.get("caused_by"), dict):
            node = node["caused_by"]
        elif node.get("failed_shards"):
            node = (node["failed_shards"][0] or {}).get("reason")
        elif node.get("root_cause"):
            node = node["root_cause"][0]
        else:
            break
    return reasons


def best_reason(error: dict[str, Any]) -> str:
    """The first line of the first specific reason; a query syntax error's
    ``Cannot parse '...': Encountered ... at line 1, column N.`` wins."""
    chain = [r for r in reason_chain(error) if r not in GENERIC_REASONS]
    if not chain:
        return str(error.get("type") or "unknown error")
    syntax = [r for r in chain if r.startswith("Cannot parse")]
    return (syntax or chain)[0].splitlines()[0].strip()


def deepest_reason(error: dict[str, Any]) -> str:
    chain = reason_chain(error)
    return chain[-1].splitlines()[0].strip() if chain else str(error.get("type") or "unknown error")


def _address(es: Elasticsearch) -> str:
    try:
        node = es.transport.node_pool.all()[0]
        return node.base_url
    except Exception:  # noqa: BLE001 - only used to word an error message
        return "the configured address"
