"""`wirewatch search`, `wirewatch es setup|prune|reindex`, `wirewatch kibana import`."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta

from wirewatch.names import Indices
from wirewatch.settings import load_settings

# Highlight markers from Unicode's private use area: the fragments are cleaned
# of control characters (feeds are hostile) before these become ANSI codes.
_MARK_ON, _MARK_OFF = "\ue000", "\ue001"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WHITESPACE = re.compile(r"\s+")


def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="search the indexed articles (Lucene query syntax)",
                              description="Search articles, newest first. Lucene syntax; default operator OR "
                                          "(write AND to require every word).")
    p.add_argument("query", help='e.g. maduro, "armed forces", maduro AND (military OR soldiers), topic:politics')
    p.add_argument("--since", help="published at or after: 7d, 12h, 2w or an ISO date")
    p.add_argument("--until", help="published at or before: 7d, 12h, 2w or an ISO date")
    p.add_argument("--topic", action="append", help="only this topic (repeatable)")
    p.add_argument("--lang", action="append", help="only this language code (repeatable)")
    p.add_argument("--source", action="append", help="only this source domain, e.g. bbc.co.uk (repeatable)")
    p.add_argument("--limit", type=int, default=20, help="most results shown (default 20, at most 1000)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_search_cmd)

    es = subparsers.add_parser("es", help="manage the Elasticsearch indices")
    es_sub = es.add_subparsers(dest="es_command", metavar="ACTION")
    es_sub.required = True
    p = es_sub.add_parser("setup", help="apply the index templates and create the current month's index")
    p.add_argument("--analyzers", choices=["auto", "plugin", "standard"], default="auto",
                   help="language analyzers: ask the node (auto), require the wirewatch plugin, or use standard")
    p.set_defaults(func=_setup_cmd)
    p = es_sub.add_parser("prune", help="delete whole monthly indices older than a cut-off, and older alert, "
                                        "claim and dead-letter documents")
    p.add_argument("--older-than", required=True, help="e.g. 90d or 12w")
    p.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    p.set_defaults(func=_prune_cmd)
    p = es_sub.add_parser("reindex", help="rebuild the articles index from Kafka and swap the alias")
    p.add_argument("--from-kafka", action="store_true", required=True,
                   help="read the enriched-articles topic from the beginning")
    p.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds (default 600)")
    p.set_defaults(func=_reindex_cmd)

    kb = subparsers.add_parser("kibana", help="Kibana saved objects")
    kb_sub = kb.add_subparsers(dest="kibana_command", metavar="ACTION")
    kb_sub.required = True
    p = kb_sub.add_parser("import", help="import the data view, saved searches and dashboards")
    p.add_argument("--url", help="Kibana base URL (default: settings es.kibana_url)")
    p.add_argument("--space", help="Kibana space id (default: the default space)")
    p.add_argument("--timeout", type=float, default=30.0, help="HTTP deadline in seconds (default 30)")
    p.set_defaults(func=_kibana_import_cmd)


def _fail(message: str, code: int = 1) -> int:
    print(f"wirewatch: {message}", file=sys.stderr)
    return code


def _context():
    import logging

    from processors.es.client import make_client

    # The transport logs each failed attempt with a traceback; the command
    # prints one line instead.
    logging.getLogger("elastic_transport").setLevel(logging.CRITICAL)
    settings = load_settings()
    return settings, Indices.from_settings(settings.es), make_client(settings.es, max_retries=1)


# ---------------------------------------------------------------- search

def _search_cmd(args) -> int:
    from processors.es.client import ESUnavailable
    from processors.search import NoArticles, QueryError, search

    settings, indices, es = _context()
    try:
        result = search(es, indices, args.query, since=args.since, until=args.until, topic=args.topic,
                        lang=args.lang, source=args.source, limit=args.limit,
                        highlight_tags=(_MARK_ON, _MARK_OFF))
    except QueryError as exc:
        return _fail(f"bad query: {exc}", 2)
    except NoArticles as exc:
        return _fail(str(exc), 1)
    except ESUnavailable as exc:
        return _fail(str(exc), 3)
    finally:
        es.close()
    if args.json:
        print(json.dumps(_json_result(result), ensure_ascii=False, indent=2))
    else:
        print(format_result(result, ansi=sys.stdout.isatty()))
    return 0


def _json_result(result) -> dict:
    data = result.to_json()
    for hit in data["hits"]:
        hit["highlights"] = [clean_fragment(f, "<em>", "</em>") for f in hit["highlights"]]
    return data


def clean_fragment(fragment: str, on: str, off: str) -> str:
    """One line, no control characters, markers turned into ``on``/``off``."""
    text = _WHITESPACE.sub(" ", _CONTROL.sub(" ", fragment)).strip()
    return text.replace(_MARK_ON, on).replace(_MARK_OFF, off)


def format_result(result, *, ansi: bool) -> str:
    on, off = ("\x1b[1m", "\x1b[0m") if ansi else ("**", "**")
    more = "+" if result.total_is_lower_bound else ""
    lines = [f"{result.total}{more} article(s), newest first; showing {len(result.hits)} ({result.took_ms} ms)"]
    if result.timed_out:
        lines.append("(the search timed out: results are partial)")
    for hit in result.hits:
        when = (hit.published_at or "")[:16].replace("T", " ")
        topics = f" [{', '.join(hit.topics)}]" if hit.topics else ""
        lines.append("")
        lines.append(f"{when}  {clean_fragment(hit.source, '', '')}{topics}  {clean_fragment(hit.title, '', '')}")
        lines.append(f"  {clean_fragment(hit.url, '', '')}")
        for fragment in hit.highlights[:3]:
            lines.append(f"  … {clean_fragment(fragment, on, off)} …")
    return "\n".join(lines)


# ---------------------------------------------------------------- es

def _setup_cmd(args) -> int:
    from processors.es.client import ESUnavailable, cluster_health
    from processors.es.templates import TemplateError, ensure_articles_index, ensure_templates, plugin_analyzers_available

    settings, indices, es = _context()
    try:
        cluster_health(es)
        available = plugin_analyzers_available(es)
        if args.analyzers == "plugin" and not available:
            return _fail("the wirewatch analysis plugin (ww_* analyzers) is not installed on this node")
        use_plugin = available and args.analyzers != "standard"
        rendered = ensure_templates(es, indices, analyzers_available=use_plugin)
        current = ensure_articles_index(es, indices)
    except (ESUnavailable, TemplateError) as exc:
        return _fail(str(exc))
    finally:
        es.close()
    print(f"templates {', '.join([*rendered.components, rendered.index_template_name])} applied "
          f"(analyzers: {'ww_* plugin' if use_plugin else 'standard'})")
    print(f"read alias {indices.articles}, write alias {indices.articles}-write -> {current}")
    return 0


def parse_age(value: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d{1,5})\s*([dw])\s*", value or "")
    if not match:
        raise ValueError(f"not an age: {value!r} (use days or weeks, e.g. 90d or 12w)")
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
    if days < 31:
        # Less than a month would delete the month being written.
        raise ValueError(f"{value} is shorter than a month; monthly indices cannot be pruned that finely")
    return timedelta(days=days)


def _prune_cmd(args) -> int:
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    from processors.es.client import describe_error
    from processors.es.prune import prune

    try:
        older_than = parse_age(args.older_than)
    except ValueError as exc:
        return _fail(str(exc), 2)
    settings, indices, es = _context()
    try:
        plan = prune(es, indices, older_than, dry_run=args.dry_run)
    except (ApiError, TransportError) as exc:
        return _fail(f"prune failed: {describe_error(exc)}")
    finally:
        es.close()
    verb = "would delete" if args.dry_run else "deleted"
    print(f"cut-off {plan.cutoff.date().isoformat()}: {verb} {len(plan.delete)} index(es), kept {len(plan.keep)}")
    for name in plan.delete:
        print(f"  {name}")
    for name, count in plan.documents.items():
        print(f"  {name}: {verb} {count} document(s) older than the cut-off")
    return 0


def _reindex_cmd(args) -> int:
    try:
        from processors.es.reindex import ReindexError, reindex_from_kafka
    except ImportError:
        return _fail("es reindex is not available in this build")
    settings, indices, es = _context()
    try:
        report = reindex_from_kafka(settings, es, timeout_s=args.timeout)
    except ReindexError as exc:
        return _fail(str(exc))
    finally:
        es.close()
    print(report.summary())
    return 0


# ---------------------------------------------------------------- kibana

def _kibana_import_cmd(args) -> int:
    try:
        from processors.es.kibana import KibanaError, import_saved_objects
    except ImportError:
        return _fail("kibana import is not available in this build")
    settings = load_settings()
    indices = Indices.from_settings(settings.es)
    try:
        result = import_saved_objects(args.url or settings.es.kibana_url, indices, space=args.space,
                                      timeout_s=args.timeout)
    except KibanaError as exc:
        return _fail(str(exc))
    print(result.summary())
    return 0
