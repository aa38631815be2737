"""The fetcher against a scripted HTTP server on 127.0.0.1 (no Kafka needed)."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from producers.fetcher import Fetcher, parse_max_age, parse_retry_after
from wirewatch.settings import ProducerSettings

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>x</title><link>http://a.example/1</link></item></channel></rss>'


class Scripted(BaseHTTPRequestHandler):
    """Each path is a scenario; ``server.hits`` counts requests per path."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's name
        path = self.path.split("?")[0]
        hits = self.server.hits
        hits[path] = hits.get(path, 0) + 1
        self.server.seen_headers[path] = dict(self.headers)
        handler = getattr(self, "scenario_" + path.strip("/").replace("-", "_"), None)
        if handler is None:
            self.send(404)
        else:
            handler(hits[path])

    def scenario_etag(self, n):
        if self.headers.get("If-None-Match") == '"v1"':
            self.send(304, headers={"ETag": '"v1"'})
        else:
            self.send(200, FEED, {"ETag": '"v1"', "Cache-Control": "public, max-age=600"})

    def scenario_lastmod(self, n):
        stamp = "Wed, 01 May 2024 10:00:00 GMT"
        if self.headers.get("If-Modified-Since") == stamp:
            self.send(304)
        else:
            self.send(200, FEED, {"Last-Modified": stamp})

    def scenario_changing_validators(self, n):
        # Same body, new ETag each time: the body hash must see through it.
        self.send(200, FEED, {"ETag": f'"{n}"'})

    def scenario_r3(self, n):
        self.send(301, headers={"Location": "/r2"})

    def scenario_r2(self, n):
        self.send(302, headers={"Location": f"http://127.0.0.1:{self.server.server_address[1]}/r1"})

    def scenario_r1(self, n):
        self.send(308, headers={"Location": "/etag"})

    def scenario_loop(self, n):
        self.send(302, headers={"Location": "/loop"})

    def scenario_to_metadata(self, n):
        self.send(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    def scenario_to_decimal_loopback(self, n):
        self.send(302, headers={"Location": "http://2130706433/etag"})

    def scenario_to_file(self, n):
        self.send(302, headers={"Location": "file:///etc/passwd"})

    def scenario_gzip(self, n):
        self.send(200, gzip.compress(FEED), {"Content-Encoding": "gzip"})

    def scenario_deflate(self, n):
        self.send(200, zlib.compress(FEED), {"Content-Encoding": "deflate"})

    def scenario_gzip_bomb(self, n):
        self.send(200, self.server.bomb, {"Content-Encoding": "gzip"})

    def scenario_big(self, n):
        self.send(200, b"x" * (300 * 1024))

    def scenario_big_chunked(self, n):
        # No Content-Length: the cap must hold while streaming.
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"y" * 65536
        try:
            for _ in range(20):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    def scenario_drip(self, n):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"<")
                self.wfile.flush()
                time.sleep(0.3)
        except OSError:
            pass

    def scenario_busy(self, n):
        self.send(429, b"slow down", {"Retry-After": "120"})

    def scenario_gone(self, n):
        self.send(410)

    def scenario_flaky(self, n):
        if n <= 2:
            self.send(500, b"oops")
        else:
            self.send(200, FEED)


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None  # clients hanging up mid-body are expected here
    srv.hits, srv.seen_headers = {}, {}
    srv.bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def fetch(server, path, settings=None, **kwargs):
    settings = settings or ProducerSettings(allow_hosts=["127.0.0.1"], max_body_bytes=100 * 1024, fetch_timeout_s=5, user_agent="Wirewatch-test/1 (+http://contact.example)")

    async def run():
        async with Fetcher(settings) as fetcher:
            return await fetcher.fetch(f"http://127.0.0.1:{server.server_address[1]}{path}", **kwargs)

    return asyncio.run(run())


def test_etag_then_304(server):
    first = fetch(server, "/etag")
    assert first.ok and first.status == 200 and first.body == FEED and first.etag == '"v1"'
    assert first.max_age_s == 600
    assert server.seen_headers["/etag"]["User-Agent"].startswith("Wirewatch-test")
    second = fetch(server, "/etag", etag=first.etag, previous_hash=first.body_hash)
    assert second.ok and second.not_modified and second.body is None


