"""Trends agent: counts each article's keywords, entities and topics in 5-minute
and 1-hour tumbling windows (Faust windowed tables, with expiry), and serves
the trending terms at GET /trends on the worker's web server.

It reads `articles.signed`, like the story agent: every article once, on the
one partition of the constant key, so the counts of a term are all in one
place and one worker answers for all of them (no scatter-gather). It reads
only each signed article's head, where the enrich agent put its trend terms.
The scoring is pure logic in processors/trends.py. A worker that does not
hold that partition answers 503 with the address of the one that does.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import faust
import structlog

from processors.agents.story import SIGNED_KEY, signed_terms, signed_topic, split_signed
from processors.context import WorkerContext
from processors.shards import merged_counts
from processors.trends import (KINDS, WINDOWS, KeyBudget, PendingCounts, by_shard, carried_terms, shard_rows,
                               trends_report, window_start)

log = structlog.get_logger(__name__)

SHORT_EXPIRES = timedelta(hours=1)
MAX_LIMIT = 500


def query_params(query) -> tuple[str, str | None, int]:
    """window, kind, limit from the request's query string; ValueError naming the bad one."""
    window = query.get("window", "5m")
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    kind = query.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    raw_limit = query.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return window, kind, int(raw_limit)


def register(app: faust.App, ctx: WorkerContext) -> None:
    proc, partitions = ctx.settings.processor, ctx.settings.kafka.partitions
    # Keyed by shard of terms, valued {term: count} (see PendingCounts: one message per shard, not per term).
    short = app.Table("trends-5m-sharded", default=dict, key_type=str, value_type=None, partitions=partitions) \
        .tumbling(WINDOWS["5m"], expires=SHORT_EXPIRES)
    hourly = app.Table("trends-1h-sharded", default=dict, key_type=str, value_type=None, partitions=partitions) \
        .tumbling(WINDOWS["1h"], expires=timedelta(hours=proc.trends_baseline_hours + 1))
    budgets = {"5m": KeyBudget(), "1h": KeyBudget()}
    tables = {"5m": short, "1h": hourly}
    signed = signed_topic(app, ctx)
    pending = PendingCounts()

    def count(mentions: Counter, timestamp: float) -> None:
        """Adds the mentions of a message's articles (one timestamp: summed first)."""
        for name, size in WINDOWS.items():
            start = window_start(timestamp, size)
            admitted = budgets[name].admit_all(start, mentions)
            if admitted:
                pending.add_all(name, start, admitted)

    def mentions_in(value: bytes) -> Counter:
        """Each trend key of the message's articles, with how many of them have it."""
        mentions: Counter = Counter()
        for line in split_signed(value):
            try:
                mentions.update(carried_terms(signed_terms(line, proc.trends_max_terms)))
            except Exception as exc:  # noqa: BLE001 - never escape an agent (failures.py)
                # The story agent reads the same message and dead-letters a malformed one;
                # a second dead letter would only double it. Counts are statistics: skip.
                log.warning("trends_count_failed", error=f"{type(exc).__name__}: {exc}")
        return mentions

    def flush() -> None:
        """Write the pending increments, each into the window it was counted in (inside an event)."""
        for (name, start), counts in pending.take().items():
            window = tables[name].relative_to(start + 1.0)
            for shard, increments in by_shard(counts).items():
                window[shard] = merged_counts(window[shard].value(), increments)

    @app.agent(signed, name=f"{proc.app_id}.trends")
    async def trends_agent(stream):
        async for event in stream.events():
            count(mentions_in(event.value), event.message.timestamp)
            if pending.due():
                flush()

    def holds_trends() -> tuple[bool, str]:
        """Whether this worker holds the partition of the counts, and who does."""
        try:
            # The changelog partitions of the counts follow the partition of the constant key.
            owner = app.assignor.key_store(hourly.table.changelog_topic.get_topic_name(), SIGNED_KEY)
        except Exception as exc:  # noqa: BLE001 - no assignment yet (starting, rebalancing)
            return False, f"unknown ({type(exc).__name__}: the worker may be starting or rebalancing)"
        here = app.conf.canonical_url
        return (owner.host, owner.port) == (here.host, here.port), str(owner)

    @app.page("/trends")
    async def trends_page(web, request):
        try:
            window, kind, limit = query_params(request.query)
        except ValueError as exc:
            return web.json({"error": str(exc)}, status=400)
        active, owner = holds_trends()
        if not active:
            return web.json({"error": f"this worker does not hold the trend counts; the worker at {owner} does"},
                            status=503)
        rows = {name: shard_rows(table.table.data.items()) + pending.rows(name, WINDOWS[name])
                for name, table in tables.items()}
        report = trends_report(rows["5m"], rows["1h"], window, time.time(), proc.trends_baseline_hours, kind, limit)
        report["dropped_terms"] = budgets["5m"].dropped + budgets["1h"].dropped
        return web.json(report)
