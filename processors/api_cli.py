"""`wirewatch tokens ...` and `wirewatch api serve`.

    wirewatch tokens create --owner O [--label L]   prints the token once
    wirewatch tokens list [--owner O]
    wirewatch tokens revoke ID
    wirewatch api serve [--host 127.0.0.1] [--port 8080]
"""

from __future__ import annotations

import sys

from wirewatch.settings import load_settings


def register(subparsers) -> None:
    tokens = subparsers.add_parser("tokens", help="API bearer tokens: create, list, revoke")
    verbs = tokens.add_subparsers(dest="tokens_command", metavar="ACTION")
    verbs.required = True
    p = verbs.add_parser("create", help="new token for an owner (printed once: it is stored hashed)")
    p.add_argument("--owner", required=True, help="whose subscriptions and alerts the token reaches")
    p.add_argument("--label", default="", help="a note to recognise the token by in `tokens list`")
    p.set_defaults(func=_create_cmd)
    p = verbs.add_parser("list", help="tokens (ids, owners, states; never the tokens themselves)")
    p.add_argument("--owner")
    p.set_defaults(func=_list_cmd)
    p = verbs.add_parser("revoke", help="revoke a token by its id")
    p.add_argument("id")
    p.set_defaults(func=_revoke_cmd)

    api = subparsers.add_parser("api", help="the HTTP API")
    verbs = api.add_subparsers(dest="api_command", metavar="ACTION")
    verbs.required = True
    p = verbs.add_parser("serve", help="serve /api/v1 until interrupted")
    p.add_argument("--host", help="listen address (default: settings api.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default: settings api.port, 8080)")
    p.set_defaults(func=_serve_cmd)


def _fail(message: str, code: int = 1) -> int:
    print(f"wirewatch: {message}", file=sys.stderr)
    return code


def _store():
    import logging

    from processors.es.client import make_client
    from processors.tokens import TokenStore
    from wirewatch.names import Indices

    logging.getLogger("elastic_transport").setLevel(logging.CRITICAL)
    settings = load_settings()
    return TokenStore(make_client(settings.es, max_retries=1), Indices.from_settings(settings.es))


def _es_errors():
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    return (TransportError, ApiError)


def _describe(exc: BaseException) -> str:
    from processors.es.client import describe_error

    return describe_error(exc)


def _create_cmd(args) -> int:
    from processors.tokens import TokenInvalid

    try:
        info, token = _store().create(args.owner, args.label)
    except TokenInvalid as exc:
        return _fail(str(exc), 2)
    except _es_errors() as exc:
        return _fail(f"Elasticsearch: {_describe(exc)}", 3)
    print(f"token id {info.id} for owner {info.owner} (shown once; keep it secret):", file=sys.stderr)
    print(token)
    return 0


def _list_cmd(args) -> int:
    try:
        infos = _store().list(args.owner)
    except _es_errors() as exc:
        return _fail(f"Elasticsearch: {_describe(exc)}", 3)
    for info in infos:
        state = "revoked" if info.revoked else "active"
        print(f"{info.id}  {state:<8} {info.owner:<20} {info.created_at[:19]}  {info.label}")
    print(f"{len(infos)} token(s)")
    return 0


def _revoke_cmd(args) -> int:
    try:
        existed = _store().revoke(args.id)
    except _es_errors() as exc:
        return _fail(f"Elasticsearch: {_describe(exc)}", 3)
    if not existed:
        return _fail(f"no token {args.id!r}")
    print(f"revoked {args.id}")
    return 0


def _serve_cmd(args) -> int:
    from processors.api import serve

    if args.port is not None and not 0 <= args.port <= 65535:
        return _fail("--port must be between 0 and 65535", 2)
    try:
        serve(load_settings(), host=args.host, port=args.port)
    except OSError as exc:
        return _fail(f"cannot listen on {args.host or 'api.host'}:{args.port}: {exc.strerror or exc}", 3)
    return 0
