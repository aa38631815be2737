"""Trends: what is mentioned more now than usual. Pure logic, no Faust.

Counts
    Each article adds 1 to each of its terms: its top keywords (lowercased),
    its top entities and all its topics, once per article. Terms are keyed
    `kind:term` with kind one of keyword, entity, topic. Counts live in
    tumbling windows (5 minutes and 1 hour, processors/agents/trends.py keeps
    them in Faust windowed tables); a window is `(key, (start, end))` -> count,
    the layout of a Faust windowed table, which `TumblingCounts` reproduces in
    memory for tests and tools.

Score
    The 1-hour windows of the last `baseline_hours` are the baseline. A term's
    baseline rate is its count in them before the current window, divided by
    the seconds they cover (from the oldest window's start to the current
    window's start). Its expected count in the current window is that rate
    times the seconds elapsed in the window (at least `MIN_ELAPSED_S`, so a
    window a few seconds old does not make everything look like a burst):

        expected = baseline_count / baseline_seconds * elapsed
        score    = (observed - expected) / sqrt(expected + 1)

    Counts of independent mentions are roughly Poisson, whose standard
    deviation is sqrt(mean): the score is how many deviations above its usual
    rate a term is now (a z-score). The +1 keeps it finite for terms never
    seen before (their score is their count: three new mentions score 3, a
    term at its usual rate scores about 0, a common term needs a large excess
    to rank). With no baseline yet (a fresh start), expected is 0 and the
    ranking is by count.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from processors.shards import group_by_shard, stable_shard

KINDS = ("keyword", "entity", "topic")
WINDOWS = {"5m": 300, "1h": 3600}
BASELINE_WINDOW_S = 3600
MIN_ELAPSED_S = 60.0
MAX_TERM_CHARS = 100
MAX_KEYS_PER_WINDOW = 20_000   # distinct terms counted per window; later new terms are dropped (counted)

WindowKey = tuple[str, tuple[float, float]]


@dataclass(frozen=True)
class Trend:
    kind: str
    term: str
    count: int
    expected: float
    score: float

    def as_dict(self) -> dict:
        return {"kind": self.kind, "term": self.term, "count": self.count,
                "expected": round(self.expected, 3), "score": round(self.score, 3)}


def term_key(kind: str, term: str) -> str:
    return f"{kind}:{term}"


def split_key(key: str) -> tuple[str, str]:
    kind, _, term = key.partition(":")
    return kind, term


def terms_of(phrases: Iterable, entities: Iterable, topics: Iterable, max_terms: int) -> list[str]:
    """Trend keys of one article's keyword phrases, entity texts and topic names, each once
    (items that are not text are skipped)."""
    keys: list[str] = []

    def add(kind: str, texts: Iterable, limit: int | None, fold: bool) -> None:
        taken = 0
        for text in texts:
            if limit is not None and taken >= limit:
                break
            if not isinstance(text, str) or not text.strip():
                continue
            text = " ".join(text.split())[:MAX_TERM_CHARS]
            keys.append(term_key(kind, text.lower() if fold else text))
            taken += 1

    add("keyword", phrases, max_terms, True)
    add("entity", entities, max_terms, False)
    add("topic", topics, None, False)
    return list(dict.fromkeys(keys))


def article_terms(enrichment: Mapping, max_terms: int) -> list[str]:
    """Trend keys of one article's enrichment (a dict as on the wire), each once."""

    def texts(items, field: str) -> list:
        if not isinstance(items, list):
            return []
        return [item.get(field) if isinstance(item, Mapping) else None for item in items]

    return terms_of(texts(enrichment.get("keywords"), "phrase"), texts(enrichment.get("entities"), "text"),
                    texts(enrichment.get("topics"), "name"), max_terms)


def enrichment_terms(enrichment, max_terms: int) -> list[str]:
    """Trend keys of a wirewatch.schema.Enrichment (as the enrich agent has it), each once."""
    return terms_of([k.phrase for k in enrichment.keywords], [e.text for e in enrichment.entities],
                    [t.name for t in enrichment.topics], max_terms)


MAX_CARRIED_TERMS = 500   # trend keys read from one signed article at most


def carried_terms(value: object) -> list[str]:
    """The trend keys a signed article carries (processors/agents/story.py), as read from
    the wire: only `kind:term` strings of a known kind and a bounded length are kept, once."""
    if not isinstance(value, list):
        return []
    keys = []
    for key in value[:MAX_CARRIED_TERMS]:
        if isinstance(key, str):
            kind, term = split_key(key)
            if kind in KINDS and term and len(term) <= MAX_TERM_CHARS:
                keys.append(key)
    return list(dict.fromkeys(keys))


def window_start(timestamp: float, size_s: float) -> float:
    return timestamp - timestamp % size_s


