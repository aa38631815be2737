"""`wirewatch subs ...` and `wirewatch alerts ...`: manage subscriptions, try a
query on what is already indexed, and read the delivery records.

    wirewatch subs add NAME QUERY [--webhook URL [--secret S]] [--slack URL] [--email ADDR --smtp smtp://h:p]
                                  [--lang L] [--topic T] [--source S] [--owner O] [--id ID]
    wirewatch subs list [--owner O] [--active] [--json]
    wirewatch subs show ID
    wirewatch subs rm ID
    wirewatch subs test QUERY [--since 7d] [--lang L] [--topic T] [--source S] [--limit N]
    wirewatch alerts list [--limit N] [--subscription ID] [--owner O] [--failed] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from typing import Any

from wirewatch.settings import load_settings

MAX_SHOWN = 100
_MASK = "********"


def register(subparsers) -> None:
    subs = subparsers.add_parser("subs", help="alert subscriptions: add, list, show, rm, test")
    verbs = subs.add_subparsers(dest="subs_command", metavar="ACTION")
    verbs.required = True

    p = verbs.add_parser("add", help="save a subscription (the query is validated first)")
    p.add_argument("name")
    p.add_argument("query", help='Lucene syntax, e.g. maduro AND (military OR soldiers); default operator OR')
    p.add_argument("--id", help="subscription id (default: generated)")
    p.add_argument("--owner", default="default")
    p.add_argument("--webhook", action="append", default=[], help="webhook URL (repeatable)")
    p.add_argument("--secret", help="HMAC secret of the webhooks (whsec_<base64> or any text)")
    p.add_argument("--slack", action="append", default=[], help="Slack-compatible incoming webhook URL")
    p.add_argument("--email", action="append", default=[], help="email recipient (repeatable)")
    p.add_argument("--smtp", help="SMTP server for --email, smtp://host:port")
    _filter_args(p)
    p.add_argument("--mode", choices=["realtime", "hourly", "daily"], default="realtime")
    p.add_argument("--max-per-hour", type=_positive_int, default=None,
                   help="realtime rate cap: alerts beyond it in an hour go to the next hourly digest")
    p.add_argument("--inactive", action="store_true", help="save it switched off")
    p.set_defaults(func=_add_cmd)

    p = verbs.add_parser("list", help="list subscriptions")
    p.add_argument("--owner")
    p.add_argument("--active", action="store_true", help="only active ones")
    p.add_argument("--json", action="store_true", help="one JSON document per line (secrets masked)")
    p.set_defaults(func=_list_cmd)

    p = verbs.add_parser("show", help="print one subscription as JSON (secrets masked)")
    p.add_argument("id")
    p.set_defaults(func=_show_cmd)

    p = verbs.add_parser("rm", help="delete a subscription")
    p.add_argument("id")
    p.set_defaults(func=_rm_cmd)

    p = verbs.add_parser("test", help="what a query would have matched in the indexed articles, with counts")
    p.add_argument("query")
    p.add_argument("--since", default="7d", help="published since: 7d, 12h, 2w or an ISO date (default 7d)")
    _filter_args(p)
    p.add_argument("--limit", type=int, default=10, help=f"articles shown (default 10, at most {MAX_SHOWN})")
    p.set_defaults(func=_test_cmd)

    alerts = subparsers.add_parser("alerts", help="alerts and their deliveries")
    verbs = alerts.add_subparsers(dest="alerts_command", metavar="ACTION")
    verbs.required = True
    p = verbs.add_parser("list", help="latest deliveries, newest first")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--subscription", help="only this subscription id")
    p.add_argument("--owner")
    p.add_argument("--failed", action="store_true", help="only deliveries that failed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_alerts_list_cmd)


def _filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", action="append", default=[], help="only this language code (repeatable)")
    p.add_argument("--topic", action="append", default=[], help="only this topic (repeatable)")
    p.add_argument("--source", action="append", default=[], help="only this source domain (repeatable)")
    p.add_argument("--country", action="append", default=[], help="only sources of this country (repeatable)")


# --- helpers ------------------------------------------------------------------------

def _fail(message: str, code: int = 1) -> int:
    print(f"wirewatch: {message}", file=sys.stderr)
    return code


def _context():
    import logging

    from processors.es.client import make_client
    from wirewatch.names import Indices

    logging.getLogger("elastic_transport").setLevel(logging.CRITICAL)
    settings = load_settings()
    return settings, Indices.from_settings(settings.es), make_client(settings.es)


def _es_errors():
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    return (TransportError, ApiError)


def _describe(exc: BaseException) -> str:
    from processors.es.client import describe_error

    return describe_error(exc)


def _filters(args):
    from wirewatch.schema import SubscriptionFilters

    return SubscriptionFilters(languages=args.lang, topics=args.topic, sources=args.source, countries=args.country)


def new_subscription_id(name: str) -> str:
    """A readable, unique id: the name's slug and 8 random hex digits."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "sub"
    return f"{slug}-{uuid.uuid4().hex[:8]}"


