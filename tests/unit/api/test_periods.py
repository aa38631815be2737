"""Digest periods are UTC and computed from the clock given (pure)."""

from datetime import datetime, timedelta, timezone

import pytest

from processors.digests import (
    digest_id,
    digest_kind,
    last_completed_period,
    period_bounds,
    queued_for_digest,
    rate_counter_id,
    within_cap,
)
from wirewatch.schema import Subscription

UTC = timezone.utc


def test_hourly_period_contains_the_instant():
    start, end = period_bounds("hourly", datetime(2026, 11, 28, 12, 34, 56, 789, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 11, 28, 12, tzinfo=UTC), datetime(2026, 11, 28, 13, tzinfo=UTC))


def test_daily_period_is_a_utc_day_even_for_other_offsets():
    # 01:30 at UTC+02:00 is 23:30 UTC of the day before
    at = datetime(2026, 11, 28, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert period_bounds("daily", at) == (datetime(2026, 11, 27, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC))


def test_naive_instants_are_taken_as_utc():
    assert period_bounds("hourly", datetime(2026, 1, 1, 5, 59)) == (
        datetime(2026, 1, 1, 5, tzinfo=UTC), datetime(2026, 1, 1, 6, tzinfo=UTC))


@pytest.mark.parametrize("kind, now, expected", [
    ("hourly", datetime(2026, 11, 28, 13, 0, tzinfo=UTC), (datetime(2026, 11, 28, 12, tzinfo=UTC), datetime(2026, 11, 28, 13, tzinfo=UTC))),
    ("hourly", datetime(2026, 11, 28, 13, 59, 59, tzinfo=UTC), (datetime(2026, 11, 28, 12, tzinfo=UTC), datetime(2026, 11, 28, 13, tzinfo=UTC))),
    ("hourly", datetime(2026, 1, 1, 0, 10, tzinfo=UTC), (datetime(2025, 12, 31, 23, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))),
    ("daily", datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC), (datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))),
])
def test_last_completed_period(kind, now, expected):
    assert last_completed_period(kind, now) == expected


def test_unknown_period_is_refused():
    with pytest.raises(ValueError, match="weekly"):
        period_bounds("weekly", datetime(2026, 1, 1, tzinfo=UTC))


def test_digest_id_is_stable_and_per_subscription_and_period():
    start = datetime(2026, 11, 28, 12, tzinfo=UTC)
    same_instant_elsewhere = start.astimezone(timezone(timedelta(hours=-5)))
    assert digest_id("s1", start) == digest_id("s1", same_instant_elsewhere)
    assert digest_id("s1", start) != digest_id("s2", start)
    assert digest_id("s1", start) != digest_id("s1", start + timedelta(hours=1))
    assert len(digest_id("s1", start)) == 32


def test_rate_counter_is_one_per_subscription_and_hour():
    a = rate_counter_id("s1", datetime(2026, 11, 28, 12, 1, tzinfo=UTC))
    assert a == rate_counter_id("s1", datetime(2026, 11, 28, 12, 59, tzinfo=UTC))
    assert a != rate_counter_id("s1", datetime(2026, 11, 28, 13, 0, tzinfo=UTC))
    assert a != rate_counter_id("s2", datetime(2026, 11, 28, 12, 1, tzinfo=UTC))


def test_rate_cap():
    assert within_cap(0, None) and within_cap(10_000, None)
    assert within_cap(0, 1) and not within_cap(1, 1)
    assert within_cap(4, 5) and not within_cap(5, 5) and not within_cap(6, 5)


def test_which_digest_a_subscription_uses():
    realtime = Subscription(id="r", name="r", query="x", max_per_hour=3)
    assert digest_kind(realtime) == "hourly" and not queued_for_digest(realtime)
    daily = Subscription(id="d", name="d", query="x", mode="daily")
    assert digest_kind(daily) == "daily" and queued_for_digest(daily)
    assert queued_for_digest(Subscription(id="h", name="h", query="x", mode="hourly"))


def test_a_digest_is_due_once_its_oldest_item_is_in_a_completed_period():
    from processors.digests import is_due

    now = datetime(2026, 11, 28, 14, 20, tzinfo=UTC)
    assert is_due("hourly", datetime(2026, 11, 28, 13, 59, tzinfo=UTC), now)
    assert not is_due("hourly", datetime(2026, 11, 28, 14, 0, tzinfo=UTC), now)
    assert is_due("daily", datetime(2026, 11, 27, 23, 59, tzinfo=UTC), now)
    assert not is_due("daily", datetime(2026, 11, 28, 0, 1, tzinfo=UTC), now)
