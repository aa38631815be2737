"""Full text for feeds marked ``full_text: true`` (issue 3, item 8).

Which entries: an entry *only carries a summary* when its text is shorter than
``producer.full_text_min_chars`` (default 1,500 characters: feed summaries and
teasers are a few hundred, articles several thousand), or when it ends with a
truncation mark ("…", "[…]", "Read more", "Continue reading") and is shorter
than four times that. Only entries that are new or whose feed content changed
reach this module (the scheduler filters on the feed's own hash first), so an
unchanged entry's page is never fetched twice.

How: the page is fetched by a Fetcher of its own under the feed fetcher's rules
(address policy with the allow-list checked at connect time and on every
redirect hop, http/https only, at most ``max_redirects``, the total deadline
``fetch_timeout_s``) with its own size cap ``full_text_max_bytes`` and an HTML
Accept header; at most ``full_text_concurrency`` pages are in flight and at most
``per_host_concurrency`` per host. The text is extracted with trafilatura in a
child process (producers.isolation.BoundedExtractor: deadline
``full_text_extract_timeout_s`` and a memory cap). One feed's pages together get
at most ``FEED_BUDGET_S`` (a feed of 200 new entries on a dripping server would
otherwise hold its poller for half an hour); pages not done by then are given up.

Result: the extracted text replaces ``text`` when it is longer than the feed's
text (a shorter one is a paywall or an extraction miss); ``summary`` and
``content_html`` keep what the feed said; ``content_hash`` is computed again
from title + new text, so the scheduler can produce an update only when the text
really changed. Any failure leaves the entry as the feed gave it (it is produced
with its summary), is counted in ``wirewatch_producer_full_text_total`` by
outcome and logged; it is not retried until the feed's entry changes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import structlog

from producers import metrics
from producers.fetcher import PAGE_ACCEPT, Fetcher, HostLimits
from producers.isolation import BoundedExtractor, WorkerRefused
from producers.normalise import content_hash
from wirewatch.schema import Article
from wirewatch.settings import ProducerSettings

log = structlog.get_logger(__name__)

# Endings of a text the feed cut short.
_TRUNCATED = re.compile(r"(\u2026|\.\.\.|\[\s*(\u2026|\.\.\.)\s*\]|read more|continue reading|more\s*\u00bb)\W{0,3}$", re.IGNORECASE)
_HTML_TYPES = ("text/html", "application/xhtml+xml")
OUTCOME_EXTRACTED = "extracted"
OUTCOME_BUDGET = "feed_budget_exceeded"
# Most time spent on the pages of one feed's poll.
FEED_BUDGET_S = 120.0


def needs_full_text(article: Article, min_chars: int) -> bool:
    """True when the entry only carries a summary (the rule in the module docstring)."""
    text = article.text.strip()
    if len(text) < min_chars:
        return True
    return len(text) < 4 * min_chars and bool(_TRUNCATED.search(text))


def is_html(content_type: str | None) -> bool:
    """A missing Content-Type is given the benefit of the doubt."""
    if not content_type:
        return True
    return content_type.split(";", 1)[0].strip().lower() in _HTML_TYPES


def with_page_text(article: Article, text: str) -> Article:
    """The article with ``text`` from its page and the hash that goes with it."""
    return article.model_copy(update={"text": text, "content_hash": content_hash(article.title, text)})


@dataclass
class FullTextBatch:
    articles: list[Article]                               # same order as given
    outcomes: Counter = field(default_factory=Counter)    # outcome -> entries

    @property
    def extracted(self) -> int:
        return self.outcomes[OUTCOME_EXTRACTED]

    @property
    def failed(self) -> int:
        return sum(self.outcomes.values()) - self.extracted


class FullText:
    """`async with FullText(settings.producer) as ft: batch = await ft.complete(articles, feed_url=...)`."""

    def __init__(self, settings: ProducerSettings, extractor: BoundedExtractor | None = None, feed_budget_s: float = FEED_BUDGET_S):
        self.settings = settings
        self.feed_budget_s = feed_budget_s
        self.page_settings = settings.model_copy(update={"max_body_bytes": settings.full_text_max_bytes, "concurrency": settings.full_text_concurrency})
        self.extractor = extractor or BoundedExtractor.from_settings(settings)
        self._own_extractor = extractor is None
        self.fetcher = Fetcher(self.page_settings, accept=PAGE_ACCEPT)
        self.host_limits = HostLimits(settings.per_host_concurrency)
        self._slots = asyncio.Semaphore(settings.full_text_concurrency)

    async def __aenter__(self) -> "FullText":
        await self.fetcher.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.fetcher.aclose()
        if self._own_extractor:
            await self.extractor.aclose()

    async def complete(self, articles: list[Article], *, feed_url: str) -> FullTextBatch:
        """Each article with its page's text when it only carried a summary and the
        page gave a longer text; the others as they were."""
        batch = FullTextBatch(articles=list(articles))
        wanted = [i for i, a in enumerate(articles) if needs_full_text(a, self.settings.full_text_min_chars)]
        if not wanted:
            return batch
        tasks = {asyncio.create_task(self._one(articles[i], feed_url)): i for i in wanted}
        done, late = await asyncio.wait(tasks, timeout=self.feed_budget_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        for task, index in tasks.items():
            if task in done:
                batch.articles[index], outcome = task.result()
            else:
                outcome = OUTCOME_BUDGET
                metrics.FULL_TEXT.labels(outcome).inc()
            batch.outcomes[outcome] += 1
        if late:
            log.warning("full_text_budget_exceeded", feed_url=feed_url, budget_s=self.feed_budget_s, pages_given_up=len(late))
        return batch

    async def _one(self, article: Article, feed_url: str) -> tuple[Article, str]:
        host = (urlsplit(article.url).hostname or "").lower()
        async with self._slots, self.host_limits.for_host(host):
            started = time.monotonic()
            try:
                outcome, text, detail = await self._fetch_and_extract(article.url)
            except Exception as exc:  # one page's bug must never block its entry
                log.exception("full_text_crashed", feed_url=feed_url, article_url=article.url)
                outcome, text, detail = "internal", None, f"{type(exc).__name__}: {exc}"
        metrics.FULL_TEXT_SECONDS.observe(time.monotonic() - started)
        if text is not None and len(text) <= len(article.text):
            outcome, detail = "shorter_than_feed", f"page text {len(text)} chars, feed text {len(article.text)}"
            text = None
        metrics.FULL_TEXT.labels(outcome).inc()
        if text is None:
            log.info("full_text_failed", feed_url=feed_url, article_url=article.url, outcome=outcome, error=detail)
            return article, outcome
        log.debug("full_text_extracted", feed_url=feed_url, article_url=article.url, chars=len(text))
        return with_page_text(article, text), OUTCOME_EXTRACTED

    async def _fetch_and_extract(self, url: str) -> tuple[str, str | None, str | None]:
        """(outcome, text or None, failure detail)."""
        result = await self.fetcher.fetch(url)
        if not result.ok:
            return result.error_class or "internal", None, result.error
        if result.body is None:
            return "http_status", None, f"HTTP {result.status} without a body"
        content_type = result.headers.get("content-type")
        if not is_html(content_type):
            return "not_html", None, f"Content-Type {content_type[:100]!r}"
        try:
            text = await self.extractor.extract(result.body, url=result.final_url or url)
        except WorkerRefused as exc:
            return "extract_failed", None, str(exc)
        return OUTCOME_EXTRACTED, text, None
