"""Where articles live in Elasticsearch: monthly indices behind two aliases.

* Concrete indices are ``<articles>-YYYY.MM`` (``<articles>`` is
  ``Indices.articles``, e.g. ``wirewatch-articles-2026.11``); all start with the
  settings' ``es.index_prefix``.
* **Read alias** ``<articles>``: every monthly index. The index template adds it
  to each new monthly index, so an index auto-created by a bulk request is
  searchable at once. Searches, Kibana and alert look-ups read it.
* **Write alias** ``<articles>-write``: the current month's index, for tools
  that cannot route (e.g. a one-off ``es.index``). The indexer does not use it:
  it writes to the month of each article (below).

Routing choice: **the month of ``published_at``**, not of the fetch. A month
index then holds the news of that month, so Kibana's time filter on
``published_at`` touches few indices and ``es prune --older-than 90d`` drops
news by its age. Dates that cannot be trusted fall back to the fetch month:
flagged by the producer (missing or in the future), later than the fetch, or
more than ``ARCHIVE_WINDOW`` older than it (archive items would otherwise
create one index per ancient month).

Updates: an article's ``_id`` is its stable id. Before writing, the indexer
looks the batch's ids up in the read alias and writes each article where it
already lives, so an update whose ``published_at`` moved to another month
overwrites the document instead of doubling it (see ``indexer.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from wirewatch.names import Indices
from wirewatch.schema import Article

ARCHIVE_WINDOW = timedelta(days=400)
FUTURE_TOLERANCE = timedelta(days=1)
UNTRUSTED_DATE_FLAGS = frozenset({"published_missing", "published_in_future"})
_MONTH_SUFFIX = re.compile(r"-(\d{4})\.(\d{2})$")


@dataclass(frozen=True)
class ArticleLayout:
    read_alias: str
    write_alias: str
    base: str  # monthly indices are f"{base}-YYYY.MM"

    @classmethod
    def from_indices(cls, indices: Indices, base: str | None = None) -> "ArticleLayout":
        """``base`` defaults to the read alias name; a rebuild uses another base
        (e.g. ``<articles>-r20261128``) so its indices do not clash."""
        return cls(read_alias=indices.articles, write_alias=f"{indices.articles}-write", base=base or indices.articles)

    @classmethod
    def from_indices_base(cls, layout: "ArticleLayout", base: str) -> "ArticleLayout":
        return cls(read_alias=layout.read_alias, write_alias=layout.write_alias, base=base)

    @property
    def pattern(self) -> str:
        """Index pattern of every monthly index of every base (template, prune)."""
        return f"{self.read_alias}-*"

    def index_for(self, when: datetime) -> str:
        return f"{self.base}-{when.year:04d}.{when.month:02d}"

    def index_for_article(self, article: Article) -> str:
        return self.index_for(routing_date(article))


def routing_date(article: Article) -> datetime:
    """The date whose month picks the article's index (pure; see module doc)."""
    published, fetched = article.published_at, article.fetched_at
    if UNTRUSTED_DATE_FLAGS.intersection(article.date_flags):
        return fetched
    if published > fetched + FUTURE_TOLERANCE or published < fetched - ARCHIVE_WINDOW:
        return fetched
    return published


def index_month(index_name: str) -> tuple[int, int] | None:
    """(year, month) of a monthly index name, or None if it is not one."""
    match = _MONTH_SUFFIX.search(index_name)
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    return (year, month) if 1 <= month <= 12 else None


def month_end(year: int, month: int) -> datetime:
    """First instant after the month, UTC."""
    if month == 12:
        return datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    return datetime(year, month + 1, 1, tzinfo=timezone.utc)
