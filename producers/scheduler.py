"""Polling: fetch the due feeds with bounded global and per-host concurrency,
parse them, produce new and updated entries, and advance each feed's state only
after Kafka acknowledged its entries (a crash at any point loses nothing; it may
re-send).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import structlog

from producers import metrics, schedule
from producers.catalogue import Feed
from producers.fetcher import FetchResult, Fetcher, HostLimits
from producers.fulltext import FullText
from producers.isolation import BoundedParser
from producers.kafka_sink import KafkaSink, SinkError
from producers.normalise import FeedRefused, ParsedFeed
from producers.state import FeedState, StateStore
from wirewatch.schema import Article
from wirewatch.settings import Settings

log = structlog.get_logger(__name__)

# How long run_forever sleeps at most between looks at the schedule.
MAX_IDLE_S = 5.0


@dataclass
class PollStats:
    feeds_due: int = 0
    feeds_fetched: int = 0           # answered 200 with a new body
    feeds_not_modified: int = 0      # 304
    feeds_unchanged: int = 0         # 200 with the same body as last time
    feeds_failed: Counter = field(default_factory=Counter)  # by error class
    feeds_disabled: int = 0
    articles_new: int = 0
    articles_updated: int = 0
    articles_produced: int = 0
    produce_failures: int = 0
    full_text_extracted: int = 0     # entries whose page gave the text
    full_text_failed: int = 0        # entries produced with the feed's summary instead
    feeds_moved: int = 0             # feeds that answered with a permanent redirect
    wire_bytes: int = 0
    elapsed_s: float = 0.0

    @property
    def failed_total(self) -> int:
        return sum(self.feeds_failed.values())

    def as_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k != "feeds_failed"}
        data["feeds_failed"] = dict(self.feeds_failed)
        return data


class Poller:
    """The per-feed pipeline, sharing one fetcher, parser and sink across feeds."""

    def __init__(self, settings: Settings, sink: KafkaSink, state: StateStore, fetcher: Fetcher, parser: BoundedParser,
                 rng: random.Random | None = None, full_text: FullText | None = None):
        self.settings = settings
        self.sink = sink
        self.state = state
        self.fetcher = fetcher
        self.parser = parser
        self.rng = rng or random.Random()
        self.host_limits = HostLimits(settings.producer.per_host_concurrency)
        self.full_text = full_text  # None: full-text feeds are produced with their summaries
        self._moves_logged: dict[str, str] = {}

    async def poll_feeds(self, feeds: list[Feed], stats: PollStats) -> None:
        """Poll ``feeds`` with ``concurrency`` workers: a fixed number of tasks, so
        memory does not grow with the catalogue."""
        pending = iter(_interleave_hosts(feeds))
        workers = min(self.settings.producer.concurrency, len(feeds))
        await asyncio.gather(*(self._worker(pending, stats) for _ in range(workers)))

    async def _worker(self, pending, stats: PollStats) -> None:
        for feed in pending:  # one shared iterator: each feed goes to exactly one worker
            async with self.host_limits.for_host(feed.host):
                try:
                    await self.poll_feed(feed, stats)
                except Exception:  # one feed's bug must never stop the others
                    log.exception("poll_feed_crashed", feed_url=feed.url)
                    stats.feeds_failed["internal"] += 1

    async def poll_feed(self, feed: Feed, stats: PollStats) -> None:
        state = self.state.get(feed.url)
        now = time.time()
        state.last_check = now
        result = await self.fetcher.fetch(feed.url, etag=state.etag, last_modified=state.last_modified, previous_hash=state.body_hash)
        stats.wire_bytes += result.wire_bytes
        metrics.FETCH_BYTES.inc(result.wire_bytes)
        metrics.FETCH_SECONDS.observe(result.elapsed_s)
        if not result.ok:
            self._record_failure(feed, state, result, stats, now)
            return
        if result.not_modified or result.unchanged:
            kind = "not_modified" if result.not_modified else "unchanged"
            setattr(stats, f"feeds_{kind}", getattr(stats, f"feeds_{kind}") + 1)
            metrics.FETCHES.labels(kind).inc()
            self._record_quiet_success(feed, state, result, now)
            stats.feeds_moved += bool(state.moved_to)
            return
        try:
            parsed = await self.parser.parse(
                result.body, feed_url=feed.url, fetched_at=datetime.fromtimestamp(now, timezone.utc),
                feed_name=feed.name, declared_language=feed.language, country=feed.country,
                max_entries=self.settings.producer.max_entries_per_poll,
            )
        except FeedRefused as exc:
            result.error_class, result.error = "parse", exc.reason
            self._record_failure(feed, state, result, stats, now)
            return
        stats.feeds_fetched += 1
        metrics.FETCHES.labels("fetched").inc()
        await self._produce_and_advance(feed, state, result, parsed, stats, now)

    async def _produce_and_advance(self, feed: Feed, state: FeedState, result: FetchResult, parsed: ParsedFeed, stats: PollStats, now: float) -> None:
        # ``fresh``: new or changed by the feed's own hash; ``outgoing``: what is sent
        # (for full-text feeds, with the page's text, unless that text was sent before).
        fresh = [a for a in parsed.articles if not state.is_known(a.id, a.content_hash)]
        outgoing = await self._with_full_text(feed, state, fresh, stats) if feed.full_text and fresh else fresh
        new = sum(1 for a in outgoing if a.id not in state.seen)
        started = time.monotonic()
        try:
            await self.sink.send_and_wait(outgoing, timeout=self.settings.kafka.request_timeout_s * 2)
        except SinkError as exc:
            # State stays as it was: the same entries are sent again next time.
            stats.produce_failures += 1
            log.warning("produce_failed_will_retry", feed_url=feed.url, entries=len(outgoing), error=str(exc))
            state.next_check = now + schedule.jittered(min(feed.min_interval, 60), self.rng)
            return
        if outgoing:
            metrics.PRODUCE_SECONDS.observe(time.monotonic() - started)
        metrics.ENTRIES.labels("new").inc(new)
        metrics.ENTRIES.labels("updated").inc(len(outgoing) - new)
        stats.articles_new += new
        stats.articles_updated += len(outgoing) - new
        stats.articles_produced += len(outgoing)
        for article in fresh:
            state.remember(article.id, article.content_hash)
        if feed.full_text:
            for article in outgoing:
                state.remember_page(article.id, article.content_hash)
        state.prune({a.id for a in parsed.articles})
        state.etag, state.last_modified, state.body_hash = result.etag, result.last_modified, result.body_hash
        now_dt = datetime.fromtimestamp(now, timezone.utc)
        state.interval_s = schedule.regular_interval(
            min_interval=feed.min_interval, max_interval=feed.max_interval,
            published=[a.published_at for a in parsed.articles if not a.date_flags],
            now=now_dt, ttl_s=parsed.ttl_s, update_period_s=parsed.update_period_s, max_age_s=result.max_age_s,
        )
        self._mark_success(state, result, now)
        stats.feeds_moved += bool(state.moved_to)
        if parsed.problems:
            log.info("feed_problems", feed_url=feed.url, problems=parsed.problems[:5])
        log.debug("feed_polled", feed_url=feed.url, entries=len(parsed.articles), produced=len(fresh), new=new)

    async def _with_full_text(self, feed: Feed, state: FeedState, fresh: list[Article], stats: PollStats) -> list[Article]:
        """``fresh`` with page texts (producers.fulltext), less the entries whose
        produced text did not change (only their feed summary did)."""
        if self.full_text is None:
            return fresh
        batch = await self.full_text.complete(fresh, feed_url=feed.url)
        stats.full_text_extracted += batch.extracted
        stats.full_text_failed += batch.failed
        return [a for a in batch.articles if not state.page_known(a.id, a.content_hash)]

    def _record_quiet_success(self, feed: Feed, state: FeedState, result: FetchResult, now: float) -> None:
        state.etag = result.etag or state.etag
        state.last_modified = result.last_modified or state.last_modified
        state.interval_s = schedule.after_not_modified(
            current=state.interval_s, min_interval=feed.min_interval, max_interval=feed.max_interval,
            retry_after_s=result.retry_after_s, max_age_s=result.max_age_s,
        )
        self._mark_success(state, result, now)

    def _mark_success(self, state: FeedState, result: FetchResult, now: float) -> None:
        state.last_success = now
        state.last_status = result.status
        state.consecutive_failures = 0
        state.moved_to = result.permanent_redirect
        if state.moved_to:
            self._log_move(state)
        state.next_check = now + schedule.jittered(state.interval_s, self.rng)
        self.state.mark_dirty(state.url)

    def _log_move(self, state: FeedState) -> None:
        """Warn once per process and target: the catalogue should follow the feed."""
        if self._moves_logged.get(state.url) == state.moved_to:
            return
        self._moves_logged[state.url] = state.moved_to
        log.warning("feed_moved_permanently", feed_url=state.url, moved_to=state.moved_to,
                    hint="run `wirewatch feeds apply-moves` to rewrite the catalogue")

    def _record_failure(self, feed: Feed, state: FeedState, result: FetchResult, stats: PollStats, now: float) -> None:
        error_class = result.error_class or "internal"
        stats.feeds_failed[error_class] += 1
        metrics.FETCHES.labels(error_class).inc()
        state.last_error, state.last_error_class, state.last_status = result.error, error_class, result.status
        state.consecutive_failures += 1
        if result.status == 410:
            state.disabled, state.disabled_reason = True, "410 Gone"
            stats.feeds_disabled += 1
            log.warning("feed_disabled", feed_url=feed.url, reason="410 Gone")
        delay = schedule.failure_delay(failures=state.consecutive_failures, min_interval=feed.min_interval, retry_after_s=result.retry_after_s)
        state.next_check = now + schedule.jittered(delay, self.rng)
        self.state.mark_dirty(state.url)
        log.info("feed_failed", feed_url=feed.url, error_class=error_class, error=result.error, failures=state.consecutive_failures)


def _interleave_hosts(feeds: list[Feed]) -> list[Feed]:
    """Round-robin over hosts, so that a host with many feeds does not hold every
    worker waiting on its per-host limit while other hosts sit idle."""
    by_host: dict[str, list[Feed]] = {}
    for feed in feeds:
        by_host.setdefault(feed.host, []).append(feed)
    queues = list(by_host.values())
    ordered: list[Feed] = []
    for index in range(max((len(q) for q in queues), default=0)):
        ordered.extend(q[index] for q in queues if index < len(q))
    return ordered


def due_feeds(feeds: list[Feed], state: StateStore, now: float) -> list[Feed]:
    due = []
    for feed in feeds:
        if not feed.enabled:
            continue
        feed_state = state.feeds.get(feed.url)
        if feed_state is None or (not feed_state.disabled and feed_state.next_check <= now):
            due.append(feed)
    return due


async def poll_once(settings: Settings, feeds: list[Feed], sink: KafkaSink, state: StateStore | None = None, *, force: bool = False,
                    parser: BoundedParser | None = None, full_text: FullText | None = None) -> PollStats:
    """One cycle over the due feeds (all enabled ones with ``force``). ``parser``
    and ``full_text`` are the caller's to close when given."""
    state = state if state is not None else StateStore()
    started = time.monotonic()
    now = time.time()
    due = [f for f in feeds if f.enabled and not state.get(f.url).disabled] if force else due_feeds(feeds, state, now)
    stats = PollStats(feeds_due=len(due))
    own_parser = parser is None
    parser = parser or BoundedParser.from_settings(settings.producer)
    try:
        full_text_context = contextlib.nullcontext(full_text) if full_text is not None else _full_text_for(settings, feeds)
        async with Fetcher(settings.producer) as fetcher, full_text_context as full_text:
            await Poller(settings, sink, state, fetcher, parser, full_text=full_text).poll_feeds(due, stats)
    finally:
        if own_parser:
            await parser.aclose()
    stats.elapsed_s = time.monotonic() - started
    _update_health_gauges(feeds, state)
    log.info("poll_cycle", **stats.as_dict())
    return stats


