"""Local moving parts shared by the demo, the end-to-end test and the benchmark:
a feed server, a webhook receiver that checks signatures, and a worker process.

Everything binds to 127.0.0.1 on a port the OS picks, and has a deadline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from wirewatch.settings import Settings

MAX_WEBHOOK_BODY = 1024 * 1024
MAX_RECORDED = 10_000


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Background:
    """An HTTP server on 127.0.0.1 in a daemon thread; a context manager."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class _FeedHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the demo's output readable
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        server: FeedServer = self.server.owner  # type: ignore[attr-defined]
        name = self.path.lstrip("/").split("?", 1)[0]
        body = server.files.get(name)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FeedServer(_Background):
    """Serves feed files by name: GET /<name>."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        super().__init__(_FeedHandler)

    @classmethod
    def from_dir(cls, folder: Path, pattern: str = "*.xml") -> "FeedServer":
        return cls({p.name: p.read_bytes() for p in sorted(folder.glob(pattern))})

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


def verify_signature(secret: str, msg_id: str, timestamp: str, body: bytes, header: str) -> bool:
    """Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body">, written independently
    of the sender's code so that the demo and tests really check it."""
    key = base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else secret.encode()
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return any(
        sig.startswith("v1,") and hmac.compare_digest(sig[3:], expected) for sig in header.split()
    )


@dataclass
class ReceivedWebhook:
    received_at: float
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None

    def json(self) -> dict:
        return json.loads(self.body)


class _WebhookHandler(BaseHTTPRequestHandler):
    # Keep-alive, as real receivers do: with HTTP/1.0 every webhook paid a new connection.
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        receiver: WebhookReceiver = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_WEBHOOK_BODY:
            self.close_connection = True  # the unread body would be taken for the next request
            self.send_error(413)
            return
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok = None
        if receiver.secret is not None:
            ok = verify_signature(receiver.secret, headers.get("webhook-id", ""),
                                  headers.get("webhook-timestamp", ""), body, headers.get("webhook-signature", ""))
        status = receiver.next_status()
        if status < 300:
            receiver.record(ReceivedWebhook(time.time(), headers, body, ok))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class WebhookReceiver(_Background):
    """Records webhook POSTs; `statuses` scripts the answers (then 200 for ever)."""

    def __init__(self, secret: str | None = None, statuses: list[int] | None = None):
        self.secret = secret
        self._statuses = deque(statuses or [])
        self._lock = threading.Lock()
        self.received: deque[ReceivedWebhook] = deque(maxlen=MAX_RECORDED)
        self.attempts = 0
        super().__init__(_WebhookHandler)

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    def next_status(self) -> int:
        with self._lock:
            self.attempts += 1
            return self._statuses.popleft() if self._statuses else 200

    def record(self, hook: ReceivedWebhook) -> None:
        with self._lock:
            self.received.append(hook)

    def wait_for(self, count: int, timeout_s: float) -> list[ReceivedWebhook]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        with self._lock:
            return list(self.received)


def _die_with_parent() -> None:
    """In the child: SIGTERM when the parent dies, however it dies (Linux), so that a
    killed demo, test or benchmark leaves no worker behind."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class WorkerProcess:
    """`wirewatch worker` in a child process with the given settings."""

    settings: Settings
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        env = dict(os.environ)
        env.update(self.settings.to_env())
        env.update(self.extra_env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wirewatch.cli", "worker"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 20.0) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def wait_ready(self, timeout_s: float = 120.0, members: int = 1) -> float:
        """Seconds until the worker's consumer group is Stable with `members` members (they consume)."""
        from kafka.errors import KafkaError

        from wirewatch.kafka_admin import admin_client

        started = time.monotonic()
        admin = admin_client(self.settings.kafka)
        try:
            while time.monotonic() - started < timeout_s:
                if not self.alive():
                    raise RuntimeError(f"the worker exited during start:\n{self.log_tail()}")
                try:
                    group = admin.describe_groups([self.settings.processor.app_id]).get(self.settings.processor.app_id, {})
                except KafkaError:
                    group = {}  # a new broker has no group coordinator yet: not ready
                if group.get("group_state") == "Stable" and len(group.get("members") or []) >= members:
                    return time.monotonic() - started
                time.sleep(0.5)
        finally:
            admin.close()
        raise TimeoutError(f"the worker was not ready within {timeout_s:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def produce_once(settings: Settings, feeds) -> "object":
    """One forced poll of `feeds` into Kafka (the producer's own code); returns its PollStats."""
    import asyncio

    from producers.kafka_sink import KafkaSink
    from producers.scheduler import poll_once

    sink = KafkaSink(settings)
    try:
        return asyncio.run(poll_once(settings, feeds, sink, force=True))
    finally:
        sink.close(timeout=30)


def wait_for_hits(es, index: str, query: dict, deadline_s: float) -> list[dict]:
    """The `_source` of the documents `query` finds, once there is at least one (or [] at the deadline)."""
    deadline = time.monotonic() + deadline_s
    while True:
        # 404: not created yet; 503: created, shards not started yet.
        found = es.options(ignore_status=(404, 503)).search(index=index, query=query)
        hits = found.get("hits", {}).get("hits", [])
        if hits or time.monotonic() >= deadline:
            return [hit["_source"] for hit in hits]
        time.sleep(0.5)