def test_last_modified_then_304(server):
    first = fetch(server, "/lastmod")
    second = fetch(server, "/lastmod", last_modified=first.last_modified)
    assert second.not_modified


def test_unchanged_body_with_changing_validators(server):
    first = fetch(server, "/changing-validators")
    second = fetch(server, "/changing-validators", etag=first.etag, previous_hash=first.body_hash)
    assert second.ok and second.unchanged and second.body is None and second.etag != first.etag


def test_redirect_chain_is_followed_and_permanence_tracked(server):
    result = fetch(server, "/r3")
    assert result.ok and result.body == FEED
    assert result.final_url.endswith("/etag")
    assert result.permanent_redirect is None  # one hop was a 302


def test_too_many_redirects(server):
    result = fetch(server, "/loop")
    assert result.error_class == "http_status" and "redirects" in result.error


@pytest.mark.parametrize("path", ["/to-metadata", "/to-file"])
def test_redirect_to_refused_address(server, path):
    result = fetch(server, path)
    assert result.error_class == "refused_address"


def test_loopback_refused_unless_allowed(server):
    result = fetch(server, "/etag", settings=ProducerSettings(allow_hosts=[]))
    assert result.error_class == "refused_address" and "loopback" in result.error
    assert "/etag" not in server.hits or server.hits["/etag"] >= 1  # never reached is fine too


def test_decimal_loopback_redirect_is_checked_too(server):
    result = fetch(server, "/to-decimal-loopback", settings=ProducerSettings(allow_hosts=["localhost"]))
    assert result.error_class == "refused_address"


@pytest.mark.parametrize("path", ["/gzip", "/deflate"])
def test_compressed_bodies_are_decoded(server, path):
    result = fetch(server, path)
    assert result.ok and result.body == FEED


def test_gzip_bomb_stops_at_the_cap(server):
    result = fetch(server, "/gzip-bomb")
    assert result.error_class == "too_large"
    assert result.wire_bytes <= len(server.bomb)


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_oversized_body(server, path):
    result = fetch(server, path)
    assert result.error_class == "too_large" and result.body is None


def test_dripping_server_hits_the_total_deadline(server):
    settings = ProducerSettings(allow_hosts=["127.0.0.1"], fetch_timeout_s=1.0)
    result = fetch(server, "/drip", settings=settings)
    assert result.error_class == "timeout"
    # Per-read timeouts would never fire here (a byte every 0.3 s); the total one does.
    assert result.elapsed_s < 10


def test_429_with_retry_after(server):
    result = fetch(server, "/busy")
    assert result.error_class == "http_status" and result.status == 429 and result.retry_after_s == 120


def test_410_and_500(server):
    assert fetch(server, "/gone").status == 410
    assert fetch(server, "/flaky").error_class == "http_status"


def test_connection_refused_is_a_connect_error():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def run():
        async with Fetcher(ProducerSettings(allow_hosts=["127.0.0.1"], fetch_timeout_s=5)) as fetcher:
            return await fetcher.fetch(f"http://127.0.0.1:{port}/")

    assert asyncio.run(run()).error_class == "connect"


def test_header_parsers():
    assert parse_max_age("public, max-age=300") == 300
    assert parse_max_age("no-cache") == 0
    assert parse_max_age(None) is None
    assert parse_retry_after("30") == 30
    assert parse_retry_after("garbage") is None
    from datetime import datetime, timezone

    now = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Wed, 01 May 2024 10:02:00 GMT", now=now) == 120
    assert parse_retry_after("99999999999") == 7 * 86400


def test_names_are_checked_at_connect_time(server):
    port = server.server_address[1]

    async def run(settings):
        async with Fetcher(settings) as fetcher:
            return await fetcher.fetch(f"http://localhost:{port}/etag")

    refused = asyncio.run(run(ProducerSettings(allow_hosts=[])))
    assert refused.error_class == "refused_address" and "localhost" in refused.error
    allowed = asyncio.run(run(ProducerSettings(allow_hosts=["127.0.0.1"])))
    assert allowed.ok and allowed.body == FEED
