"""The HTTP API (aiohttp) under ``/api/v1``: subscriptions and alerts of the
owner of the bearer token.

* Every route but ``/api/v1/openapi.json`` needs ``Authorization: Bearer <token>``
  (processors/tokens.py); 401 otherwise.
* An owner sees and changes only their own subscriptions and alerts: another
  owner's id answers 404, exactly as a missing one does (no 403: it would
  say that the id exists).
* Errors are ``{"error": {"code", "message"[, "position"]}}``; a refused
  query is 400 with the validator's message and character position.
* Bounds: request bodies (``api.max_body_bytes``, 413), page sizes
  (``api.max_page_size``), Elasticsearch calls (``api.es_timeout_s`` each).

The stores use the sync Elasticsearch client (shared with the CLI); handlers
run them in threads so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wirewatch.names import Indices
from wirewatch.schema import ChannelSpec, Subscription, SubscriptionFilters

log = structlog.get_logger(__name__)

PREFIX = "/api/v1"
OPENAPI_FILE = Path(__file__).with_name("openapi.json")
PUBLIC_PATHS = frozenset({f"{PREFIX}/openapi.json"})
READ_ONLY_FIELDS = ("id", "owner", "created_at")
MASK = "********"
MAX_TEST_LIMIT = 100
MAX_CURSOR_CHARS = 2000

CONTEXT: web.AppKey["ApiContext"] = web.AppKey("wirewatch_api", object)  # type: ignore[arg-type]
# web.RequestKey exists from aiohttp 3.12; a plain key before (pyproject allows 3.11)
OWNER: Any = web.RequestKey("wirewatch_owner", str) if hasattr(web, "RequestKey") else "wirewatch_owner"


@dataclass
class ApiContext:
    settings: Any
    indices: Indices
    es: Any                 # sync elasticsearch.Elasticsearch
    subscriptions: Any      # processors.subscriptions.SubscriptionStore
    tokens: Any             # processors.tokens.TokenStore


class SubscriptionInput(BaseModel):
    """What a client may set on a subscription (id, owner and created_at are the server's)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1, max_length=4000)
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    channels: list[ChannelSpec] = Field(default_factory=list, max_length=20)
    mode: Literal["realtime", "hourly", "daily"] = "realtime"
    max_per_hour: int | None = Field(None, ge=1, le=100_000)
    active: bool = True


class TestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=4000)
    since: str = Field("7d", max_length=64)
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    limit: int = Field(10, ge=1, le=MAX_TEST_LIMIT)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, position: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.position = status, code, message, position


def error_body(code: str, message: str, position: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if position is not None:
        error["position"] = position
    return {"error": error}


def error_response(status: int, code: str, message: str, position: int | None = None, headers=None) -> web.Response:
    return web.json_response(error_body(code, message, position), status=status, headers=headers)


def not_found(what: str = "subscription") -> ApiError:
    return ApiError(404, "not_found", f"no such {what}")


# --- pure helpers ---------------------------------------------------------------------

def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(body)"
    return f"{where}: {first['msg']}"


def unmask_channels(channels: list[ChannelSpec], existing: list[ChannelSpec]) -> list[ChannelSpec]:
    """A client that PUTs back what GET showed sends masked secrets and Slack
    URLs: keep the stored values for those (pure)."""
    from processors.alerts_cli import masked

    out = []
    for channel in channels:
        update: dict[str, Any] = {}
        if channel.type == "slack" and channel.url and channel.url.endswith("/" + MASK):
            twin = next((c for c in existing if c.type == "slack"
                         and _masked_url(masked, c) == channel.url), None)
            if twin is None:
                raise ApiError(400, "invalid", "a masked Slack URL matches no stored channel: send the full URL")
            update["url"] = twin.url
        if channel.secret == MASK:
            url = update.get("url", channel.url)
            twin = next((c for c in existing if c.type == channel.type and c.url == url and c.secret), None)
            if twin is None:
                raise ApiError(400, "invalid", "a masked secret matches no stored channel: send the secret")
            update["secret"] = twin.secret
        out.append(channel.model_copy(update=update) if update else channel)
    return out


def _masked_url(masked: Callable, channel: ChannelSpec) -> str | None:
    probe = Subscription(id="x", name="x", query="x", channels=[channel])
    return masked(probe)["channels"][0].get("url")


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "invalid", "cursor: not a cursor this API returned") from None
    if (not isinstance(values, list) or len(values) != length
            or not all(isinstance(v, (str, int, float)) or v is None for v in values)):
        raise ApiError(400, "invalid", "cursor: not a cursor this API returned")
    return values


def page_size(request: web.Request, maximum: int, default: int = 20) -> int:
    raw = request.query.get("size", str(min(default, maximum)))
    try:
        size = int(raw)
    except ValueError:
        raise ApiError(400, "invalid", f"size: not a whole number: {raw[:20]!r}") from None
    if not 1 <= size <= maximum:
        raise ApiError(400, "invalid", f"size: between 1 and {maximum}")
    return size


