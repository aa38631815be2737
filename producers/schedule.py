"""When to check a feed next: pure functions, no I/O.

Regular interval (after a success):
1. from the observed publishing rate: the average gap between the feed's recent
   entries (the 10 newest, last 7 days), halved so a new entry waits on average
   a quarter of the gap; no recent entries -> the feed's max interval;
2. never below what the feed asks for: <ttl>, sy:updatePeriod/updateFrequency,
   Cache-Control max-age;
3. clamped to the feed's [min_interval, max_interval] (defaults 5 min, 6 h);
4. +-10% jitter so thousands of feeds do not fall due in the same second.

After a failure: min_interval * 2^(failures-1), capped at BACKOFF_CAP_S (12 h)
but never below Retry-After. 410 Gone disables a feed; nothing else does.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

BACKOFF_CAP_S = 12 * 3600
JITTER = 0.10
RATE_WINDOW = timedelta(days=7)
RATE_ENTRIES = 10


def observed_interval(published: list[datetime], now: datetime) -> float | None:
    """Half the average gap between the newest recent entries, or None when the
    feed published nothing recently."""
    recent = sorted((p for p in published if now - RATE_WINDOW <= p <= now), reverse=True)[:RATE_ENTRIES]
    if len(recent) < 2:
        return None
    span = (recent[0] - recent[-1]).total_seconds()
    # The newest entry's age counts too: a feed that stopped publishing slows down.
    span = max(span, (now - recent[0]).total_seconds())
    return max(span / (len(recent) - 1) / 2, 1.0)


def regular_interval(
    *,
    min_interval: float,
    max_interval: float,
    published: list[datetime],
    now: datetime,
    ttl_s: float | None = None,
    update_period_s: float | None = None,
    max_age_s: float | None = None,
) -> float:
    interval = observed_interval(published, now)
    if interval is None:
        interval = max_interval
    for floor in (ttl_s, update_period_s, max_age_s):
        if floor:
            interval = max(interval, floor)
    return clamp(interval, min_interval, max_interval)


def failure_delay(*, failures: int, min_interval: float, retry_after_s: float | None = None) -> float:
    delay = min(min_interval * (2 ** max(0, min(failures, 30) - 1)), BACKOFF_CAP_S)
    if retry_after_s:
        delay = max(delay, min(retry_after_s, 7 * 86400))
    return delay


def after_not_modified(*, current: float, min_interval: float, max_interval: float, retry_after_s: float | None = None, max_age_s: float | None = None) -> float:
    """Nothing new: keep the interval, stretch it gently towards the maximum."""
    interval = clamp((current or min_interval) * 1.25, min_interval, max_interval)
    if max_age_s:
        interval = clamp(max(interval, max_age_s), min_interval, max_interval)
    if retry_after_s:
        interval = max(interval, retry_after_s)
    return interval


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def jittered(delay: float, rng: random.Random | None = None) -> float:
    rng = rng or random
    return delay * (1 + rng.uniform(-JITTER, JITTER))
