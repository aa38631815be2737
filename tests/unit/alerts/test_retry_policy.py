"""Retry decisions and waits (pure)."""

import random

import pytest

from processors.delivery.policy import RetryPolicy, Verdict, classify


@pytest.mark.parametrize(
    "status,verdict",
    [
        (200, Verdict.DELIVERED), (204, Verdict.DELIVERED),
        (410, Verdict.DISABLE),
        (None, Verdict.RETRY), (408, Verdict.RETRY), (429, Verdict.RETRY), (500, Verdict.RETRY),
        (503, Verdict.RETRY), (599, Verdict.RETRY),
        (301, Verdict.GIVE_UP), (400, Verdict.GIVE_UP), (401, Verdict.GIVE_UP), (404, Verdict.GIVE_UP),
    ],
)
def test_classify(status, verdict):
    assert classify(status) is verdict


def test_attempts_are_bounded():
    policy = RetryPolicy(max_attempts=3, backoff_s=1.0)
    assert policy.should_retry(Verdict.RETRY, 1)
    assert policy.should_retry(Verdict.RETRY, 2)
    assert not policy.should_retry(Verdict.RETRY, 3)
    assert not policy.should_retry(Verdict.DISABLE, 1)
    assert not policy.should_retry(Verdict.GIVE_UP, 1)


@pytest.mark.parametrize("attempt,low,high", [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (20, 150.0, 300.0)])
def test_backoff_doubles_with_jitter_and_a_cap(attempt, low, high):
    policy = RetryPolicy(max_attempts=50, backoff_s=1.0, max_backoff_s=300.0)
    rng = random.Random(1)
    delays = [policy.delay(attempt, rng=rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 100  # jittered, not constant


def test_retry_after_replaces_backoff_and_is_capped():
    policy = RetryPolicy(max_attempts=5, backoff_s=1.0, max_retry_after_s=60.0)
    assert policy.delay(1, retry_after_s=7.0) == 7.0
    assert policy.delay(1, retry_after_s=0.0) == 0.0
    assert policy.delay(1, retry_after_s=3600.0) == 60.0
