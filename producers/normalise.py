"""Feed bytes -> normalised Articles: the one parse-and-normalise path of the
producer, `feeds check` and `feeds parse`.

Safety: feedparser only ever gets the bytes (wrapped in a BytesIO: given bare
bytes it would try to open them as a file path), documents whose DOCTYPE declares
entities are refused before parsing (no entity expansion, no XXE), and the
caller can bound the time of a parse with `producers.isolation.BoundedParser`.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import feedparser
import structlog

from producers.text import BadURL, canonical_url, domain_of, html_to_text
from wirewatch.schema import Article, Source, article_id

log = structlog.get_logger(__name__)

# Dates before the web existed are parse errors, not history.
EARLIEST_PLAUSIBLE = datetime(1991, 1, 1, tzinfo=timezone.utc)
# Clock skew we forgive before a date counts as "in the future".
FUTURE_TOLERANCE = timedelta(days=1)
MAX_TEXT_CHARS = 200_000
MAX_HTML_CHARS = 500_000
MAX_FIELD_ITEMS = 50  # authors, categories
MAX_PROBLEMS = 50

_UPDATE_PERIOD_SECONDS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400, "yearly": 365 * 86400}
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY_DECL = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
# Most of a DOCTYPE we look at: an internal subset bigger than this is refused anyway.
_MAX_DOCTYPE_BYTES = 1 << 20


class FeedRefused(Exception):
    """A document we will not parse or that is not a feed; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class ParsedFeed:
    title: str = ""
    link: str = ""
    language: str | None = None
    version: str = ""
    articles: list[Article] = field(default_factory=list)
    ttl_s: int | None = None               # <ttl> in seconds
    update_period_s: int | None = None     # sy:updatePeriod / sy:updateFrequency in seconds
    entries_total: int = 0                 # entries in the document, before the cap
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


# --------------------------------------------------------------------------- safety


def check_safe(body: bytes) -> None:
    """Refuse documents whose DOCTYPE declares entities (billion laughs, XXE).

    UTF-16/32 documents are looked at with their NUL bytes removed, so that the
    check sees the same markup the parser will."""
    view = body.replace(b"\x00", b"") if b"\x00" in body[:4096] else body
    for match in _DOCTYPE.finditer(view):
        doctype = _doctype_text(view, match.start())
        if _ENTITY_DECL.search(doctype):
            raise FeedRefused("DOCTYPE declares entities (entity expansion / XXE refused)")


def _doctype_text(view: bytes, start: int) -> bytes:
    """The DOCTYPE declaration starting at ``start``, internal subset included."""
    window = view[start : start + _MAX_DOCTYPE_BYTES]
    close = window.find(b">")
    bracket = window.find(b"[")
    if bracket != -1 and (close == -1 or bracket < close):
        end = window.find(b"]", bracket)
        return window if end == -1 else window[: end + 1]
    return window if close == -1 else window[: close + 1]


# --------------------------------------------------------------------------- parse


