"""Full text and moved feeds through the real polling loop and the real Kafka:
article pages served on 127.0.0.1 are fetched only for full-text feeds, their
text is produced and re-produced only when it really changed; a feed behind a
301 is logged, shown by `feeds status` and followed by `feeds apply-moves`."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kafka import KafkaConsumer

from producers.catalogue import parse_catalogue
from producers.cli import register
from producers.kafka_sink import KafkaSink
from producers.scheduler import poll_once
from producers.state import StateStore
from producers.state_topic import load_state, save_dirty
from wirewatch.schema import Article

pytestmark = pytest.mark.integration


def page(version: int) -> bytes:
    paragraphs = "".join(
        f"<p>Paragraph {i}, version {version}: the harbour committee voted to rebuild the northern pier, which the winter "
        f"storms damaged twice, and the treasurer put the cost at {i + 3} million over three years.</p>"
        for i in range(8)
    )
    return f"<html><body><nav>Home | World | Sport</nav><article><h1>Pier</h1>{paragraphs}</article><footer>Cookies</footer></body></html>".encode()


def rss(base: str, items: list[tuple[str, str]]) -> bytes:
    body = "".join(f"<item><title>{path}</title><link>{base}{path}</link><description>{summary}</description></item>" for path, summary in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Loopback</title>{body}</channel></rss>'.encode()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        srv = self.server
        path = self.path.split("?")[0]
        srv.hits[path] = srv.hits.get(path, 0) + 1
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        if path == "/full.xml":
            self.reply(200, rss(base, [("/page/a", f"Summary of a, take {srv.summary_version}."), ("/page/missing", "Summary of the missing page.")]))
        elif path == "/plain.xml":
            self.reply(200, rss(base, [("/page/plain", "Summary of the plain feed's story.")]))
        elif path == "/page/a" or path == "/page/plain":
            self.reply(200, page(srv.page_version), {"Content-Type": "text/html; charset=utf-8"})
        elif path == "/old.xml":
            self.reply(301, headers={"Location": "/new.xml"})
        elif path == "/new.xml":
            self.reply(200, rss(base, [("/story/1", "One."), ("/story/2", "Two.")]))
        else:
            self.reply(404)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.hits, srv.summary_version, srv.page_version = {}, 1, 1
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def consume(bootstrap: str, topic: str, expected: int) -> list[Article]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000)
    out: list[Article] = []
    try:
        for _ in range(10):
            out += [Article.from_json(message.value) for message in consumer]
            if len(out) >= expected:
                break
    finally:
        consumer.close()
    return out


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_full_text_only_for_full_text_feeds_and_only_when_the_text_changed(settings, kafka_topics, kafka_bootstrap, server):
    base = f"http://127.0.0.1:{server.server_address[1]}"
    feeds = parse_catalogue(f"feeds:\n  - url: {base}/full.xml\n    full_text: true\n  - url: {base}/plain.xml\n")
    sink = KafkaSink(settings)
    state = StateStore()
    try:
        first = asyncio.run(poll_once(settings, feeds, sink, state))
        assert first.articles_new == 3 and (first.full_text_extracted, first.full_text_failed) == (1, 1)
        # Only the feed's summary changes: the page is fetched again, its text is the same: nothing produced.
        server.summary_version = 2
        second = asyncio.run(poll_once(settings, feeds, sink, state, force=True))
        assert second.full_text_extracted == 1 and second.articles_produced == 0
        # The page changes too: one update.
        server.summary_version, server.page_version = 3, 2
        third = asyncio.run(poll_once(settings, feeds, sink, state, force=True))
        assert (third.articles_new, third.articles_updated) == (0, 1)
    finally:
        sink.close(timeout=10)
    assert server.hits["/page/a"] == 3 and server.hits["/page/missing"] == 1
    assert "/page/plain" not in server.hits  # not a full-text feed: its page is never fetched

    articles = consume(kafka_bootstrap, kafka_topics.raw, expected=4)
    by_url: dict[str, list[Article]] = {}
    for article in articles:
        by_url.setdefault(article.url, []).append(article)
    story_a = by_url[f"{base}/page/a"]
    assert len(story_a) == 2 and story_a[0].content_hash != story_a[1].content_hash
    assert "version 1" in story_a[0].text and "version 2" in story_a[1].text and "Cookies" not in story_a[0].text
    assert story_a[0].summary == "Summary of a, take 1." and story_a[0].content_html == "Summary of a, take 1."  # the feed's own kept
    (missing,) = by_url[f"{base}/page/missing"]
    assert missing.text == missing.summary == "Summary of the missing page."  # failure: produced with its summary
    (plain,) = by_url[f"{base}/page/plain"]
    assert plain.text == "Summary of the plain feed's story."


def test_moved_feed_is_logged_shown_and_applied(settings, kafka_topics, server, tmp_path, monkeypatch, capsys):
    base = f"http://127.0.0.1:{server.server_address[1]}"
    catalogue = tmp_path / "feeds.yaml"
    text = f"# newsroom feeds\nfeeds:\n  - url: {base}/old.xml   # moves\n    name: Mover\n    tags: [x]\n  - url: {base}/plain.xml\n"
    catalogue.write_text(text)
    feeds = parse_catalogue(text)
    sink = KafkaSink(settings)
    state = StateStore()
    try:
        capsys.readouterr()
        stats = asyncio.run(poll_once(settings, feeds, sink, state))
        assert stats.feeds_moved == 1 and state.get(f"{base}/old.xml").moved_to == f"{base}/new.xml"
        assert "feed_moved_permanently" in capsys.readouterr().err
        asyncio.run(save_dirty(settings, sink, state))
    finally:
        sink.close(timeout=10)

    monkeypatch.setenv("WIREWATCH_KAFKA_TOPIC_PREFIX", settings.kafka.topic_prefix)
    monkeypatch.setenv("WIREWATCH_PRODUCER_ALLOW_HOSTS", '["127.0.0.1"]')
    assert cli(["feeds", "status", "--json", "--file", str(catalogue)]) == 0
    rows = {row["url"]: row for row in map(json.loads, (l for l in capsys.readouterr().out.splitlines() if l.startswith('{"url"')))}
    assert rows[f"{base}/old.xml"]["moved_to"] == f"{base}/new.xml" and rows[f"{base}/plain.xml"]["moved_to"] is None
    assert cli(["feeds", "status", "--file", str(catalogue)]) == 0
    assert f"{base}/old.xml -> {base}/new.xml" in capsys.readouterr().out

    assert cli(["feeds", "apply-moves", "--dry-run", "--file", str(catalogue)]) == 0
    assert catalogue.read_text() == text
    assert cli(["feeds", "apply-moves", "--file", str(catalogue)]) == 0
    assert catalogue.read_text() == text.replace("/old.xml", "/new.xml")  # comments, order and other keys kept

    moved = parse_catalogue(catalogue.read_text())
    restored = load_state(settings, wanted={f.url for f in moved} | {f"{base}/old.xml"})
    assert f"{base}/old.xml" not in restored.feeds  # tombstoned
    carried = restored.feeds[f"{base}/new.xml"]
    assert carried.moved_to is None and carried.seen == state.get(f"{base}/old.xml").seen
    # The state came along: polling the new URL produces nothing again.
    sink = KafkaSink(settings)
    try:
        again = asyncio.run(poll_once(settings, moved, sink, restored, force=True))
    finally:
        sink.close(timeout=10)
    assert again.articles_produced == 0 and again.feeds_moved == 0
    assert cli(["feeds", "apply-moves", "--file", str(catalogue)]) == 0
    assert "no feed to move" in capsys.readouterr().out
