"""`wirewatch feeds ...` and `wirewatch produce`.

Every handler takes the parsed args and returns an exit code; bad input gives a
one-line reason on stderr and a non-zero code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path

from producers.catalogue import (
    CatalogueError, Feed, export_opml, import_opml, load_catalogue, parse_catalogue, read_catalogue_text, rewrite_urls,
    save_catalogue, shard, write_catalogue_text,
)
from producers.normalise import FeedRefused, ParsedFeed, parse_feed
from wirewatch.settings import Settings, load_settings

EXIT_REFUSED = 1
EXIT_USAGE = 2


def register(subparsers) -> None:
    feeds = subparsers.add_parser("feeds", help="manage, check and inspect the feed catalogue")
    verbs = feeds.add_subparsers(dest="feeds_command", metavar="VERB")
    verbs.required = True

    p = verbs.add_parser("check", help="fetch and parse one feed once, print its entries (nothing is sent to Kafka)")
    p.add_argument("url")
    p.add_argument("--json", action="store_true", help="one JSON object per entry")
    p.set_defaults(func=cmd_check)

    p = verbs.add_parser("parse", help="parse a local feed file with the producer's code, print its entries")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="one JSON object per entry")
    p.add_argument("--feed-url", default=None, help="URL to resolve relative links against (default: file://...)")
    p.set_defaults(func=cmd_parse)

    for name, func, helptext in (("list", cmd_list, "list the catalogue's feeds"), ("status", cmd_status, "per-feed health and schedule, from Kafka")):
        p = verbs.add_parser(name, help=helptext)
        p.add_argument("--file", type=Path, default=None, help="catalogue (default: settings producer.feeds_file)")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)

    p = verbs.add_parser("add", help="add a feed to the catalogue")
    p.add_argument("url")
    p.add_argument("--name", default="")
    p.add_argument("--language", default=None)
    p.add_argument("--country", default=None)
    p.add_argument("--tag", action="append", default=[], dest="tags")
    p.add_argument("--min-interval", type=int, default=None)
    p.add_argument("--max-interval", type=int, default=None)
    p.add_argument("--full-text", action="store_true")
    p.add_argument("--file", type=Path, default=None)
    p.set_defaults(func=cmd_add)

    p = verbs.add_parser("remove", help="remove a feed from the catalogue")
    p.add_argument("url")
    p.add_argument("--file", type=Path, default=None)
    p.set_defaults(func=cmd_remove)

    p = verbs.add_parser("import-opml", help="add the feeds of an OPML file to the catalogue")
    p.add_argument("opml", type=Path)
    p.add_argument("--file", type=Path, default=None)
    p.set_defaults(func=cmd_import_opml)

    p = verbs.add_parser("export-opml", help="write the catalogue as OPML (to stdout without a path)")
    p.add_argument("opml", type=Path, nargs="?")
    p.add_argument("--file", type=Path, default=None)
    p.set_defaults(func=cmd_export_opml)

    p = verbs.add_parser("apply-moves", help="rewrite the catalogue URLs of feeds that moved permanently (301/308), as recorded in Kafka")
    p.add_argument("--file", type=Path, default=None)
    p.add_argument("--dry-run", action="store_true", help="print the moves, change nothing")
    p.set_defaults(func=cmd_apply_moves)

    p = subparsers.add_parser("produce", help="poll the catalogue's feeds and produce articles to Kafka")
    p.add_argument("--once", action="store_true", help="one cycle over every enabled feed, then exit")
    p.add_argument("--file", type=Path, default=None)
    p.add_argument("--instance", type=int, default=0, help="this instance's number, 0-based (scale-out)")
    p.add_argument("--instances", type=int, default=1, help="how many instances share the catalogue")
    p.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port (default: setting producer.metrics_port; 0: off)")
    p.set_defaults(func=cmd_produce)


# --------------------------------------------------------------------------- helpers


def _fail(message: str, code: int = EXIT_REFUSED) -> int:
    print(f"wirewatch: {message}", file=sys.stderr)
    return code


def _catalogue_path(args, settings: Settings) -> Path:
    return args.file or settings.producer.feeds_file


def _print_parsed(parsed: ParsedFeed, as_json: bool) -> None:
    if as_json:
        for article in parsed.articles:
            sys.stdout.write(article.model_dump_json() + "\n")
    else:
        print(f"{parsed.title or '(untitled)'} [{parsed.version or '?'}] {len(parsed.articles)} entries"
              + (f" (of {parsed.entries_total})" if parsed.entries_total != len(parsed.articles) else ""))
        for article in parsed.articles:
            flags = f"  flags={','.join(article.date_flags)}" if article.date_flags else ""
            print(f"- {article.published_at:%Y-%m-%d %H:%M}Z  {article.title[:100]}\n  {article.url}  lang={article.language or '-'}{flags}")
    for problem in parsed.problems:
        print(f"note: {problem}", file=sys.stderr)


# --------------------------------------------------------------------------- feeds check / parse


def cmd_parse(args) -> int:
    settings = load_settings()
    path: Path = args.file
    try:
        if path.stat().st_size > settings.producer.max_body_bytes:
            return _fail(f"{path}: larger than producer.max_body_bytes ({settings.producer.max_body_bytes})")
        body = path.read_bytes()
    except OSError as exc:
        return _fail(f"{path}: cannot be read: {exc.strerror}")
    try:
        parsed = parse_feed(body, feed_url=args.feed_url or path.resolve().as_uri(), fetched_at=datetime.now(timezone.utc),
                            max_entries=settings.producer.max_entries_per_poll)
    except FeedRefused as exc:
        return _fail(f"{path}: refused: {exc.reason}")
    _print_parsed(parsed, args.json)
    return 0


def cmd_check(args) -> int:
    settings = load_settings()
    return asyncio.run(_check(settings, args.url, args.json))


async def _check(settings: Settings, url: str, as_json: bool) -> int:
    from producers.fetcher import Fetcher
    from producers.isolation import BoundedParser

    async with Fetcher(settings.producer) as fetcher:
        result = await fetcher.fetch(url)
    if not result.ok:
        return _fail(f"{url}: {result.error_class}: {result.error}")
    parser = BoundedParser.from_settings(load_settings().producer)
    try:
        parsed = await parser.parse(result.body, feed_url=result.final_url, fetched_at=datetime.now(timezone.utc),
                                    max_entries=settings.producer.max_entries_per_poll)
    except FeedRefused as exc:
        return _fail(f"{url}: refused: {exc.reason}")
    finally:
        await parser.aclose()
    if result.permanent_redirect:
        print(f"note: the feed moved permanently to {result.permanent_redirect}", file=sys.stderr)
    _print_parsed(parsed, as_json)
    return 0


# --------------------------------------------------------------------------- catalogue verbs


def _load(args) -> tuple[Settings, Path, list[Feed]]:
    settings = load_settings()
    path = _catalogue_path(args, settings)
    feeds = load_catalogue(path) if path.exists() else []
    return settings, path, feeds


def cmd_list(args) -> int:
    try:
        _, path, feeds = _load(args)
    except CatalogueError as exc:
        return _fail(str(exc))
    if args.json:
        for feed in feeds:
            print(feed.model_dump_json())
        return 0
    for feed in feeds:
        state = "" if feed.enabled else " (disabled)"
        extra = " ".join(x for x in (feed.language or "", feed.country or "", ",".join(feed.tags)) if x)
        print(f"{feed.url}  {feed.name}{state}  {extra}  every {feed.min_interval}-{feed.max_interval}s")
    print(f"{len(feeds)} feed(s) in {path}", file=sys.stderr)
    return 0


def cmd_add(args) -> int:
    try:
        _, path, feeds = _load(args)
        values = {k: v for k, v in dict(url=args.url, name=args.name, language=args.language, country=args.country, tags=args.tags,
                                        min_interval=args.min_interval, max_interval=args.max_interval, full_text=args.full_text).items() if v is not None}
        feed = Feed(**values)
    except CatalogueError as exc:
        return _fail(str(exc))
    except ValueError as exc:  # pydantic's ValidationError
        first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": ("?",), "msg": str(exc)}
        return _fail(f"{'.'.join(str(p) for p in first['loc']) or 'feed'}: {first['msg']}", EXIT_USAGE)
    if any(f.url == feed.url for f in feeds):
        return _fail(f"{feed.url} is already in {path}")
    save_catalogue(path, feeds + [feed])
    print(f"added {feed.url} to {path}")
    return 0


def cmd_remove(args) -> int:
    try:
        _, path, feeds = _load(args)
    except CatalogueError as exc:
        return _fail(str(exc))
    kept = [f for f in feeds if f.url != args.url.strip()]
    if len(kept) == len(feeds):
        return _fail(f"{args.url} is not in {path}")
    save_catalogue(path, kept)
    print(f"removed {args.url} from {path}")
    return 0


def cmd_import_opml(args) -> int:
    try:
        _, path, feeds = _load(args)
        imported = import_opml(args.opml.read_bytes())
    except CatalogueError as exc:
        return _fail(f"{args.opml}: {exc}")
    except OSError as exc:
        return _fail(f"{args.opml}: cannot be read: {exc.strerror}")
    known = {f.url for f in feeds}
    new = [f for f in imported if f.url not in known]
    save_catalogue(path, feeds + new)
    print(f"imported {len(new)} new feed(s) ({len(imported) - len(new)} already listed) into {path}")
    return 0


def cmd_export_opml(args) -> int:
    try:
        _, _, feeds = _load(args)
    except CatalogueError as exc:
        return _fail(str(exc))
    data = export_opml(feeds)
    if args.opml:
        args.opml.write_bytes(data)
        print(f"wrote {len(feeds)} feed(s) to {args.opml}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode("utf-8") + "\n")
    return 0


def cmd_status(args) -> int:
    from producers.state_topic import load_state

    try:
        settings, _, feeds = _load(args)
        store = load_state(settings, wanted={f.url for f in feeds})
    except CatalogueError as exc:
        return _fail(str(exc))
    except (TimeoutError, OSError) as exc:
        return _fail(f"cannot read feed state from Kafka: {exc}")
    rows = [_status_row(feed, store.feeds.get(feed.url)) for feed in feeds]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"{'feed':<50} {'health':<8} {'last success':<17} {'fails':>5} {'next check':<17} {'interval':>8} {'seen':>6}  last error")
    for row in rows:
        moved = f"moved permanently to {row['moved_to']}" if row["moved_to"] else ""
        print(f"{row['url'][:50]:<50} {row['health']:<8} {row['last_success'] or '-':<17} {row['consecutive_failures']:>5} "
              f"{row['next_check'] or '-':<17} {row['interval_s']:>8} {row['entries_seen']:>6}  {row['last_error'] or moved}")
    moved = [row for row in rows if row["moved_to"]]
    if moved:
        print(f"\n{len(moved)} feed(s) moved permanently (301/308); `wirewatch feeds apply-moves` rewrites the catalogue:")
        for row in moved:
            print(f"  {row['url']} -> {row['moved_to']}")
    return 0


def _status_row(feed: Feed, state) -> dict:
    def when(ts):
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M") if ts else None

    if state is None:
        return {"url": feed.url, "health": "new" if feed.enabled else "off", "last_success": None, "last_error": None, "last_error_class": None,
                "consecutive_failures": 0, "next_check": None, "interval_s": 0, "entries_seen": 0, "moved_to": None}
    health = "off" if not feed.enabled else "gone" if state.disabled else "failing" if state.consecutive_failures else "ok"
    error = f"{state.last_error_class}: {state.last_error}"[:80] if state.last_error_class else None
    return {"url": feed.url, "health": health, "last_success": when(state.last_success), "last_error": error, "last_error_class": state.last_error_class,
            "consecutive_failures": state.consecutive_failures, "next_check": when(state.next_check), "interval_s": int(state.interval_s),
            "entries_seen": state.entries_seen, "moved_to": state.moved_to}


def cmd_apply_moves(args) -> int:
    """Follow permanent redirects in the catalogue: each moved feed's URL is
    rewritten in place (the rest of the file untouched) and its state is carried
    over to the new URL in Kafka first, so nothing is produced again. A running
    producer keeps the catalogue it loaded: restart it afterwards."""
    from kafka.errors import KafkaError

    from producers.state_topic import load_state

    settings = load_settings()
    path = _catalogue_path(args, settings)
    try:
        text = read_catalogue_text(path)
        feeds = parse_catalogue(text, str(path))
        store = load_state(settings, wanted={f.url for f in feeds})
        moves = {f.url: s.moved_to for f in feeds if (s := store.feeds.get(f.url)) is not None and s.moved_to and s.moved_to != f.url}
        plan = rewrite_urls(text, moves, str(path))
    except CatalogueError as exc:
        return _fail(str(exc))
    except (TimeoutError, OSError, KafkaError) as exc:
        return _fail(f"cannot read feed state from Kafka: {exc}")
    for old, new, reason in plan.skipped:
        print(f"wirewatch: not moved: {old} -> {new}: {reason}", file=sys.stderr)
    if not plan.applied:
        print(f"no feed to move in {path}" if not plan.skipped else f"nothing rewritten in {path}")
        return EXIT_REFUSED if plan.skipped else 0
    for old, new in plan.applied:
        print(f"{'would move' if args.dry_run else 'moved'} {old} -> {new}")
    if args.dry_run:
        return 0
    return asyncio.run(_apply_moves(settings, store, plan, path))


async def _apply_moves(settings: Settings, store, plan, path: Path) -> int:
    """State under the new URLs first, then the catalogue, then tombstones for the
    old URLs: a failure at any step loses no state and never re-sends everything."""
    from producers.kafka_sink import KafkaSink
    from producers.state_topic import carry_over, forget

    try:
        sink = await asyncio.to_thread(KafkaSink, settings, client_id="wirewatch-apply-moves")
    except Exception as exc:  # Kafka unreachable: one line
        return _fail(f"Kafka at {settings.kafka.bootstrap_servers}: {type(exc).__name__}: {exc}; catalogue unchanged")
    try:
        try:
            await carry_over(settings, sink, store, plan.applied)
        except Exception as exc:
            return _fail(f"feed state not carried over in Kafka, catalogue unchanged: {exc}")
        try:
            write_catalogue_text(path, plan.text)
        except OSError as exc:
            return _fail(f"{path}: cannot be written: {exc.strerror}")
        print(f"rewrote {len(plan.applied)} URL(s) in {path}; restart running producers to use them")
        try:
            await forget(settings, sink, [old for old, _ in plan.applied])
        except Exception as exc:  # harmless: states of feeds the catalogue no longer lists are ignored
            print(f"wirewatch: old feed states not removed from Kafka: {exc}", file=sys.stderr)
    finally:
        await asyncio.to_thread(sink.close, settings.kafka.request_timeout_s)
    return EXIT_REFUSED if plan.skipped else 0


# --------------------------------------------------------------------------- produce


def cmd_produce(args) -> int:
    settings = load_settings()
    try:
        feeds = shard(load_catalogue(_catalogue_path(args, settings)), args.instance, args.instances)
    except CatalogueError as exc:
        return _fail(str(exc))
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    metrics_port = settings.producer.metrics_port if args.metrics_port is None else args.metrics_port
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    return asyncio.run(_produce(settings, feeds, once=args.once))


async def _produce(settings: Settings, feeds: list[Feed], *, once: bool) -> int:
    from producers.kafka_sink import KafkaSink
    from producers.scheduler import poll_once, run_forever
    from producers.state_topic import load_state, save_dirty
    from wirewatch.kafka_admin import ensure_topics
    from wirewatch.names import Topics

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    wait = 2.0
    while True:
        try:
            await asyncio.to_thread(ensure_topics, settings.kafka, Topics.from_settings(settings.kafka))
            store = await asyncio.to_thread(load_state, settings, wanted={f.url for f in feeds})
            sink = await asyncio.to_thread(KafkaSink, settings)
            break
        except Exception as exc:  # Kafka unreachable or refusing: one line, not a traceback
            message = f"Kafka at {settings.kafka.bootstrap_servers}: {type(exc).__name__}: {exc}"
            if once or stop.is_set():
                return _fail(message)
            # A long-running producer waits for Kafka rather than exiting.
            print(f"wirewatch: {message}; retrying in {wait:.0f} s", file=sys.stderr)
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
                return 130
            except TimeoutError:
                wait = min(wait * 2, 60.0)
    try:
        if once:
            stats = await poll_once(settings, feeds, sink, store, force=True)
            await save_dirty(settings, sink, store)
            print(json.dumps(stats.as_dict()))
            return 0 if stats.failed_total < max(1, len(feeds)) else 1
        async def persist(stats, state) -> None:
            try:
                await save_dirty(settings, sink, state)
            except Exception as exc:  # Kafka trouble: states stay dirty and are saved next cycle
                print(f"wirewatch: feed state not saved yet: {exc}", file=sys.stderr)

        await run_forever(settings, feeds, sink, stop, state=store, on_cycle=persist)
        await persist(None, store)
        return 0
    finally:
        await asyncio.to_thread(sink.close, settings.kafka.request_timeout_s)  # flush on shutdown


def main(argv: list[str] | None = None) -> int:
    """`python -m producers.cli ...`: the producer's verbs without the rest of the CLI."""
    from wirewatch.logs import configure_logging
    from wirewatch.settings import ConfigError

    configure_logging()
    parser = argparse.ArgumentParser(prog="wirewatch")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