def parse_feed(
    body: bytes,
    *,
    feed_url: str,
    fetched_at: datetime,
    feed_name: str = "",
    declared_language: str | None = None,
    max_entries: int = 200,
    country: str | None = None,
) -> ParsedFeed:
    """Parse a feed document and normalise its entries; raise FeedRefused with the
    reason when the document is unsafe or is not a feed."""
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError("parse_feed takes the document's bytes")
    if not body.strip():
        raise FeedRefused("empty body")
    check_safe(body)
    fetched_at = _as_utc(fetched_at)
    parsed = _run_feedparser(bytes(body), feed_url)
    feed = parsed.get("feed", {}) or {}
    entries = parsed.get("entries", []) or []
    title = html_to_text(feed.get("title", ""))
    if not entries and not title:
        # A well-formed, recognised feed with nothing in it yet is fine; anything
        # else without entries or a title is not a feed.
        if parsed.get("bozo"):
            raise FeedRefused(f"not a feed: {_bozo_reason(parsed)}")
        if not parsed.get("version"):
            raise FeedRefused("not a feed: no known feed format, no entries, no title")

    result = ParsedFeed(
        title=title,
        link=feed.get("link", "") or "",
        language=_language(feed.get("language")),
        version=parsed.get("version", "") or "",
        entries_total=len(entries),
        ttl_s=_ttl_seconds(feed.get("ttl")),
        update_period_s=_update_period_seconds(feed.get("sy_updateperiod"), feed.get("sy_updatefrequency")),
    )
    if parsed.get("bozo"):
        result.note(f"ill-formed document, parsed leniently: {_bozo_reason(parsed)}")
    if len(entries) > max_entries:
        result.note(f"{len(entries)} entries, only the first {max_entries} taken")
    source = Source(feed_url=feed_url, feed_title=title, feed_name=feed_name, domain=domain_of(result.link or feed_url), country=country)
    language = result.language or _language(declared_language)
    seen: set[str] = set()
    for index, entry in enumerate(entries[:max_entries]):
        article = _normalise_entry(entry, index, feed_url, fetched_at, source, language, result)
        if article is not None and article.id not in seen:
            seen.add(article.id)
            result.articles.append(article)
    return result


def _run_feedparser(body: bytes, feed_url: str) -> Any:
    # content-location makes feedparser resolve relative links against the feed URL.
    # BytesIO: feedparser opens bare bytes as a *file path* when it can.
    return feedparser.parse(
        io.BytesIO(body),
        response_headers={"content-location": feed_url, "content-type": "application/xml"},
        resolve_relative_uris=True,
        sanitize_html=True,
    )


def _bozo_reason(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    if exc is None:
        return "ill-formed"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


# --------------------------------------------------------------------------- entries


def _normalise_entry(entry: Any, index: int, feed_url: str, fetched_at: datetime, source: Source, language: str | None, result: ParsedFeed) -> Article | None:
    url = _entry_url(entry, feed_url)
    if url is None:
        result.note(f"entry {index}: no http(s) link and no URL id, skipped")
        return None
    title = html_to_text(entry.get("title", ""))[:MAX_TEXT_CHARS]
    summary_html = entry.get("summary", "") or ""
    content_html = _content_html(entry)
    summary = html_to_text(summary_html)[:MAX_TEXT_CHARS]
    text = html_to_text(content_html)[:MAX_TEXT_CHARS] if content_html else summary
    flags: list[str] = []
    published, updated = _entry_dates(entry, fetched_at, flags)
    return Article(
        id=article_id(url),
        url=url,
        title=title,
        summary=summary,
        text=text,
        content_html=(content_html or summary_html)[:MAX_HTML_CHARS],
        authors=_authors(entry),
        categories=_categories(entry),
        language=_entry_language(entry) or language,
        image=_image(entry, url),
        source=source,
        published_at=published,
        updated_at=updated,
        fetched_at=fetched_at,
        date_flags=flags,
        content_hash=content_hash(title, text),
    )


def content_hash(title: str, text: str) -> str:
    """Hash of what a reader sees: a new hash for the same id is an update."""
    return hashlib.sha256(f"{title}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _entry_url(entry: Any, feed_url: str) -> str | None:
    candidates = [entry.get("link")]
    candidates += [link.get("href") for link in entry.get("links", []) or [] if link.get("rel", "alternate") == "alternate"]
    candidates.append(entry.get("id"))  # an id that is a URL is the article's address
    for candidate in candidates:
        if not candidate or not isinstance(candidate, str):
            continue
        try:
            return canonical_url(candidate, base=feed_url if candidate is not entry.get("id") else None)
        except BadURL:
            continue
    return None


def _content_html(entry: Any) -> str:
    contents = entry.get("content") or []
    # Prefer HTML over plain text when an entry carries both.
    ranked = sorted(contents, key=lambda c: 0 if "html" in (c.get("type") or "") else 1)
    for content in ranked:
        value = content.get("value") or ""
        if value.strip():
            return value
    return ""


def _authors(entry: Any) -> list[str]:
    names = [html_to_text(a.get("name") or a.get("email") or "") for a in entry.get("authors", []) or [] if isinstance(a, dict)]
    if not any(names) and entry.get("author"):
        names = [html_to_text(entry.get("author"))]
    return _unique(n for n in names if n)[:MAX_FIELD_ITEMS]


def _categories(entry: Any) -> list[str]:
    terms = [html_to_text(t.get("term") or t.get("label") or "") for t in entry.get("tags", []) or [] if isinstance(t, dict)]
    return _unique(t for t in terms if t)[:MAX_FIELD_ITEMS]


def _unique(items) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item[:500], None)
    return list(seen)


def _entry_language(entry: Any) -> str | None:
    for key in ("content",):
        for content in entry.get(key) or []:
            if content.get("language"):
                return _language(content.get("language"))
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key) or {}
        if detail.get("language"):
            return _language(detail.get("language"))
    return None