def masked(sub) -> dict[str, Any]:
    doc = sub.model_dump(mode="json")
    for channel in doc.get("channels", []):
        if channel.get("secret"):
            channel["secret"] = _MASK
        if channel.get("type") == "slack" and channel.get("url"):
            channel["url"] = re.sub(r"(https?://[^/]+)/.*", r"\1/" + _MASK, channel["url"])
    return doc


def _rejected(query: str, exc) -> int:
    print(f"wirewatch: query refused: {exc}", file=sys.stderr)
    print(exc.pointer(query), file=sys.stderr)
    return 2


# --- subs ---------------------------------------------------------------------------

def _add_cmd(args) -> int:
    from processors.query_validation import QueryRejected
    from processors.subscriptions import SubscriptionInvalid, SubscriptionStore
    from wirewatch.schema import ChannelSpec, Subscription

    channels = [ChannelSpec(type="webhook", url=u, secret=args.secret) for u in args.webhook]
    channels += [ChannelSpec(type="slack", url=u) for u in args.slack]
    if args.email:
        channels.append(ChannelSpec(type="email", url=args.smtp, to=args.email))
    elif args.smtp:
        return _fail("--smtp needs at least one --email recipient", 2)
    if args.secret and not args.webhook:
        return _fail("--secret signs webhooks: give a --webhook URL too", 2)
    sub = Subscription(
        id=args.id or new_subscription_id(args.name),
        name=args.name,
        owner=args.owner,
        query=args.query,
        filters=_filters(args),
        channels=channels,
        mode=args.mode,
        max_per_hour=args.max_per_hour,
        active=not args.inactive,
    )
    settings, indices, es = _context()
    try:
        SubscriptionStore(es, indices).put(sub)
    except QueryRejected as exc:
        return _rejected(args.query, exc)
    except SubscriptionInvalid as exc:
        return _fail(str(exc), 2)
    except _es_errors() as exc:
        return _fail(f"Elasticsearch: {_describe(exc)}", 3)
    print(sub.id)
    return 0


def _list_cmd(args) -> int:
    from processors.subscriptions import SubscriptionStore

    settings, indices, es = _context()
    try:
        subs = SubscriptionStore(es, indices).list(owner=args.owner, active_only=args.active)
    except _es_errors() as exc:
        return _fail(f"Elasticsearch: {_describe(exc)}", 3)
    for sub in subs:
        if args.json:
            print(json.dumps(masked(sub), ensure_ascii=False))
        else:
            state = "active" if sub.active else "off"
            kinds = ",".join(c.type for c in sub.channels) or "-"
            print(f"{sub.id:<32} {state:<6} {sub.owner:<12} {kinds:<14} {sub.name[:30]:<30} {sub.query}")
    if not args.json:
        print(f"{len(subs)} subscription(s)")
    return 0


def _show_cmd(args) -> int:
    from processors.subscriptions import SubscriptionStore

    settings, indices, es = _context()
    try:
        sub = SubscriptionStore(es, indices).get(args.id)
    except _es_errors() as exc:
        return _fail(f"Elasticsearch: {_describe(exc)}", 3)
    if sub is None:
        return _fail(f"no subscription {args.id!r}")
    print(json.dumps(masked(sub), indent=2, ensure_ascii=False))
    return 0


def _rm_cmd(args) -> int:
    from processors.subscriptions import SubscriptionStore

    settings, indices, es = _context()
    try:
        existed = SubscriptionStore(es, indices).delete(args.id)
    except _es_errors() as exc:
        return _fail(f"Elasticsearch: {_describe(exc)}", 3)
    if not existed:
        return _fail(f"no subscription {args.id!r}")
    print(f"deleted {args.id}")
    return 0


