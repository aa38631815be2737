"""Parsing in worker processes with a deadline and a memory cap.

feedparser is pure Python on top of expat/sgmllib: a hostile document can keep it
busy far longer than any fetch. Running it in a child process means a parse that
overruns its deadline is ended (the process is killed and replaced) instead of
holding the producer, and the address-space limit turns a memory blow-up into a
refusal instead of an OOM kill of the producer.

The workers are plain ``python -m producers.parse_worker`` children talking
length-prefixed pickles over their stdin/stdout, rather than multiprocessing:
multiprocessing's spawn and forkserver re-run the parent's main script in the
child, and fork copies the Kafka client's threads and locks.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import struct
import sys
from datetime import datetime

import structlog

from producers.normalise import FeedRefused, ParsedFeed

log = structlog.get_logger(__name__)

DEFAULT_PARSE_TIMEOUT_S = 10.0
# feedparser needs ~20-40 ms of CPU for a 30-entry feed: parsing is the producer's
# main CPU cost, so it gets one worker per core (at most 4).
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))
DEFAULT_MEMORY_LIMIT_BYTES = 2 << 30
_HEADER = struct.Struct(">I")


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process

    @classmethod
    async def start(cls, memory_limit_bytes: int) -> "_Worker":
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "producers.parse_worker", str(memory_limit_bytes),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        return cls(process)

    async def call(self, payload: dict) -> tuple[str, object]:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.write(_HEADER.pack(len(data)) + data)
        await self.process.stdin.drain()
        size = _HEADER.unpack(await self.process.stdout.readexactly(_HEADER.size))[0]
        # Our own child's answer: trusted pickle.
        return pickle.loads(await self.process.stdout.readexactly(size))  # noqa: S301

    def kill(self) -> None:
        if self.process.returncode is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass

    async def stop(self) -> None:
        self.kill()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except (TimeoutError, ProcessLookupError):
            pass


class BoundedParser:
    """`await parser.parse(body, feed_url=..., fetched_at=..., ...)`: parse_feed in
    a worker process, bounded in time (``timeout_s``) and memory. Raises
    FeedRefused when either bound is hit, as for any refused document."""

    @classmethod
    def from_settings(cls, producer_settings) -> "BoundedParser":
        return cls(workers=producer_settings.parse_workers or DEFAULT_WORKERS,
                   timeout_s=producer_settings.parse_timeout_s)

    def __init__(self, workers: int = DEFAULT_WORKERS, timeout_s: float = DEFAULT_PARSE_TIMEOUT_S, memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES):
        self.timeout_s = timeout_s
        self.memory_limit_bytes = memory_limit_bytes
        self._slots = max(1, workers)
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._sem: asyncio.Semaphore | None = None

    async def parse(self, body: bytes, *, feed_url: str, fetched_at: datetime, **kwargs) -> ParsedFeed:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self._slots)
        kwargs.update(feed_url=feed_url, fetched_at=fetched_at)
        async with self._sem:
            worker = self._idle.pop() if self._idle else await self._spawn()
            try:
                async with asyncio.timeout(self.timeout_s):
                    kind, value = await worker.call({"body": bytes(body), "kwargs": kwargs})
            except TimeoutError:
                log.warning("parse_timeout", feed_url=feed_url, timeout_s=self.timeout_s, body_bytes=len(body))
                await self._discard(worker)
                raise FeedRefused(f"parse did not finish within {self.timeout_s:g} s") from None
            except (asyncio.IncompleteReadError, BrokenPipeError, ConnectionResetError):
                await self._discard(worker)
                raise FeedRefused("parser process died (memory or crash)") from None
            except BaseException:
                await self._discard(worker)  # cancelled mid-call: its answer would desync the pipe
                raise
            self._idle.append(worker)
        if kind == "ok":
            return value  # type: ignore[return-value]
        if kind == "refused":
            raise FeedRefused(str(value))
        raise RuntimeError(f"parser worker failed: {value}")

    async def _spawn(self) -> _Worker:
        worker = await _Worker.start(self.memory_limit_bytes)
        self._all.add(worker)
        return worker

    async def _discard(self, worker: _Worker) -> None:
        self._all.discard(worker)
        await worker.stop()

    def peak_rss_bytes(self) -> int:
        """Sum of the live workers' peak resident memory (Linux /proc), for benchmarks."""
        total = 0
        for worker in self._all:
            try:
                with open(f"/proc/{worker.process.pid}/status") as fh:
                    total += next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:")), 0)
            except OSError:
                pass
        return total

    async def aclose(self) -> None:
        workers, self._all, self._idle = list(self._all), set(), []
        for worker in workers:
            await worker.stop()

    def close(self) -> None:
        """Kill the workers without waiting (for synchronous shutdown paths)."""
        for worker in self._all:
            worker.kill()
        self._all, self._idle = set(), []
