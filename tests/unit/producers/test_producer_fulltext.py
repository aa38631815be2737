"""Full text (producers.fulltext): the summary rule, extraction, and page fetches
against a scripted HTTP server on 127.0.0.1 under the feed fetcher's safety rules
(no Kafka needed: the scheduler's use of it is in tests/integration/producers)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from producers.extract import NoMainText, main_text
from producers.fulltext import FullText, is_html, needs_full_text
from producers.isolation import BoundedExtractor, WorkerRefused
from producers.normalise import content_hash
from wirewatch.schema import Article, Source
from wirewatch.settings import ProducerSettings

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
PARAGRAPHS = [
    f"Paragraph {i} of the council story: the harbour committee met on Tuesday and voted to rebuild "
    f"the northern pier, which storms damaged twice last winter, at a cost the treasurer put at {i + 3} million."
    for i in range(8)
]
ARTICLE_PAGE = (
    "<!doctype html><html><head><title>Pier vote</title><script>var tracking = 1;</script></head><body>"
    "<nav><a href='/'>Home</a> <a href='/world'>World</a> <a href='/sport'>Sport</a></nav>"
    "<main><article><h1>Council votes to rebuild the pier</h1>"
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    + "</article></main><footer>Copyright Loopback Gazette. All rights reserved. Cookie settings.</footer></body></html>"
).encode()


def article(url: str, text: str = "The council voted on the pier.", title: str = "Council votes to rebuild the pier") -> Article:
    return Article(
        id=url[-32:].rjust(32, "0"), url=url, title=title, summary=text, text=text, content_html=f"<p>{text}</p>",
        source=Source(feed_url="http://127.0.0.1/feed"), published_at=NOW, fetched_at=NOW, content_hash=content_hash(title, text),
    )


class Pages(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        path = self.path.split("?")[0]
        self.server.hits[path] = self.server.hits.get(path, 0) + 1
        self.server.accept[path] = self.headers.get("Accept", "")
        if path.startswith("/article"):
            self.send(200, ARTICLE_PAGE)
        elif path == "/huge":
            self.send(200, b"<html><body>" + b"<p>filler text</p>" * 10_000 + b"</body></html>")
        elif path == "/pdf":
            self.send(200, b"%PDF-1.4 ...", "application/pdf")
        elif path == "/empty-page":
            self.send(200, b"<html><body></body></html>")
        elif path == "/short-page":
            self.send(200, b"<html><body><nav>Home</nav><p>Subscribe.</p></body></html>")
        elif path == "/drip":
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
        else:
            self.send(404, b"no")


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None  # clients hanging up mid-body are expected
    srv.hits, srv.accept = {}, {}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url_of(server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def complete(articles: list[Article], **settings):
    base = dict(allow_hosts=["127.0.0.1"], fetch_timeout_s=5, full_text_max_bytes=64 * 1024)
    base.update(settings)

    async def run():
        async with FullText(ProducerSettings(**base)) as full_text:
            return await full_text.complete(articles, feed_url="http://127.0.0.1/feed")

    return asyncio.run(run())


@pytest.mark.parametrize("text, wanted", [
    ("Short summary.", True),
    ("", True),
    ("x" * 1499, True),
    ("x" * 1500, False),
    ("word " * 400 + "Continue reading", True),   # 2,000 chars but cut short by the feed
    ("word " * 400 + "[…]", True),
    ("word " * 2000 + "…", False),                # long enough to be the article anyway
])
def test_summary_rule(text, wanted):
    assert needs_full_text(article("http://a.example/1", text=text), min_chars=1500) is wanted


@pytest.mark.parametrize("content_type, html", [(None, True), ("text/html; charset=utf-8", True), ("application/xhtml+xml", True),
                                                 ("application/pdf", False), ("image/jpeg", False), ("text/plain", False)])
def test_is_html(content_type, html):
    assert is_html(content_type) is html


def test_main_text_keeps_the_article_and_drops_boilerplate():
    text = main_text(ARTICLE_PAGE, url="http://a.example/pier")
    assert all(p in text for p in PARAGRAPHS)
    assert "Cookie settings" not in text and "tracking" not in text and "Sport" not in text
    assert text.count("\n\n") >= len(PARAGRAPHS) - 1  # one paragraph per block
    with pytest.raises(NoMainText):
        main_text(b"   ", url="http://a.example/")


def test_article_page_is_extracted(server):
    entry = article(url_of(server, "/article-1"))
    batch = complete([entry])
    (done,) = batch.articles
    assert batch.outcomes == {"extracted": 1}
    assert PARAGRAPHS[0] in done.text and PARAGRAPHS[-1] in done.text
    assert done.summary == entry.summary and done.content_html == entry.content_html  # the feed's own kept
    assert done.content_hash == content_hash(done.title, done.text) != entry.content_hash
    assert done.id == entry.id and entry.text == "The council voted on the pier."  # the original is not mutated
    assert server.accept["/article-1"].startswith("text/html")


def test_entry_with_enough_text_is_not_fetched(server):
    entry = article(url_of(server, "/article-long"), text="A full article text. " * 100)
    batch = complete([entry])
    assert batch.articles == [entry] and not batch.outcomes
    assert "/article-long" not in server.hits


def test_page_on_a_refused_address_is_not_fetched(server):
    entry = article(url_of(server, "/article-refused"))
    batch = complete([entry], allow_hosts=[])
    assert batch.outcomes == {"refused_address": 1} and batch.articles == [entry]
    assert "/article-refused" not in server.hits
    metadata = complete([article("http://169.254.169.254/latest/meta-data/")])
    assert metadata.outcomes == {"refused_address": 1}


def test_slow_page_hits_the_deadline(server):
    entry = article(url_of(server, "/drip"))
    batch = complete([entry], fetch_timeout_s=1.0)
    assert batch.outcomes == {"timeout": 1} and batch.articles == [entry]


def test_huge_page_hits_the_cap(server):
    entry = article(url_of(server, "/huge"))
    batch = complete([entry], full_text_max_bytes=16 * 1024)
    assert batch.outcomes == {"too_large": 1} and batch.articles == [entry]


@pytest.mark.parametrize("path, outcome", [("/pdf", "not_html"), ("/missing", "http_status"), ("/empty-page", "extract_failed"),
                                           ("/short-page", "shorter_than_feed")])
def test_unusable_pages_leave_the_entry_as_it_was(server, path, outcome):
    entry = article(url_of(server, path))
    batch = complete([entry])
    assert batch.outcomes == {outcome: 1} and batch.articles == [entry]


def test_mixed_batch_keeps_order(server):
    entries = [article(url_of(server, "/article-a")), article(url_of(server, "/pdf"), title="b"), article(url_of(server, "/article-c"), title="c")]
    batch = complete(entries)
    assert [a.url for a in batch.articles] == [e.url for e in entries]
    assert batch.extracted == 2 and batch.failed == 1
    assert batch.articles[1] is entries[1] and PARAGRAPHS[0] in batch.articles[2].text


def test_extractor_deadline_and_recovery():
    async def run():
        extractor = BoundedExtractor(timeout_s=0.000001)
        try:
            with pytest.raises(WorkerRefused, match="did not finish"):
                await extractor.extract(ARTICLE_PAGE, url="http://a.example/")
            extractor.timeout_s = 30
            assert PARAGRAPHS[0] in await extractor.extract(ARTICLE_PAGE, url="http://a.example/")
            with pytest.raises(WorkerRefused, match="no main text"):
                await extractor.extract(b"<html><body></body></html>", url="http://a.example/")
        finally:
            await extractor.aclose()

    asyncio.run(run())


def test_page_hashes_round_trip_and_follow_pruning():
    from producers.state import FeedState

    state = FeedState(url="http://a.example/feed")
    for i in range(4):
        state.remember(f"id{i}", content_hash("t", f"summary {i}"))
        state.remember_page(f"id{i}", content_hash("t", f"page {i}"))
    back = FeedState.from_json(state.to_json())
    assert back == state and back.page_known("id2", content_hash("t", "page 2"))
    assert not back.page_known("id2", content_hash("t", "summary 2")) and back.is_known("id2", content_hash("t", "summary 2"))
    back.prune({"id3"})  # keeps id3 and one other (the newest): pages of forgotten entries go too
    assert set(back.page_hashes) == set(back.seen) == {"id3", "id2"}
    legacy = json.loads(state.to_json())
    del legacy["page_hashes"]  # state written before full text existed
    assert FeedState.from_json(json.dumps(legacy)).page_hashes == {}


def test_one_feed_pages_share_a_time_budget(server):
    entries = [article(url_of(server, "/article-fast")), article(url_of(server, "/drip"), title="slow")]

    async def run():
        settings = ProducerSettings(allow_hosts=["127.0.0.1"], fetch_timeout_s=30)
        async with FullText(settings, feed_budget_s=4.0) as full_text:
            return await full_text.complete(entries, feed_url="http://127.0.0.1/feed")

    batch = asyncio.run(run())
    assert batch.outcomes == {"extracted": 1, "feed_budget_exceeded": 1}
    assert PARAGRAPHS[0] in batch.articles[0].text and batch.articles[1] is entries[1]