def window_range(timestamp: float, size_s: float) -> tuple[float, float]:
    """The tumbling window holding `timestamp`, as Faust writes it (end = start + size - 0.1)."""
    start = window_start(timestamp, size_s)
    return start, start + size_s - 0.1


class KeyBudget:
    """Admits at most `max_keys` distinct keys per window start; bounded itself."""

    def __init__(self, max_keys: int = MAX_KEYS_PER_WINDOW, max_windows: int = 64):
        self.max_keys, self.max_windows = max_keys, max_windows
        self.seen: dict[float, set[str]] = {}
        self.dropped = 0

    def admit(self, start: float, key: str, mentions: int = 1) -> bool:
        """Whether `key` is counted in the window at `start`; `mentions` are dropped if not."""
        keys = self._keys(start)
        if key in keys:
            return True
        if len(keys) >= self.max_keys:
            self.dropped += mentions
            return False
        keys.add(key)
        return True

    def admit_all(self, start: float, counts: Mapping[str, int]) -> Mapping[str, int]:
        """The part of `counts` (key -> mentions) counted in the window at `start`, as `admit`
        of each key in order decides; with set operations when all of it fits (nearly always)."""
        if not counts:
            return counts
        keys = self._keys(start)
        fresh = counts.keys() - keys
        if len(keys) + len(fresh) <= self.max_keys:
            keys |= fresh
            return counts
        return {key: n for key, n in counts.items() if self.admit(start, key, n)}

    def _keys(self, start: float) -> set[str]:
        keys = self.seen.get(start)
        if keys is None:
            keys = self.seen[start] = set()
            while len(self.seen) > self.max_windows:
                del self.seen[min(self.seen)]
        return keys


class TumblingCounts:
    """In-memory tumbling-window counts with expiry, laid out like a Faust windowed table."""

    def __init__(self, size_s: float, expires_s: float, clock: Callable[[], float] = time.time,
                 max_keys: int = MAX_KEYS_PER_WINDOW):
        self.size_s, self.expires_s, self.clock = size_s, expires_s, clock
        self.data: dict[WindowKey, int] = {}
        self.budget = KeyBudget(max_keys)

    def add(self, key: str, timestamp: float | None = None) -> None:
        ts = self.clock() if timestamp is None else timestamp
        rng = window_range(ts, self.size_s)
        if self.budget.admit(rng[0], key):
            self.data[(key, rng)] = self.data.get((key, rng), 0) + 1

    def expire(self) -> int:
        """Drop windows that ended more than `expires_s` ago; returns how many entries went."""
        cutoff = self.clock() - self.expires_s
        old = [k for k in self.data if k[1][1] < cutoff]
        for k in old:
            del self.data[k]
        return len(old)


TREND_SHARDS = 32   # table keys per window: one changelog message per shard touched per flush


def shard_of(key: str) -> str:
    """The table key holding a term's count."""
    return f"s{stable_shard(key, TREND_SHARDS):02d}"


