"""poll_once against the real local Kafka: a small feed served on 127.0.0.1 is
produced to ``topics.raw``, and its articles are read back."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kafka import KafkaConsumer

from producers.catalogue import parse_catalogue
from producers.kafka_sink import KafkaSink
from producers.scheduler import poll_once
from producers.state import StateStore
from wirewatch.schema import Article

pytestmark = pytest.mark.integration


def feed_body(version: int) -> bytes:
    items = "".join(
        f"<item><title>Story {i}</title><link>http://news.example/{i}?utm_source=rss</link>"
        f"<description>Body of story {i}{' (edited)' if version > 1 and i == 0 else ''}</description>"
        f"<pubDate>Wed, 01 May 2024 1{i}:00:00 GMT</pubDate></item>"
        for i in range(3)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Loopback News</title><language>en</language>{items}</channel></rss>'.encode()


class FeedHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        body = feed_body(self.server.version)
        etag = f'"v{self.server.version}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def feed_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    srv.daemon_threads = True
    srv.version = 1
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def read_all(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, Article]]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000)
    records = []
    try:
        for _ in range(10):  # bounded: at most ~30 s of polling
            for message in consumer:
                records.append((message.key, Article.from_json(message.value)))
            if len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


def test_poll_once_produces_new_and_updated_articles_once(settings, kafka_topics, kafka_bootstrap, feed_server):
    url = f"http://127.0.0.1:{feed_server.server_address[1]}/feed.xml"
    feeds = parse_catalogue(f"feeds:\n  - url: {url}\n    name: Loopback\n    country: gb\n")
    sink = KafkaSink(settings)
    state = StateStore()
    try:
        first = asyncio.run(poll_once(settings, feeds, sink, state))
        assert (first.feeds_fetched, first.articles_new, first.articles_produced) == (1, 3, 3)
        again = asyncio.run(poll_once(settings, feeds, sink, state, force=True))
        assert again.feeds_not_modified == 1 and again.articles_produced == 0
        feed_server.version = 2
        edited = asyncio.run(poll_once(settings, feeds, sink, state, force=True))
        assert (edited.articles_updated, edited.articles_new) == (1, 0)
    finally:
        sink.close(timeout=10)

    records = read_all(kafka_bootstrap, kafka_topics.raw, expected=4)
    assert len(records) == 4
    for key, article in records:
        assert key.decode() == article.id
        assert article.url.startswith("http://news.example/") and "utm_" not in article.url
        assert article.source.feed_title == "Loopback News" and article.source.country == "gb"
        assert article.produced_at is not None and article.language == "en"
    story0 = [a for _, a in records if a.url == "http://news.example/0"]
    assert len(story0) == 2 and story0[0].content_hash != story0[1].content_hash
    assert state.get(url).entries_seen == 3 and state.get(url).etag == '"v2"'
