"""Per-feed polling state: validators, body hash, recently seen entries,
schedule and health. JSON-serialisable, so it can live in the compacted
`feeds.state` topic (key = feed url) and any instance can resume any feed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# Entries remembered per feed (id -> content hash). After each poll a feed keeps
# the entries its document still shows plus as many again of those that left it
# (so an entry sliding out and back in is not produced again), at most this many.
MAX_SEEN_PER_FEED = 1000


def short_hash(content_hash: str) -> int:
    """48 bits of the content hash, as an int: what `seen` stores. 20,000 feeds x
    30 entries is 600,000 of these, so each byte per entry counts."""
    return int(content_hash[:12], 16)


@dataclass
class FeedState:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    seen: dict[str, int] = field(default_factory=dict)  # article id -> short_hash(content hash), oldest first
    next_check: float = 0.0            # epoch seconds
    interval_s: float = 0.0            # current regular interval
    last_check: float | None = None
    last_success: float | None = None
    last_error: str | None = None
    last_error_class: str | None = None
    last_status: int | None = None
    consecutive_failures: int = 0
    entries_seen: int = 0              # distinct entries produced over the feed's life
    disabled: bool = False             # 410 Gone
    disabled_reason: str | None = None
    moved_to: str | None = None        # where a permanent redirect chain ended
    # Full-text feeds only: article id -> short_hash of the content hash *produced*
    # (page text), while ``seen`` keeps the feed's own hash; an entry whose feed
    # text changed but whose page text did not is not produced again.
    page_hashes: dict[str, int] = field(default_factory=dict)

    def is_known(self, article_id: str, content_hash: str) -> bool:
        """True when this entry was produced before with the same content."""
        return self.seen.get(article_id) == short_hash(content_hash)

    def remember(self, article_id: str, content_hash: str) -> None:
        if self.seen.pop(article_id, None) is None:
            self.entries_seen += 1
        self.seen[article_id] = short_hash(content_hash)  # re-inserted: now the newest
        while len(self.seen) > MAX_SEEN_PER_FEED:
            del self.seen[next(iter(self.seen))]

    def page_known(self, article_id: str, content_hash: str) -> bool:
        """True when this entry was produced before with this (page) text."""
        return self.page_hashes.get(article_id) == short_hash(content_hash)

    def remember_page(self, article_id: str, content_hash: str) -> None:
        self.page_hashes[article_id] = short_hash(content_hash)

    def prune(self, current_ids: set[str]) -> None:
        """Keep the entries of the current document and as many others, newest first."""
        others = [k for k in self.seen if k not in current_ids]
        for key in others[: max(0, len(others) - len(current_ids))]:
            del self.seen[key]
        if self.page_hashes:
            self.page_hashes = {k: v for k, v in self.page_hashes.items() if k in self.seen}

    def to_json(self) -> bytes:
        data = asdict(self)
        data["seen"] = list(self.seen.items())
        data["page_hashes"] = list(self.page_hashes.items())
        return json.dumps(data, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes | str) -> "FeedState":
        data: dict[str, Any] = json.loads(raw)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["seen"] = {str(k): int(v) for k, v in known.get("seen", [])}
        known["page_hashes"] = {str(k): int(v) for k, v in known.get("page_hashes", [])}
        return cls(**known)


class StateStore:
    """In-memory state of every feed of this instance; `scheduler` advances it,
    `producers.state_topic` persists it to Kafka."""

    def __init__(self) -> None:
        self.feeds: dict[str, FeedState] = {}
        self.dirty: set[str] = set()

    def get(self, url: str) -> FeedState:
        state = self.feeds.get(url)
        if state is None:
            state = self.feeds[url] = FeedState(url=url)
        return state

    def mark_dirty(self, url: str) -> None:
        self.dirty.add(url)

    def take_dirty(self) -> list[FeedState]:
        dirty, self.dirty = self.dirty, set()
        return [self.feeds[url] for url in dirty if url in self.feeds]
