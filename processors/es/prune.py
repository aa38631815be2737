"""Retention: drop whole monthly article indices older than a cut-off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import structlog
from elasticsearch import Elasticsearch

from processors.es.layout import ArticleLayout, index_month, month_end
from wirewatch.names import Indices

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PrunePlan:
    cutoff: datetime
    delete: list[str]
    keep: list[str]


def plan_prune(index_names: list[str], older_than: timedelta, *, now: datetime, protected: set[str] = frozenset()) -> PrunePlan:
    """Indices whose whole month ended before ``now - older_than`` (pure).
    Names without a month suffix and ``protected`` ones are kept."""
    cutoff = now - older_than
    delete, keep = [], []
    for name in sorted(index_names):
        month = index_month(name)
        if month is not None and name not in protected and month_end(*month) <= cutoff:
            delete.append(name)
        else:
            keep.append(name)
    return PrunePlan(cutoff=cutoff, delete=delete, keep=keep)


def prune(es: Elasticsearch, indices: Indices, older_than: timedelta, *, dry_run: bool = False,
          now: datetime | None = None) -> PrunePlan:
    layout = ArticleLayout.from_indices(indices)
    names = list(es.indices.get(index=layout.pattern, expand_wildcards="open,closed", ignore_unavailable=True,
                                allow_no_indices=True).keys())
    write_holders = set(es.options(ignore_status=404).indices.get_alias(name=layout.write_alias).keys()) \
        if es.indices.exists_alias(name=layout.write_alias) else set()
    plan = plan_prune(names, older_than, now=now or datetime.now(timezone.utc), protected=write_holders)
    if plan.delete and not dry_run:
        # One name per request: a wildcard or a long comma list could hit more than planned.
        for name in plan.delete:
            es.options(ignore_status=404).indices.delete(index=name)
            log.info("es.prune.deleted", index=name, cutoff=plan.cutoff.isoformat())
    return plan
