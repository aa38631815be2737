"""Digest timer: on the leader worker only, every ``alerts.digest_check_s``,
send the hourly and daily digests whose period has ended
(processors/digests.py; each digest is claimed first, so a second worker, a
restart or the next tick never sends it again)."""

from __future__ import annotations

import faust
import structlog

from processors.agents.failures import send_dead_letter
from processors.context import WorkerContext

log = structlog.get_logger(__name__)


def register(app: faust.App, ctx: WorkerContext) -> None:
    settings = ctx.settings

    @app.timer(interval=settings.alerts.digest_check_s, on_leader=True, name=f"{settings.processor.app_id}.digests")
    async def send_due_digests() -> None:
        from processors.digests import run_due_digests
        from processors.es.client import make_async_client

        es = make_async_client(settings.es)
        try:
            outcomes = await run_due_digests(es, ctx.indices, settings)
        except Exception as exc:  # noqa: BLE001 - never escape a timer: the next tick tries again
            log.warning("digests.tick_failed", error=f"{type(exc).__name__}: {str(exc)[:300]}")
            return
        finally:
            await es.close()
        for outcome in outcomes:
            for result in outcome.results:
                if not result.ok and not result.disabled:
                    reason = f"digest {result.channel} delivery failed after {result.attempts} attempt(s): {result.error}"
                    await send_dead_letter(ctx.topics.dead_letters, "digest", reason,
                                           outcome.digest_id.encode(), outcome.digest_id.encode())
        if outcomes:
            log.info("digests", sent=sum(o.sent for o in outcomes), looked_at=len(outcomes))