def _language(value: Any) -> str | None:
    if not value or not isinstance(value, str):
        return None
    tag = value.strip().replace("_", "-").lower()
    return tag[:35] if re.fullmatch(r"[a-z]{2,8}(-[a-z0-9]{1,8})*", tag) else None


def _image(entry: Any, base: str) -> str | None:
    candidates: list[str] = []
    for media in entry.get("media_content", []) or []:
        if media.get("medium") == "image" or (media.get("type") or "").startswith("image/") or (not media.get("type") and not media.get("medium")):
            candidates.append(media.get("url"))
    candidates += [thumb.get("url") for thumb in entry.get("media_thumbnail", []) or []]
    candidates += [enc.get("href") for enc in entry.get("enclosures", []) or [] if (enc.get("type") or "").startswith("image/")]
    if isinstance(entry.get("image"), dict):
        candidates.append(entry["image"].get("href"))
    for candidate in candidates:
        if candidate and isinstance(candidate, str):
            try:
                return canonical_url(candidate, base=base)
            except BadURL:
                continue
    return None


# --------------------------------------------------------------------------- dates


def _entry_dates(entry: Any, fetched_at: datetime, flags: list[str]) -> tuple[datetime, datetime | None]:
    published = _checked_date(entry, "published", fetched_at, flags)
    updated = _checked_date(entry, "updated", fetched_at, flags)
    if published is None and updated is not None:
        flags.append("published_from_updated")
        return updated, updated
    if published is None:
        if "published_missing" not in flags and not any(f.startswith("published_") for f in flags):
            flags.append("published_missing")
        return fetched_at, updated
    return published, updated


def _checked_date(entry: Any, name: str, fetched_at: datetime, flags: list[str]) -> datetime | None:
    """A date field of the entry in UTC, or None with a flag saying why not."""
    # dict.get: FeedParserDict.get would hand back `published` for a missing `updated`.
    raw = dict.get(entry, name)
    parsed = dict.get(entry, f"{name}_parsed")
    if not raw and parsed is None:
        return None
    value = _struct_to_datetime(parsed)
    if value is None:
        flags.append(f"{name}_invalid")
        return None
    if value < EARLIEST_PLAUSIBLE:
        flags.append(f"{name}_implausible")
        return None
    if value > fetched_at + FUTURE_TOLERANCE:
        flags.append(f"{name}_in_future")
        return None
    return value


def _struct_to_datetime(parsed: Any) -> datetime | None:
    if parsed is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


# --------------------------------------------------------------------------- feed-level hints


def _ttl_seconds(value: Any) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes * 60 if 0 < minutes <= 7 * 24 * 60 else None


def _update_period_seconds(period: Any, frequency: Any) -> int | None:
    seconds = _UPDATE_PERIOD_SECONDS.get(str(period or "").strip().lower())
    if seconds is None:
        return None
    try:
        times = int(str(frequency).strip()) if frequency else 1
    except ValueError:
        times = 1
    return max(60, seconds // max(1, min(times, 10_000)))
