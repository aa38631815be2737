"""Retention: drop whole monthly article indices older than a cut-off, and the
documents older than it from the indices that are not monthly.

Those (`alerts`, `alert_claims`, `deadletters`) take one document per alert,
delivery attempt or dead letter and would otherwise grow for ever. Their
documents are deleted by id, page by page (this node has no delete-by-query:
that is the reindex module's). An alert claim is safe to drop a month later:
a story lasts at most days (`StoryIndex.max_age_s`), so no copy of it can ask
for the same alert id again. Digest items still pending are kept, whatever
their age: nothing accepted is dropped before it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import structlog
from elasticsearch import Elasticsearch

from processors.es.layout import ArticleLayout, index_month, month_end
from wirewatch.names import Indices

log = structlog.get_logger(__name__)


DELETE_PAGE = 5_000
MAX_DELETE_PAGES = 10_000     # a bound on one run: 50 million documents per index


@dataclass(frozen=True)
class PrunePlan:
    cutoff: datetime
    delete: list[str]
    keep: list[str]
    documents: dict[str, int] = field(default_factory=dict)   # index -> documents deleted (or, dry, to delete)


@dataclass(frozen=True)
class AgedDocuments:
    """The documents of a non-monthly index older than a cut-off: any of `dates` before it."""

    index: str
    dates: tuple[str, ...]
    keep_pending: bool = False    # digest items waiting to be sent stay

    def query(self, cutoff: datetime) -> dict:
        old = {"bool": {"should": [{"range": {name: {"lt": cutoff.isoformat()}}} for name in self.dates],
                        "minimum_should_match": 1}}
        if self.keep_pending:
            old["bool"]["must_not"] = [{"term": {"state": "pending"}}]
        return old


def aged_documents(indices: Indices) -> list[AgedDocuments]:
    return [AgedDocuments(indices.alerts, ("recorded_at", "queued_at"), keep_pending=True),
            AgedDocuments(indices.alert_claims, ("claimed_at", "hour")),  # alert and digest claims, rate counters
            AgedDocuments(indices.dead_letters, ("failed_at",))]


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
    documents = {aged.index: prune_documents(es, aged, plan.cutoff, dry_run=dry_run) for aged in aged_documents(indices)}
    return replace(plan, documents=documents)


def prune_documents(es: Elasticsearch, aged: AgedDocuments, cutoff: datetime, *, dry_run: bool = False) -> int:
    """Delete (dry: count) the documents of `aged.index` older than `cutoff`; 0 when the index does not exist."""
    query = aged.query(cutoff)
    if dry_run:
        return es.count(index=aged.index, query=query, ignore_unavailable=True, allow_no_indices=True)["count"]
    deleted = 0
    for _ in range(MAX_DELETE_PAGES):
        hits = es.search(index=aged.index, query=query, size=DELETE_PAGE, sort=["_doc"], source=False,
                         ignore_unavailable=True, allow_no_indices=True)["hits"]["hits"]
        if not hits:
            break
        response = es.bulk(operations=[{"delete": {"_index": hit["_index"], "_id": hit["_id"]}} for hit in hits],
                           refresh=True)  # the next page's search must not see these again
        page = sum(1 for item in response["items"] if item["delete"].get("status") in (200, 404))
        if page == 0:  # every delete refused: the next search would return the same page again
            raise RuntimeError(f"deleting old documents of {aged.index} failed: {response['items'][0]['delete'].get('error')}")
        deleted += page
    if deleted:
        log.info("es.prune.documents_deleted", index=aged.index, deleted=deleted, cutoff=cutoff.isoformat())
    return deleted
