"""When to try a delivery again, and how long to wait (pure).

* 2xx: delivered. 410 Gone: the receiver asks us to stop: the endpoint is
  disabled (the caller reports it) and never retried.
* 408, 425, 429, 5xx, connection errors and timeouts: worth another attempt.
* Other statuses (3xx: we never follow redirects with a signed body; 4xx):
  a retry cannot fix them: give up at once (dead-letter topic).
* Waits grow exponentially from ``backoff_s`` with "equal jitter" (between
  half and all of the step, so many failing alerts do not retry in lockstep),
  capped at ``MAX_BACKOFF_S``; a ``Retry-After`` from the receiver replaces the
  computed wait (capped at ``MAX_RETRY_AFTER_S``).
* At most ``max_attempts`` attempts (settings.alerts.max_attempts); then the
  caller sends the alert to the dead-letter topic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

MAX_BACKOFF_S = 300.0
MAX_RETRY_AFTER_S = 600.0
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class Verdict(str, Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DISABLE = "disable"
    GIVE_UP = "give_up"


def classify(status: int | None) -> Verdict:
    """``status`` None means no HTTP answer (connection error, timeout)."""
    if status is None:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status == 410:
        return Verdict.DISABLE
    if status in RETRYABLE_STATUSES or status >= 500:
        return Verdict.RETRY
    return Verdict.GIVE_UP


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff_s: float
    max_backoff_s: float = MAX_BACKOFF_S
    max_retry_after_s: float = MAX_RETRY_AFTER_S

    @classmethod
    def from_settings(cls, alerts) -> "RetryPolicy":
        return cls(max_attempts=alerts.max_attempts, backoff_s=alerts.backoff_s)

    def should_retry(self, verdict: Verdict, attempt: int) -> bool:
        """After attempt number ``attempt`` (1-based) ended with ``verdict``."""
        return verdict is Verdict.RETRY and attempt < self.max_attempts

    def delay(self, attempt: int, retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        if retry_after_s is not None and retry_after_s >= 0:
            return min(retry_after_s, self.max_retry_after_s)
        step = min(self.max_backoff_s, self.backoff_s * (2 ** (attempt - 1)))
        return step / 2 + (rng or random).uniform(0, step / 2)
