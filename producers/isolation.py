"""Parsing (and full-text extraction) in worker processes with a deadline and a
memory cap.

feedparser is pure Python on top of expat/sgmllib: a hostile document can keep it
busy far longer than any fetch. Running it in a child process means a parse that
overruns its deadline is ended (the process is killed and replaced) instead of
holding the producer, and the address-space limit turns a memory blow-up into a
refusal instead of an OOM kill of the producer.

The workers are plain ``python -m producers.parse_worker`` children talking
length-prefixed pickles over their stdin/stdout, rather than multiprocessing:
multiprocessing's spawn and forkserver re-run the parent's main script in the
child, and fork copies the Kafka client's threads and locks.

Two pools use the same machinery: ``BoundedParser`` (feed documents, feedparser)
and ``BoundedExtractor`` (article pages, trafilatura: lxml on hostile HTML is as
unbounded as feedparser on hostile XML). They are separate pools so that the
parse workers never load trafilatura and a slow page never holds a feed's parse.
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
DEFAULT_EXTRACT_TIMEOUT_S = 10.0
# Extraction runs only for full-text feeds' new entries: far rarer than parses.
DEFAULT_EXTRACT_WORKERS = 1
DEFAULT_EXTRACT_MEMORY_LIMIT_BYTES = 1 << 30
_HEADER = struct.Struct(">I")
# A child says it is ready (imports done) with this byte; a task's deadline
# starts after it, so that a slow start-up (trafilatura's imports take a second
# or two on a busy machine) is never mistaken for a hostile document.
READY = b"R"
START_TIMEOUT_S = 60.0


class WorkerRefused(Exception):
    """The child could not finish a task (deadline, memory, crash) or refused it."""


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process

    @classmethod
    async def start(cls, memory_limit_bytes: int, task: str) -> "_Worker":
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "producers.parse_worker", str(memory_limit_bytes), task,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        worker = cls(process)
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                ready = await process.stdout.readexactly(len(READY))
        except (TimeoutError, asyncio.IncompleteReadError):
            ready = b""
        except BaseException:
            await worker.stop()
            raise
        if ready != READY:
            await worker.stop()
            raise WorkerRefused(f"{task} worker did not start within {START_TIMEOUT_S:g} s")
        return worker

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


class _BoundedPool:
    """At most ``workers`` children of one task kind, started on first use; a
    call that overruns ``timeout_s`` or kills its child raises WorkerRefused and
    the child is replaced."""

    task = ""

    def __init__(self, workers: int, timeout_s: float, memory_limit_bytes: int):
        self.timeout_s = timeout_s
        self.memory_limit_bytes = memory_limit_bytes
        self._slots = max(1, workers)
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._sem: asyncio.Semaphore | None = None

    async def _call(self, payload: dict, *, what: str, **log_context) -> object:
        """The child's answer value; WorkerRefused with the reason otherwise."""
        if self._sem is None:
            self._sem = asyncio.Semaphore(self._slots)
        payload["task"] = self.task
        async with self._sem:
            worker = self._idle.pop() if self._idle else await self._spawn()
            try:
                async with asyncio.timeout(self.timeout_s):
                    kind, value = await worker.call(payload)
            except TimeoutError:
                log.warning(f"{self.task}_timeout", timeout_s=self.timeout_s, **log_context)
                await self._discard(worker)
                raise WorkerRefused(f"{what} did not finish within {self.timeout_s:g} s") from None
            except (asyncio.IncompleteReadError, BrokenPipeError, ConnectionResetError):
                await self._discard(worker)
                raise WorkerRefused(f"{what} process died (memory or crash)") from None
            except BaseException:
                await self._discard(worker)  # cancelled mid-call: its answer would desync the pipe
                raise
            self._idle.append(worker)
        if kind == "ok":
            return value
        if kind == "refused":
            raise WorkerRefused(str(value))
        raise RuntimeError(f"{self.task} worker failed: {value}")

    async def _spawn(self) -> _Worker:
        worker = await _Worker.start(self.memory_limit_bytes, self.task)
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


class BoundedParser(_BoundedPool):
    """`await parser.parse(body, feed_url=..., fetched_at=..., ...)`: parse_feed in
    a worker process, bounded in time (``timeout_s``) and memory. Raises
    FeedRefused when either bound is hit, as for any refused document."""

    task = "parse"

    @classmethod
    def from_settings(cls, producer_settings) -> "BoundedParser":
        return cls(workers=producer_settings.parse_workers or DEFAULT_WORKERS,
                   timeout_s=producer_settings.parse_timeout_s)

    def __init__(self, workers: int = DEFAULT_WORKERS, timeout_s: float = DEFAULT_PARSE_TIMEOUT_S, memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES):
        super().__init__(workers, timeout_s, memory_limit_bytes)

    async def parse(self, body: bytes, *, feed_url: str, fetched_at: datetime, **kwargs) -> ParsedFeed:
        kwargs.update(feed_url=feed_url, fetched_at=fetched_at)
        try:
            return await self._call({"body": bytes(body), "kwargs": kwargs}, what="parse", feed_url=feed_url, body_bytes=len(body))  # type: ignore[return-value]
        except WorkerRefused as exc:
            raise FeedRefused(str(exc)) from None


class BoundedExtractor(_BoundedPool):
    """`await extractor.extract(html, url=...)`: the main text of an article page
    (producers.extract.main_text) in a worker process, bounded in time and memory.
    Raises WorkerRefused with the reason when a bound is hit or nothing usable
    was found."""

    task = "extract"

    @classmethod
    def from_settings(cls, producer_settings) -> "BoundedExtractor":
        return cls(workers=min(DEFAULT_WORKERS, max(DEFAULT_EXTRACT_WORKERS, producer_settings.full_text_concurrency // 2)),
                   timeout_s=producer_settings.full_text_extract_timeout_s)

    def __init__(self, workers: int = DEFAULT_EXTRACT_WORKERS, timeout_s: float = DEFAULT_EXTRACT_TIMEOUT_S, memory_limit_bytes: int = DEFAULT_EXTRACT_MEMORY_LIMIT_BYTES):
        super().__init__(workers, timeout_s, memory_limit_bytes)

    async def extract(self, html: bytes, *, url: str) -> str:
        return await self._call({"body": bytes(html), "kwargs": {"url": url}}, what="extraction", url=url, body_bytes=len(html))  # type: ignore[return-value]