async def run_forever(settings: Settings, feeds: list[Feed], sink: KafkaSink, stop_event: asyncio.Event, state: StateStore | None = None, on_cycle=None) -> StateStore:
    """Poll feeds as they fall due until ``stop_event`` is set; flush on the way out."""
    state = state if state is not None else StateStore()
    parser = BoundedParser.from_settings(settings.producer)
    kafka_wait = 0.0
    try:
        async with Fetcher(settings.producer) as fetcher, _full_text_for(settings, feeds) as full_text:
            poller = Poller(settings, sink, state, fetcher, parser, full_text=full_text)
            while not stop_event.is_set():
                now = time.time()
                due = due_feeds(feeds, state, now)
                if due:
                    stats = PollStats(feeds_due=len(due))
                    started = time.monotonic()
                    await poller.poll_feeds(due, stats)
                    stats.elapsed_s = time.monotonic() - started
                    _update_health_gauges(feeds, state)
                    log.info("poll_cycle", **stats.as_dict())
                    if on_cycle is not None:
                        await on_cycle(stats, state)
                    kafka_wait = _kafka_backoff(stats, kafka_wait)
                if kafka_wait:
                    # Nothing is buffered while we wait: the feeds' state did not
                    # advance, so their entries are fetched and sent again later.
                    log.warning("kafka_unavailable_waiting", wait_s=kafka_wait)
                    await _wait(stop_event, kafka_wait)
                await _sleep_until_due(feeds, state, stop_event)
    finally:
        await parser.aclose()
        await asyncio.to_thread(sink.flush, settings.kafka.request_timeout_s)
    return state