def dry_run_request(sub, since, limit: int) -> dict[str, Any]:
    """The search `subs test` runs: the matcher's query and filters, a date
    range, counts per day, topic, source and language (pure)."""
    from processors.matcher import HIGHLIGHT, subscription_query

    query = subscription_query(sub)
    query["bool"]["filter"].append({"range": {"published_at": {"gte": since.isoformat()}}})
    return {
        "query": query,
        "size": limit,
        "sort": [{"published_at": {"order": "desc"}}],
        "track_total_hits": True,
        "_source": ["title", "url", "source", "published_at", "language", "topics"],
        "highlight": HIGHLIGHT,
        "aggs": {
            "per_day": {"date_histogram": {"field": "published_at", "calendar_interval": "day", "min_doc_count": 1}},
            "topics": {"terms": {"field": "topics", "size": 10}},
            "sources": {"terms": {"field": "source", "size": 10}},
            "languages": {"terms": {"field": "language", "size": 10}},
        },
        "timeout": "20s",
    }


def _test_cmd(args) -> int:
    from processors.matcher import highlight_lines
    from processors.delivery.formatting import plain_highlight
    from processors.query_validation import QueryRejected, parse
    from processors.search import QueryError, parse_when
    from wirewatch.schema import Subscription

    if not 1 <= args.limit <= MAX_SHOWN:
        return _fail(f"--limit must be between 1 and {MAX_SHOWN}", 2)
    try:
        parse(args.query)
        since = parse_when(args.since)
    except QueryRejected as exc:
        return _rejected(args.query, exc)
    except QueryError as exc:
        return _fail(str(exc), 2)
    sub = Subscription(id="test", name="test", query=args.query, filters=_filters(args))
    settings, indices, es = _context()
    try:
        if not es.indices.exists(index=indices.articles):
            return _fail(f"no articles index {indices.articles!r} yet (run `wirewatch es setup` and index some articles)", 3)
        response = es.search(index=indices.articles, **dry_run_request(sub, since, args.limit))
    except _es_errors() as exc:
        return _fail(f"Elasticsearch: {_describe(exc)}", 3)
    total = response["hits"]["total"]["value"]
    print(f"{total} article(s) since {since:%Y-%m-%d %H:%M} UTC would have matched")
    aggs = response.get("aggregations", {})
    for name in ("per_day", "topics", "sources", "languages"):
        buckets = aggs.get(name, {}).get("buckets", [])
        if buckets:
            shown = ", ".join(f"{b.get('key_as_string', b['key'])[:10]}: {b['doc_count']}" for b in buckets[-14:])
            print(f"  {name.replace('_', ' ')}: {shown}")
    for hit in response["hits"]["hits"]:
        src = hit.get("_source", {})
        print(f"- {str(src.get('published_at', ''))[:16]}  {src.get('source', '')}  {src.get('title', '')[:100]}")
        print(f"  {src.get('url', '')}")
        for line in highlight_lines(hit.get("highlight", {}))[:2]:
            print(f"    … {plain_highlight(line)[:200]} …")
    return 0


# --- alerts -------------------------------------------------------------------------

def alerts_query(subscription: str | None, owner: str | None, failed: bool) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    if subscription:
        filters.append({"term": {"subscription_id": subscription}})
    if owner:
        filters.append({"term": {"owner": owner}})
    if failed:
        filters.append({"term": {"ok": False}})
    return {"bool": {"filter": filters}}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def delivery_outcome(record: dict) -> str:
    """What a record of the alerts index says happened (queued digest items have no `ok`)."""
    state = record.get("state")
    if state == "digest_pending":
        return "QUEUED"
    if state == "digested":
        return "DIGEST"
    if record.get("ok"):
        return "ok"
    return "GONE" if record.get("disabled") else "FAILED"


def _alerts_list_cmd(args) -> int:
    if not 1 <= args.limit <= 1000:
        return _fail("--limit must be between 1 and 1000", 2)
    settings, indices, es = _context()
    try:
        if not es.indices.exists(index=indices.alerts):
            print("0 deliveries recorded")
            return 0
        response = es.search(index=indices.alerts, query=alerts_query(args.subscription, args.owner, args.failed),
                             sort=[{"recorded_at": {"order": "desc"}}], size=args.limit, track_total_hits=True)
    except _es_errors() as exc:
        return _fail(f"Elasticsearch: {_describe(exc)}", 3)
    for hit in response["hits"]["hits"]:
        src = hit["_source"]
        if args.json:
            print(json.dumps(src, ensure_ascii=False))
            continue
        outcome = delivery_outcome(src)
        print(f"{str(src.get('recorded_at', ''))[:19]}  {outcome:<6} {src.get('channel', ''):<8} "
              f"{src.get('subscription_id', '')[:24]:<24} {src.get('title', '')[:70]}")
        if outcome in ("FAILED", "GONE"):
            print(f"    {src.get('target', '')}: {src.get('attempts')} attempt(s), {src.get('error') or ''}"[:200])
    if not args.json:
        print(f"{response['hits']['total']['value']} deliveries recorded")
    return 0