def alerts_search(owner: str, subscription_id: str | None, size: int, after: list | None) -> dict[str, Any]:
    """One page of the owner's alert records, newest first (pure)."""
    filters: list[dict[str, Any]] = [{"term": {"owner": owner}}]
    if subscription_id:
        filters.append({"term": {"subscription_id": subscription_id}})
    args: dict[str, Any] = {
        "query": {"bool": {"filter": filters}},
        "size": size,
        "sort": [{"recorded_at": {"order": "desc", "missing": "_last"}},
                 {"alert_id": {"order": "asc", "missing": "_last"}},
                 {"target": {"order": "asc", "missing": "_last"}}],
        "track_total_hits": False,
    }
    if after is not None:
        args["search_after"] = after
    return args


# --- plumbing ---------------------------------------------------------------------------

async def run(fn: Callable, *args, **kwargs):
    """A sync store call in a worker thread (each ES request has its own deadline)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def read_json(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()  # aiohttp answers 413 beyond client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "too_large", f"request body larger than {request.app[CONTEXT].settings.api.max_body_bytes} bytes") from None
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"request body is not JSON: {exc}"[:300]) from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "request body must be a JSON object")
    return body


def _es_errors() -> tuple[type[BaseException], ...]:
    from elastic_transport import TransportError
    from elasticsearch import ApiError as EsApiError

    return (TransportError, EsApiError)


@web.middleware
async def errors_middleware(request: web.Request, handler):
    from processors.query_validation import QueryRejected
    from processors.subscriptions import SubscriptionInvalid

    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.position)
    except QueryRejected as exc:
        return error_response(400, "query_rejected", exc.message, exc.position)
    except SubscriptionInvalid as exc:
        return error_response(400, "invalid", str(exc))
    except ValidationError as exc:
        return error_response(400, "invalid", validation_message(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
    except _es_errors() as exc:
        from processors.es.client import describe_error

        log.warning("api.es_error", path=request.path, error=describe_error(exc)[:300])
        return error_response(503, "unavailable", "the store is unavailable; try again later")


@web.middleware
async def auth_middleware(request: web.Request, handler):
    if request.path in PUBLIC_PATHS or not request.path.startswith(PREFIX):
        return await handler(request)
    token = bearer_token(request.headers.get("Authorization"))
    owner = await run(request.app[CONTEXT].tokens.owner_of, token) if token else None
    if owner is None:
        return error_response(401, "unauthorized", "a valid bearer token is required",
                              headers={"WWW-Authenticate": 'Bearer realm="wirewatch"'})
    request[OWNER] = owner
    return await handler(request)


def _ctx(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


def _shown(sub: Subscription) -> dict[str, Any]:
    from processors.alerts_cli import masked

    return masked(sub)


async def _owned(request: web.Request) -> Subscription:
    """The subscription of the path, if it is the caller's; 404 otherwise."""
    sub_id = request.match_info["id"]
    sub = await run(_ctx(request).subscriptions.get, sub_id) if len(sub_id) <= 128 else None
    if sub is None or sub.owner != request[OWNER]:
        raise not_found()
    return sub


def _input(body: dict[str, Any]) -> SubscriptionInput:
    for key in READ_ONLY_FIELDS:
        body.pop(key, None)
    return SubscriptionInput.model_validate(body)


# --- handlers ---------------------------------------------------------------------------

async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=OPENAPI_FILE.read_bytes(), content_type="application/json")


async def list_subscriptions(request: web.Request) -> web.Response:
    from processors.subscriptions import active_query, ensure_index, from_hit, search_page

    ctx = _ctx(request)
    size = page_size(request, ctx.settings.api.max_page_size)
    active_only = request.query.get("active", "").lower() in ("1", "true", "yes")
    cursor = request.query.get("cursor")
    after = decode_cursor(cursor, 1) if cursor else None
    await run(ensure_index, ctx.es, ctx.indices)
    page = await run(ctx.es.search, **search_page(ctx.indices, active_query(request[OWNER], active_only), after, size))
    hits = page["hits"]["hits"]
    subs = [s for s in map(from_hit, hits) if s is not None]
    next_cursor = encode_cursor(hits[-1]["sort"]) if len(hits) == size else None
    return web.json_response({"items": [_shown(s) for s in subs], "next_cursor": next_cursor})


async def create_subscription(request: web.Request) -> web.Response:
    from processors.alerts_cli import new_subscription_id

    body = await read_json(request)
    if "id" in body:
        raise ApiError(400, "invalid", "id: assigned by the server (use PUT /subscriptions/{id} to change one)")
    data = _input(body)
    sub = Subscription(id=new_subscription_id(data.name), owner=request[OWNER], **data.model_dump())
    await run(_ctx(request).subscriptions.put, sub)
    return web.json_response(_shown(sub), status=201, headers={"Location": f"{PREFIX}/subscriptions/{sub.id}"})