MAX_KAFKA_WAIT_S = 60.0


def _full_text_for(settings: Settings, feeds: list[Feed]):
    """A FullText context when any feed wants full text, else a context giving None
    (no extra session or worker for catalogues without full-text feeds)."""
    if any(f.full_text and f.enabled for f in feeds):
        return FullText(settings.producer)
    return contextlib.nullcontext(None)


def _kafka_backoff(stats: PollStats, previous: float) -> float:
    """How long to pause polling after a cycle: doubling while Kafka refuses every
    feed's entries, zero once anything got through."""
    if stats.produce_failures and not stats.articles_produced:
        return min(MAX_KAFKA_WAIT_S, max(2.0, previous * 2))
    return 0.0


async def _wait(stop_event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop_event.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def _sleep_until_due(feeds: list[Feed], state: StateStore, stop_event: asyncio.Event) -> None:
    upcoming = [state.get(f.url).next_check for f in feeds if f.enabled and not state.get(f.url).disabled]
    delay = min([MAX_IDLE_S] + [max(0.0, t - time.time()) for t in upcoming])
    await _wait(stop_event, max(delay, 0.05))


def _update_health_gauges(feeds: list[Feed], state: StateStore) -> None:
    health = Counter()
    for feed in feeds:
        s = state.feeds.get(feed.url)
        if not feed.enabled:
            health["disabled_in_catalogue"] += 1
        elif s is None or s.last_check is None:
            health["new"] += 1
        elif s.disabled:
            health["gone"] += 1
        elif s.consecutive_failures:
            health["failing"] += 1
        else:
            health["healthy"] += 1
    for name in ("new", "healthy", "failing", "gone", "disabled_in_catalogue"):
        metrics.FEEDS_BY_HEALTH.labels(name).set(health[name])
