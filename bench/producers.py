"""`wirewatch bench producers`: one producer process polling simulated feeds.

A local aiohttp server (a child process) serves ``--feeds`` feeds of
``--entries`` entries each, spread over ``--hosts`` loopback addresses
(127.0.1.x, so the per-host limit behaves as with real sites). In each cycle
``--change`` of the feeds publish ``--new-per-change`` new entries; half of the
others answer 304 to the conditional GET and half ignore the validators and send
the same body again (the body hash must catch those).

The producer starts from the state it would have after a first full cycle (all
current entries seen, validators and body hashes known): building that by
polling 20,000 cold feeds would measure the first import, not the steady state.
Then it runs ``--cycles`` cycles against the real Kafka of `wirewatch stack up`
and prints, per cycle: wall time, feeds/s, entries produced/s, CPU seconds per
feed (producer + parser workers), and peak RSS. A last "burst" polls
``--burst-feeds`` never-seen feeds, where every entry is new: the rate at which
the producer gets entries acknowledged by Kafka when it has plenty to send.
With ``--full-text-feeds N``, a last pass polls N never-seen feeds marked
``full_text``: every entry's article page (about 20 KB of HTML) is fetched and
its text extracted in the extractor workers; it prints pages/s, CPU per page
and the workers' peak RSS.

Targets (issue 3, 2-core machine): cycle <= 120 s (>= 170 feeds/s), >= 1,000 new
entries/s to Kafka, < 300 MB RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

BASE_TIME = datetime(2024, 5, 1, tzinfo=timezone.utc)
FILLER = "The minister said the talks would continue next week while officials reviewed the figures. " * 3


# --------------------------------------------------------------------------- the simulated feeds


def version_of(feed: int, cycle: int, period: int) -> int:
    """How many times feed ``feed`` changed in cycles 1..cycle (it changes when (feed + c) % period == 0)."""
    return (feed + cycle) // period - feed // period


def entries_of(feed: int, version: int, entries: int, new_per_change: int) -> list[tuple[int, str, str, str]]:
    """(number, title, link path, description) of the feed's entries, newest first."""
    newest = version * new_per_change + entries - 1
    return [(j, f"Feed {feed} story {j}", f"/f/{feed}/s/{j}", f"Story {j} of feed {feed}. {FILLER}".strip()) for j in range(newest, newest - entries, -1)]


def feed_body(feed: int, version: int, host: str, entries: int, new_per_change: int) -> bytes:
    items = []
    for j, title, path, description in entries_of(feed, version, entries, new_per_change):
        date = format_datetime(BASE_TIME + timedelta(minutes=j), usegmt=True)
        items.append(f"<item><title>{title}</title><link>http://{host}{path}</link><guid>http://{host}{path}</guid>"
                     f"<description>{description}</description><pubDate>{date}</pubDate></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Simulated feed {feed}</title>'
            f"<link>http://{host}/</link><description>bench</description>{''.join(items)}</channel></rss>").encode()


def article_page(feed: int, story: int) -> bytes:
    """An article page as news sites serve them: scripts, navigation, the story, related links, a footer."""
    paragraphs = "".join(f"<p>Paragraph {k} of story {story} of feed {feed}. {FILLER}</p>" for k in range(12))
    links = "".join(f"<li><a href='/f/{feed}/s/{story - k}'>Related story {story - k}</a></li>" for k in range(1, 21))
    return (f"<!doctype html><html><head><title>Feed {feed} story {story}</title><script>{'var x = 1; ' * 400}</script></head>"
            f"<body><header><nav><a href='/'>Home</a> <a href='/world'>World</a> <a href='/business'>Business</a></nav></header>"
            f"<main><article><h1>Feed {feed} story {story}</h1>{paragraphs}</article><aside><ul>{links}</ul></aside></main>"
            f"<footer>{'Copyright, cookies, terms and the rest. ' * 20}</footer></body></html>").encode()