async def get_subscription(request: web.Request) -> web.Response:
    return web.json_response(_shown(await _owned(request)))


async def replace_subscription(request: web.Request) -> web.Response:
    existing = await _owned(request)
    body = await read_json(request)
    if body.get("id") not in (None, existing.id):
        raise ApiError(400, "invalid", "id: does not match the path")
    data = _input(body)
    channels = unmask_channels(data.channels, existing.channels)
    sub = Subscription(**{**data.model_dump(), "channels": channels}, id=existing.id, owner=existing.owner,
                       created_at=existing.created_at)
    await run(_ctx(request).subscriptions.put, sub)
    return web.json_response(_shown(sub))


async def delete_subscription(request: web.Request) -> web.Response:
    sub = await _owned(request)
    await run(_ctx(request).subscriptions.delete, sub.id)
    return web.Response(status=204)


async def test_query(request: web.Request) -> web.Response:
    from processors.alerts_cli import dry_run_request
    from processors.matcher import highlight_lines
    from processors.query_validation import parse
    from processors.search import QueryError, parse_when

    ctx = _ctx(request)
    data = TestInput.model_validate(await read_json(request))
    parse(data.query)  # QueryRejected -> 400 with the position
    try:
        since = parse_when(data.since)
    except QueryError as exc:
        raise ApiError(400, "invalid", f"since: {exc}") from None
    sub = Subscription(id="test", name="test", query=data.query, filters=data.filters)
    if not await run(ctx.es.indices.exists, index=ctx.indices.articles):
        return web.json_response({"total": 0, "since": since.isoformat(), "counts": {}, "articles": []})
    response = await run(ctx.es.search, index=ctx.indices.articles, **dry_run_request(sub, since, data.limit))
    counts = {name: [{"key": b.get("key_as_string", b["key"]), "count": b["doc_count"]} for b in agg.get("buckets", [])]
              for name, agg in response.get("aggregations", {}).items()}
    articles = [{**hit.get("_source", {}), "id": hit["_id"], "highlights": highlight_lines(hit.get("highlight", {}))}
                for hit in response["hits"]["hits"]]
    return web.json_response({"total": response["hits"]["total"]["value"], "since": since.isoformat(),
                              "counts": counts, "articles": articles})


async def list_alerts(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    size = page_size(request, ctx.settings.api.max_page_size)
    cursor = request.query.get("cursor")
    after = decode_cursor(cursor, 3) if cursor else None
    subscription_id = request.query.get("subscription_id") or None
    if not await run(ctx.es.indices.exists, index=ctx.indices.alerts):
        return web.json_response({"items": [], "next_cursor": None})
    page = await run(ctx.es.search, index=ctx.indices.alerts,
                     **alerts_search(request[OWNER], subscription_id, size, after))
    hits = page["hits"]["hits"]
    items = [{"id": hit["_id"], **hit["_source"]} for hit in hits]
    next_cursor = encode_cursor(hits[-1]["sort"]) if len(hits) == size else None
    return web.json_response({"items": items, "next_cursor": next_cursor})


ROUTES: list[tuple[str, str, Callable]] = [
    ("GET", "/openapi.json", openapi),
    ("GET", "/subscriptions", list_subscriptions),
    ("POST", "/subscriptions", create_subscription),
    ("POST", "/subscriptions/test", test_query),
    ("GET", "/subscriptions/{id}", get_subscription),
    ("PUT", "/subscriptions/{id}", replace_subscription),
    ("DELETE", "/subscriptions/{id}", delete_subscription),
    ("GET", "/alerts", list_alerts),
]


def create_app(settings, es=None) -> web.Application:
    """The API application; ``es`` (a sync client) is closed with the app when
    it was made here."""
    from processors.es.client import make_client
    from processors.subscriptions import SubscriptionStore
    from processors.tokens import TokenStore

    own_client = es is None
    if es is None:
        es = make_client(settings.es, max_retries=1).options(request_timeout=settings.api.es_timeout_s)
    indices = Indices.from_settings(settings.es)
    app = web.Application(client_max_size=settings.api.max_body_bytes,
                          middlewares=[errors_middleware, auth_middleware])
    app[CONTEXT] = ApiContext(settings, indices, es, SubscriptionStore(es, indices), TokenStore(es, indices))
    for method, path, handler in ROUTES:
        app.router.add_route(method, PREFIX + path, handler)

    async def close(_app) -> None:
        if own_client:
            es.close()

    app.on_cleanup.append(close)
    return app


def serve(settings, host: str | None = None, port: int | None = None) -> None:
    """Run the API until interrupted."""
    host = host or settings.api.host
    port = settings.api.port if port is None else port
    log.info("api.serving", url=f"http://{host}:{port}{PREFIX}/")
    web.run_app(create_app(settings), host=host, port=port, access_log=None, print=None, shutdown_timeout=10)
