"""Bounded retries and the dead-letter topic.

Faust acknowledges an event when its agent raises, which would lose the side
effect silently. So no exception escapes an agent: each step is retried a
bounded number of times, then the event goes to the dead-letter topic with
the stage and the reason, and only then is it acknowledged.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from wirewatch.schema import utcnow

log = structlog.get_logger(__name__)
T = TypeVar("T")

MAX_REASON_CHARS = 2000


class PermanentError(Exception):
    """Retrying cannot help (bad input): go straight to the dead-letter topic."""


def dead_letter_record(stage: str, reason: str, key: bytes | None, value: bytes | None) -> bytes:
    """The JSON that lands on the dead-letter topic: enough to inspect and replay the event."""
    def text_or_b64(raw: bytes | None) -> dict | None:
        if raw is None:
            return None
        try:
            return {"text": raw.decode("utf-8")}
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode("ascii")}

    return json.dumps({
        "stage": stage,
        "reason": reason[:MAX_REASON_CHARS],
        "key": text_or_b64(key),
        "value": text_or_b64(value),
        "failed_at": utcnow().isoformat(),
    }).encode("utf-8")


async def send_dead_letter(topic, stage: str, reason: str, key: bytes | None, value: bytes | None) -> None:
    log.warning("dead_letter", stage=stage, reason=reason[:300])
    await topic.send(key=key, value=dead_letter_record(stage, reason, key, value))


async def with_retries(step: Callable[[], Awaitable[T]], *, attempts: int, backoff_s: float, what: str) -> T:
    """Run `step` up to `attempts` times, doubling the delay; PermanentError is not retried."""
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        try:
            return await step()
        except PermanentError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is retried, then dead-lettered
            if attempt == attempts:
                raise
            log.warning("retrying", what=what, attempt=attempt, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")