def host_of(feed: int, hosts: int) -> str:
    return f"127.0.1.{feed % hosts + 1}"


def serve(port: int, hosts: int, entries: int, new_per_change: int, period: int) -> None:
    """The feed server (runs in its own process)."""
    from aiohttp import web

    cycle = {"n": 0}

    async def handle_feed(request: web.Request) -> web.Response:
        feed = int(request.match_info["feed"])
        version = version_of(feed, cycle["n"], period)
        etag = f'"{feed}-{version}"'
        honours_validators = feed % 2 == 0
        if honours_validators and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        # ?pages=1: links carry the port, so that the article pages can be fetched (full-text pass).
        link_host = request.host if request.query.get("pages") else host_of(feed, hosts)
        body = feed_body(feed, version, link_host, entries, new_per_change)
        return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": etag})

    async def handle_page(request: web.Request) -> web.Response:
        page = article_page(int(request.match_info["feed"]), int(request.match_info["story"]))
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    async def set_cycle(request: web.Request) -> web.Response:
        cycle["n"] = int(request.query["n"])
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/f/{feed}.xml", handle_feed)
        app.router.add_get("/f/{feed}/s/{story}", handle_page)
        app.router.add_get("/_cycle", set_cycle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for h in range(hosts):
            await web.TCPSite(runner, f"127.0.1.{h + 1}", port).start()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# --------------------------------------------------------------------------- the producer side


def primed_state(args, port: int):
    """The producer's state after it has seen cycle 0 of every feed."""
    from producers.normalise import content_hash
    from producers.state import FeedState, StateStore
    from producers.text import canonical_url
    from wirewatch.schema import article_id

    store = StateStore()
    for feed in range(args.feeds):
        host = host_of(feed, args.hosts)
        url = f"http://{host}:{port}/f/{feed}.xml"
        state = FeedState(url=url, etag=f'"{feed}-0"', body_hash=hashlib.sha256(feed_body(feed, 0, host, args.entries, args.new_per_change)).hexdigest()[:32])
        for _, title, path, desc in reversed(entries_of(feed, 0, args.entries, args.new_per_change)):
            state.remember(article_id(canonical_url(f"http://{host}{path}")), content_hash(title, desc))
        store.feeds[url] = state
    return store


def check_priming(args, port: int, store) -> None:
    """The primed hashes must be what parse_feed computes, or every entry would look updated."""
    from producers.normalise import parse_feed

    host = host_of(0, args.hosts)
    url = f"http://{host}:{port}/f/0.xml"
    parsed = parse_feed(feed_body(0, 0, host, args.entries, args.new_per_change), feed_url=url, fetched_at=datetime.now(timezone.utc))
    state = store.feeds[url]
    if len(parsed.articles) != len(state.seen) or not all(state.is_known(a.id, a.content_hash) for a in parsed.articles):
        raise SystemExit("bench bug: primed state does not match parse_feed's ids/hashes")


def start_server(args) -> tuple[subprocess.Popen, int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "bench.producers", "--serve", "--port", str(port), "--hosts", str(args.hosts),
           "--entries", str(args.entries), "--new-per-change", str(args.new_per_change), "--change", str(args.change)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise SystemExit(f"feed server did not start: {line!r}")
    return proc, port


def set_server_cycle(port: int, cycle: int) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_cycle?n={cycle}", timeout=10) as response:  # noqa: S310 - loopback
        response.read()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run_cycles(args, settings, feeds, store, port: int) -> list[dict]:
    from producers.isolation import BoundedParser
    from producers.kafka_sink import KafkaSink
    from producers.scheduler import poll_once

    sink = KafkaSink(settings)
    results = []
    try:
        for cycle in range(1, args.cycles + 1):
            set_server_cycle(port, cycle)
            cpu0, child0, wall0 = time.process_time(), children_cpu(), time.monotonic()
            parser = BoundedParser(workers=args.parsers) if args.parsers else BoundedParser()
            try:
                stats = await poll_once(settings, feeds, sink, store, force=True, parser=parser)
                workers_rss = parser.peak_rss_bytes() / 2**20
            finally:
                await parser.aclose()  # reaped: its CPU shows in RUSAGE_CHILDREN
            wall = time.monotonic() - wall0
            cpu = (time.process_time() - cpu0) + (children_cpu() - child0)
            self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            results.append({"cycle": cycle, "wall_s": wall, "stats": stats, "cpu_s": cpu, "rss_mb": self_rss + workers_rss})
            print(f"cycle {cycle}: {len(feeds)} feeds in {wall:.1f} s = {len(feeds) / wall:.0f} feeds/s; "
                  f"fetched {stats.feeds_fetched}, not modified {stats.feeds_not_modified}, unchanged {stats.feeds_unchanged}, "
                  f"failed {dict(stats.feeds_failed)}; produced {stats.articles_produced} entries = {stats.articles_produced / wall:.0f} entries/s; "
                  f"CPU {cpu:.1f} s = {cpu / len(feeds) * 1000:.2f} ms/feed; peak RSS {self_rss:.0f} MB producer + {workers_rss:.0f} MB parser workers", flush=True)
        if args.burst_feeds:
            results.append(await burst(args, settings, sink, port))
        if args.full_text_feeds:
            results.append(await full_text_pass(args, settings, sink, port))
    finally:
        sink.close(timeout=30)
    return results


async def burst(args, settings, sink, port: int) -> dict:
    """Feeds never seen before (every entry is new): the produce rate when there
    is a lot to send, which the steady cycles above do not reach."""
    from producers.catalogue import Feed
    from producers.isolation import BoundedParser
    from producers.scheduler import poll_once
    from producers.state import StateStore

    first = args.feeds  # numbers after the steady feeds: no primed state
    feeds = [Feed(url=f"http://{host_of(i, args.hosts)}:{port}/f/{i}.xml") for i in range(first, first + args.burst_feeds)]
    cpu0, child0, wall0 = time.process_time(), children_cpu(), time.monotonic()
    parser = BoundedParser(workers=args.parsers) if args.parsers else BoundedParser()
    try:
        stats = await poll_once(settings, feeds, sink, StateStore(), force=True, parser=parser)
    finally:
        await parser.aclose()
    wall = time.monotonic() - wall0
    cpu = (time.process_time() - cpu0) + (children_cpu() - child0)
    print(f"burst: {len(feeds)} new feeds in {wall:.1f} s; produced {stats.articles_produced} entries = "
          f"{stats.articles_produced / wall:.0f} new entries/s to Kafka (acknowledged); CPU {cpu:.1f} s", flush=True)
    return {"cycle": "burst", "wall_s": wall, "stats": stats, "cpu_s": cpu}


async def full_text_pass(args, settings, sink, port: int) -> dict:
    """Never-seen full-text feeds: every entry's page is fetched and extracted."""
    from producers.catalogue import Feed
    from producers.fulltext import FullText
    from producers.scheduler import poll_once
    from producers.state import StateStore

    first = args.feeds + args.burst_feeds
    feeds = [Feed(url=f"http://{host_of(i, args.hosts)}:{port}/f/{i}.xml?pages=1", full_text=True) for i in range(first, first + args.full_text_feeds)]
    cpu0, child0, wall0 = time.process_time(), children_cpu(), time.monotonic()
    async with FullText(settings.producer) as full_text:
        stats = await poll_once(settings, feeds, sink, StateStore(), force=True, full_text=full_text)
        workers_rss = full_text.extractor.peak_rss_bytes() / 2**20
    wall = time.monotonic() - wall0
    cpu = (time.process_time() - cpu0) + (children_cpu() - child0)
    pages = stats.full_text_extracted + stats.full_text_failed
    print(f"full text: {len(feeds)} new full-text feeds, {pages} pages ({stats.full_text_extracted} extracted, {stats.full_text_failed} failed) "
          f"in {wall:.1f} s = {pages / wall:.1f} pages/s (full_text_concurrency {settings.producer.full_text_concurrency}); "
          f"CPU {cpu:.1f} s = {cpu / max(pages, 1) * 1000:.0f} ms/page; extractor workers' peak RSS {workers_rss:.0f} MB", flush=True)
    return {"cycle": "full_text", "wall_s": wall, "stats": stats, "cpu_s": cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wirewatch bench producers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=20_000)
    parser.add_argument("--entries", type=int, default=30)
    parser.add_argument("--change", type=float, default=0.10, help="fraction of feeds that change per cycle")
    parser.add_argument("--new-per-change", type=int, default=10, help="new entries in a feed that changes")
    parser.add_argument("--hosts", type=int, default=100, help="loopback addresses the feeds are spread over")
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=None, help="default: settings producer.concurrency")
    parser.add_argument("--parsers", type=int, default=None, help="parser worker processes (default: one per core, at most 4)")
    parser.add_argument("--burst-feeds", type=int, default=1000, help="then poll this many never-seen feeds (0: skip)")
    parser.add_argument("--full-text-feeds", type=int, default=20, help="then poll this many never-seen full-text feeds, fetching every page (0: skip)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    period = max(1, round(1 / args.change)) if args.change > 0 else 10**9
    if args.serve:
        serve(args.port, args.hosts, args.entries, args.new_per_change, period)
        return 0

    from producers.catalogue import Feed
    from wirewatch.logs import configure_logging
    from wirewatch.kafka_admin import delete_topics, ensure_topics
    from wirewatch.names import Topics
    from wirewatch.settings import load_settings

    configure_logging()
    settings = load_settings()
    settings.kafka.topic_prefix = f"bench-{uuid.uuid4().hex[:8]}."
    settings.producer.allow_hosts = ["127.0.0.0/8"]
    if args.concurrency:
        settings.producer.concurrency = args.concurrency
    topics = Topics.from_settings(settings.kafka)
    ensure_topics(settings.kafka, topics)
    server, port = start_server(args)
    try:
        feeds = [Feed(url=f"http://{host_of(i, args.hosts)}:{port}/f/{i}.xml", name=f"bench {i}") for i in range(args.feeds)]
        prime0 = time.monotonic()
        store = primed_state(args, port)
        check_priming(args, port, store)
        print(f"{args.feeds} feeds x {args.entries} entries on {args.hosts} loopback hosts, {args.change:.0%} change per cycle "
              f"({args.new_per_change} new entries each); concurrency {settings.producer.concurrency}, per host "
              f"{settings.producer.per_host_concurrency}; state primed in {time.monotonic() - prime0:.1f} s; topic {topics.raw}", flush=True)
        results = asyncio.run(run_cycles(args, settings, feeds, store, port))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)
    steady = [r for r in results if isinstance(r["cycle"], int)]
    last = steady[-1]
    bursts = [r for r in results if r["cycle"] == "burst"]
    if bursts:
        print(f"summary: burst {bursts[0]['stats'].articles_produced / bursts[0]['wall_s']:.0f} new entries/s to Kafka")
    for full in (r for r in results if r["cycle"] == "full_text"):
        pages = full["stats"].full_text_extracted + full["stats"].full_text_failed
        print(f"summary: full text {pages / full['wall_s']:.1f} pages/s, {full['cpu_s'] / max(pages, 1) * 1000:.0f} ms CPU/page")
    print(f"summary: last cycle {last['wall_s']:.1f} s ({args.feeds / last['wall_s']:.0f} feeds/s), "
          f"{last['stats'].articles_produced / last['wall_s']:.0f} new entries/s over the cycle, "
          f"CPU {last['cpu_s'] / args.feeds * 1000:.2f} ms/feed; peak RSS {max(r['rss_mb'] for r in steady):.0f} MB (producer + parser workers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
