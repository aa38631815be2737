"""One feed fetch: async, bounded, safe.

- a total deadline per fetch (redirects, DNS and slow bodies included), not a
  per-read timeout, so a server dripping a byte at a time cannot hold a worker;
- gzip/deflate decoded here as a stream with a cap on the decoded size (a
  decompression bomb stops at the cap instead of filling memory);
- redirects followed by hand, at most ``max_redirects``; every connection's
  host is resolved by a resolver that checks each address (producers.safety)
  and aiohttp connects to exactly those addresses, so a second DNS answer
  cannot swap in a private one (DNS rebinding);
- conditional GET (ETag, Last-Modified) plus a hash of the body, so an unchanged
  body is recognised even when the server ignores the validators.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import re
import socket
import ssl
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import aiohttp
import structlog

from producers.safety import AddressPolicy, RefusedAddress, ResolveError, numeric_host
from wirewatch.settings import ProducerSettings

log = structlog.get_logger(__name__)

ERROR_CLASSES = ("dns", "connect", "tls", "timeout", "http_status", "too_large", "refused_address", "parse")
_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_AGE = re.compile(r"(?:^|[,\s])(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)
MAX_RETRY_AFTER_S = 7 * 86400
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"


@dataclass
class FetchResult:
    url: str                              # the URL asked for
    final_url: str = ""                   # after redirects
    status: int | None = None
    body: bytes | None = None             # decoded body; None when not modified or failed
    not_modified: bool = False            # 304
    unchanged: bool = False               # 200 with the same body hash as last time
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    max_age_s: int | None = None          # Cache-Control max-age
    retry_after_s: float | None = None    # Retry-After (seconds from now)
    permanent_redirect: str | None = None  # where a 301/308 chain ended: the feed moved
    error_class: str | None = None        # one of ERROR_CLASSES
    error: str | None = None              # one-line detail
    wire_bytes: int = 0
    elapsed_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_class is None

    @property
    def has_new_body(self) -> bool:
        return self.ok and self.body is not None and not self.unchanged


class FetchError(Exception):
    def __init__(self, error_class: str, message: str):
        super().__init__(message)
        self.error_class = error_class


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


class _CheckedResolver:
    """aiohttp resolver that hands out only addresses the policy allows: the check
    happens at connect time, for every connection and every redirect hop, and the
    connection goes to exactly the addresses that were checked."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[dict]:
        addresses = await self.policy.resolve(host, port)
        return [
            {"hostname": host, "host": str(ip), "port": port,
             "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}
            for ip in addresses
        ]

    async def close(self) -> None:
        pass


class HostLimits:
    """One semaphore per host, created on first use: the per-host politeness limit."""

    def __init__(self, per_host: int):
        self.per_host = per_host
        self._sems: dict[str, asyncio.Semaphore] = {}

    def for_host(self, host: str) -> asyncio.Semaphore:
        sem = self._sems.get(host)
        if sem is None:
            sem = self._sems[host] = asyncio.Semaphore(self.per_host)
        return sem


class Fetcher:
    """Shares one connection pool across fetches; `async with Fetcher(...)`."""

    def __init__(self, settings: ProducerSettings, policy: AddressPolicy | None = None, *, accept: str = FEED_ACCEPT):
        self.settings = settings
        self.policy = policy or AddressPolicy.from_allow_list(settings.allow_hosts)
        self.accept = accept
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Fetcher":
        connector = aiohttp.TCPConnector(
            resolver=_CheckedResolver(self.policy),
            use_dns_cache=False,  # every connection is resolved and checked again
            limit=self.settings.concurrency,
            limit_per_host=self.settings.per_host_concurrency,
            ttl_dns_cache=None,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # we decode ourselves, with a cap
            trust_env=False,  # no proxy from the environment: we connect to checked addresses only
            timeout=aiohttp.ClientTimeout(total=None),  # the total deadline is ours, in fetch()
            headers={"User-Agent": self.settings.user_agent},
            max_line_size=16 * 1024,
            max_field_size=16 * 1024,
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None, previous_hash: str | None = None) -> FetchResult:
        """Fetch ``url`` once; never raises for network or server trouble: the
        result's ``error_class`` says what went wrong."""
        if self._session is None:
            raise RuntimeError("use 'async with Fetcher(...)'")
        result = FetchResult(url=url, final_url=url)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.fetch_timeout_s):
                await self._fetch_chain(url, etag, last_modified, previous_hash, result)
        except TimeoutError:
            _fail(result, "timeout", f"no complete answer within {self.settings.fetch_timeout_s:g} s")
        except FetchError as exc:
            _fail(result, exc.error_class, str(exc))
        except RefusedAddress as exc:
            _fail(result, "refused_address", str(exc))
        except ResolveError as exc:
            _fail(result, "dns", str(exc))
        except aiohttp.InvalidURL as exc:
            _fail(result, "refused_address", f"unusable URL: {exc}"[:300])
        except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
            _fail(result, "tls", f"{type(exc).__name__}: {exc}"[:300])
        except aiohttp.ClientConnectorDNSError as exc:
            _fail(result, "dns", str(exc)[:300])
        except (aiohttp.ClientError, OSError) as exc:
            _fail(result, "connect", f"{type(exc).__name__}: {exc}"[:300])
        result.elapsed_s = time.monotonic() - started
        return result

    async def _fetch_chain(self, url: str, etag: str | None, last_modified: str | None, previous_hash: str | None, result: FetchResult) -> None:
        permanent = True
        for hop in range(self.settings.max_redirects + 1):
            async with await self._request(url, etag, last_modified) as response:
                if response.status in _REDIRECTS and "Location" in response.headers:
                    permanent = permanent and response.status in (301, 308)
                    url = _redirect_target(url, response.headers["Location"])
                    result.final_url = url
                    continue
                if permanent and hop > 0:
                    result.permanent_redirect = url
                await self._handle_final(response, previous_hash, result)
                return
        raise FetchError("http_status", f"more than {self.settings.max_redirects} redirects")

    async def _request(self, url: str, etag: str | None, last_modified: str | None):
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise FetchError("refused_address", f"only http and https URLs are fetched, not {url[:200]!r}")
        literal = numeric_host(parts.hostname)
        if literal is not None:
            # aiohttp connects to IP literals without asking the resolver: check here.
            self.policy.check_address(parts.hostname, literal)
        headers = {"Accept": self.accept, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return self._session.get(url, headers=headers, allow_redirects=False)

    async def _handle_final(self, response: aiohttp.ClientResponse, previous_hash: str | None, result: FetchResult) -> None:
        result.status = response.status
        result.headers = {k.lower(): v for k, v in response.headers.items() if k.lower() in ("cache-control", "retry-after", "etag", "last-modified", "content-type", "expires")}
        result.etag = response.headers.get("ETag")
        result.last_modified = response.headers.get("Last-Modified")
        result.max_age_s = parse_max_age(response.headers.get("Cache-Control"))
        result.retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
        if response.status == 304:
            result.not_modified = True
            return
        if response.status != 200:
            raise FetchError("http_status", f"HTTP {response.status}")
        body = await self._read_body(response, result)
        result.body_hash = body_hash(body)
        if previous_hash and previous_hash == result.body_hash:
            result.unchanged = True  # same bytes: never parsed again
            return
        result.body = body

    async def _read_body(self, response: aiohttp.ClientResponse, result: FetchResult) -> bytes:
        cap = self.settings.max_body_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap * 4:
            raise FetchError("too_large", f"Content-Length {declared} is far above the cap of {cap} bytes")
        decoder = _Decoder(response.headers.get("Content-Encoding", ""), cap)
        async for chunk in response.content.iter_chunked(64 * 1024):
            result.wire_bytes += len(chunk)
            decoder.feed(chunk)
        return decoder.finish()


class _Decoder:
    """Streaming gzip/deflate decoding that never holds more than ``cap`` decoded bytes."""

    def __init__(self, content_encoding: str, cap: int):
        encodings = [e.strip().lower() for e in content_encoding.split(",") if e.strip() and e.strip().lower() != "identity"]
        if len(encodings) > 1:
            raise FetchError("too_large", f"stacked content encodings {content_encoding!r} refused")
        encoding = encodings[0] if encodings else ""
        if encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
            self._raw_deflate_fallback = True
        elif encoding == "":
            self._z = None
        else:
            raise FetchError("http_status", f"unsupported Content-Encoding {encoding!r}")
        self.encoding = encoding
        self.cap = cap
        self.parts: list[bytes] = []
        self.size = 0
        self._first = True

    def feed(self, chunk: bytes) -> None:
        if self._z is None:
            self._append(chunk)
            return
        if self._first and self.encoding == "deflate":
            self._first = False
            # Some servers send raw deflate without the zlib header.
            if chunk and (chunk[0] & 0x0F) != 8:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        data = chunk
        while data:
            try:
                out = self._z.decompress(data, self.cap - self.size + 1)
            except zlib.error as exc:
                raise FetchError("http_status", f"corrupt {self.encoding} body: {exc}") from None
            self._append(out)
            data = self._z.unconsumed_tail
            if self._z.eof:
                break

    def _append(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.cap:
            raise FetchError("too_large", f"body larger than {self.cap} bytes after decoding")
        if data:
            self.parts.append(data)

    def finish(self) -> bytes:
        if self._z is not None:
            self._append(self._z.flush(self.cap - self.size + 1))
        return b"".join(self.parts)


def _redirect_target(current: str, location: str) -> str:
    target = urljoin(current, location.strip())
    scheme = urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError("refused_address", f"redirect to a non-http(s) URL {target[:200]!r}")
    return target.split("#", 1)[0]


def _fail(result: FetchResult, error_class: str, message: str) -> None:
    result.error_class = error_class
    result.error = message
    result.body = None


def parse_max_age(cache_control: str | None) -> int | None:
    if not cache_control:
        return None
    if "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
        return 0
    match = _MAX_AGE.search(cache_control)
    return min(int(match.group(1)), 30 * 86400) if match else None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), MAX_RETRY_AFTER_S))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    delta = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return float(min(max(delta, 0.0), MAX_RETRY_AFTER_S))