def by_shard(counts: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """Increments grouped by the shard that holds each term."""
    return group_by_shard(counts, shard_of)


def shard_rows(items: Iterable[tuple[tuple[str, tuple[float, float]], object]]) -> list[tuple[WindowKey, int]]:
    """Rows of a sharded windowed table `(shard, range) -> {term: count}` as `(term, range) -> count`."""
    return [((key, rng), n) for (_shard, rng), counts in items if isinstance(counts, dict)
            for key, n in counts.items() if type(n) is int]


class PendingCounts:
    """Increments not yet written to the windowed tables.

    Every table write is one changelog message; an article has up to ~25 terms
    and two window sizes, so writing per article would send ~50 messages per
    article (measured: the worker fell to 38 articles per CPU-second). So:
    increments are summed over `FLUSH_S` and written per shard of terms
    (`by_shard`: at most TREND_SHARDS messages per window per flush, however
    many terms; one write per term still cost ~30 messages per article at
    100 articles/s); and a term is written to a window only once it
    has two mentions there. Most keywords are mentioned once and never: they
    cannot trend (a single new mention scores 1), they wait here while their
    window is current (reads add them, see `rows`) and are dropped when it
    closes, so the hourly baseline leaves out terms seen once in an hour.
    Reads lag the tables by at most FLUSH_S; the windows are minutes long.
    """

    FLUSH_S = 2.0
    MAX_PENDING_KEYS = 100_000
    MIN_COUNT_TO_WRITE = 2

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.counts: dict[tuple[str, float], dict[str, int]] = {}
        self.written: dict[tuple[str, float], set[str]] = {}
        self.keys = 0
        self.last_flush = clock()

    def add_all(self, window: str, start: float, increments: Mapping[str, int]) -> None:
        """Add key -> mentions to a window (one comprehension: a method call per key cost more than the adding)."""
        counts = self.counts.get((window, start))
        if counts is None:
            counts = self.counts[(window, start)] = {}
        before, get = len(counts), counts.get
        counts.update({key: get(key, 0) + n for key, n in increments.items()})
        self.keys += len(counts) - before

    def due(self) -> bool:
        return self.keys >= self.MAX_PENDING_KEYS or self.clock() - self.last_flush >= self.FLUSH_S

    def take(self) -> dict[tuple[str, float], dict[str, int]]:
        """The increments to write now; single mentions of the latest windows stay pending."""
        latest = {}
        for window, start in self.counts:
            latest[window] = max(start, latest.get(window, start))
        out: dict[tuple[str, float], dict[str, int]] = {}
        kept: dict[tuple[str, float], dict[str, int]] = {}
        for slot, counts in self.counts.items():
            written = self.written.setdefault(slot, set())
            current = slot[1] == latest[slot[0]]
            for key, n in counts.items():
                if n >= self.MIN_COUNT_TO_WRITE or key in written:
                    out.setdefault(slot, {})[key] = n
                    written.add(key)
                elif current:
                    kept.setdefault(slot, {})[key] = n
        # Remember what was written for the latest windows only: the older ones are closed.
        self.written = {slot: keys for slot, keys in self.written.items() if slot[1] == latest.get(slot[0])}
        self.counts, self.keys, self.last_flush = kept, sum(map(len, kept.values())), self.clock()
        if self.keys >= self.MAX_PENDING_KEYS:  # too many single mentions: forget them (bounded)
            self.counts, self.keys = {}, 0
        return out

    def rows(self, window: str, size_s: float) -> list[tuple[WindowKey, int]]:
        """The pending counts of one window size as table rows (to add to the table's own)."""
        return [((key, window_range(start, size_s)), n)
                for (name, start), counts in self.counts.items() if name == window
                for key, n in counts.items()]


def counts_in_window(items: Iterable[tuple[WindowKey, int]], start: float) -> dict[str, int]:
    """key -> count of the window starting at `start`."""
    out: dict[str, int] = {}
    for (key, (w_start, _end)), count in items:
        if w_start == start and isinstance(count, int) and count > 0:
            out[key] = out.get(key, 0) + count
    return out


def baseline_counts(items: Iterable[tuple[WindowKey, int]], now: float, hours: int) -> tuple[dict[str, int], float]:
    """Per-key totals over the 1-hour windows of the last `hours`, and the oldest window start."""
    oldest_allowed = window_start(now, BASELINE_WINDOW_S) - (hours - 1) * BASELINE_WINDOW_S
    totals: dict[str, int] = defaultdict(int)
    oldest = math.inf
    for (key, (w_start, _end)), count in items:
        if w_start < oldest_allowed or w_start > now or not isinstance(count, int):
            continue
        totals[key] += count
        oldest = min(oldest, w_start)
    return dict(totals), oldest


def trending(current: Mapping[str, int], current_start: float, now: float,
             hourly_totals: Mapping[str, int], oldest_hour_start: float,
             kind: str | None = None, limit: int = 20) -> list[Trend]:
    """Top `limit` terms of the current window by score (see the module docstring).

    `hourly_totals` include the current window's counts (they are in the
    current hour too) and are reduced by them to get the baseline.
    """
    elapsed = max(MIN_ELAPSED_S, now - current_start)
    baseline_s = max(0.0, current_start - oldest_hour_start) if math.isfinite(oldest_hour_start) else 0.0
    trends = []
    for key, observed in current.items():
        k, term = split_key(key)
        if kind is not None and k != kind:
            continue
        before = max(0, hourly_totals.get(key, 0) - observed)
        expected = before / baseline_s * elapsed if baseline_s > 0 else 0.0
        score = (observed - expected) / math.sqrt(expected + 1.0)
        trends.append(Trend(k, term, observed, expected, score))
    trends.sort(key=lambda t: (-t.score, -t.count, t.kind, t.term))
    return trends[:max(0, limit)]


def trends_report(short_items: Iterable[tuple[WindowKey, int]], hourly_items: Iterable[tuple[WindowKey, int]],
                  window: str, now: float, baseline_hours: int, kind: str | None = None, limit: int = 20) -> dict:
    """The JSON answer of /trends: window, its start, and the top trends.

    `short_items` are the 5-minute windows, `hourly_items` the 1-hour ones
    (both `(key, (start, end)) -> count` pairs)."""
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    hourly = list(hourly_items)
    size = WINDOWS[window]
    start = window_start(now, size)
    current = counts_in_window(hourly if size == BASELINE_WINDOW_S else short_items, start)
    totals, oldest = baseline_counts(hourly, now, baseline_hours)
    top = trending(current, start, now, totals, oldest, kind, limit)
    return {"window": window, "window_start": start, "now": now, "baseline_hours": baseline_hours,
            "trends": [t.as_dict() for t in top]}
