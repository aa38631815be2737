"""Every delivery, recorded in the ``alerts`` index (Kibana, `wirewatch alerts list`).

One document per (alert, channel): ``_id`` = alert id + channel target hash, so
a replayed delivery overwrites its record instead of doubling it. The record
carries the alert's fields (flat, for Kibana) and the outcome.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from wirewatch.names import Indices
from wirewatch.schema import Alert

ALERTS_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "alert_id": {"type": "keyword"},
        "subscription_id": {"type": "keyword"},
        "subscription_name": {"type": "keyword", "ignore_above": 256},
        "owner": {"type": "keyword"},
        "query": {"type": "keyword", "ignore_above": 2048},
        "article_id": {"type": "keyword"},
        "story_id": {"type": "keyword"},
        "title": {"type": "text"},
        "url": {"type": "keyword", "ignore_above": 2048},
        "source": {"type": "keyword", "ignore_above": 256},
        "published_at": {"type": "date"},
        "matched_at": {"type": "date"},
        "produced_at": {"type": "date"},
        "topics": {"type": "keyword"},
        "entities": {"type": "keyword", "ignore_above": 256},
        "matched_terms": {"type": "keyword", "ignore_above": 256},
        "highlights": {"type": "text", "index": False},
        "kibana_url": {"type": "keyword", "index": False},
        "channel": {"type": "keyword"},
        "target": {"type": "keyword"},
        "ok": {"type": "boolean"},
        "disabled": {"type": "boolean"},
        "attempts": {"type": "integer"},
        "status": {"type": "integer"},
        "error": {"type": "text"},
        "delivery_seconds": {"type": "float"},
        "recorded_at": {"type": "date"},
    },
}


def record_id(alert: Alert, result) -> str:
    digest = hashlib.sha256(f"{result.channel}\x00{result.target}".encode("utf-8")).hexdigest()[:12]
    return f"{alert.id}-{digest}"


def delivery_record(alert: Alert, result, now: datetime | None = None) -> dict[str, Any]:
    return {
        "alert_id": alert.id,
        "subscription_id": alert.subscription_id,
        "subscription_name": alert.subscription_name,
        "owner": alert.owner,
        "query": alert.query,
        "article_id": alert.article_id,
        "story_id": alert.story_id,
        "title": alert.title,
        "url": alert.url,
        "source": alert.source,
        "published_at": alert.published_at.isoformat(),
        "matched_at": alert.matched_at.isoformat(),
        "produced_at": alert.produced_at.isoformat() if alert.produced_at else None,
        "topics": alert.topics,
        "entities": alert.entities,
        "matched_terms": alert.matched_terms,
        "highlights": alert.highlights,
        "kibana_url": alert.kibana_url,
        "channel": result.channel,
        "target": result.target,
        "ok": result.ok,
        "disabled": result.disabled,
        "attempts": result.attempts,
        "status": result.status,
        "error": result.error,
        "delivery_seconds": round(result.seconds, 4),
        "recorded_at": (now or datetime.now(timezone.utc)).isoformat(),
    }


def _index_body() -> dict[str, Any]:
    return {"mappings": ALERTS_MAPPING, "settings": {"number_of_shards": 1, "number_of_replicas": 0}}


def ensure_alerts_index(es, indices: Indices) -> None:
    if not es.indices.exists(index=indices.alerts):
        es.options(ignore_status=400).indices.create(index=indices.alerts, **_index_body())  # 400: a racer created it


# Alerts indices this process has seen exist: one `exists` request per
# delivery was a tenth of the deliver agent's time. Bounded (names only).
_KNOWN_ALERTS_INDICES: set[str] = set()
MAX_KNOWN_INDICES = 1000


async def ensure_alerts_index_async(es, indices: Indices) -> None:
    if indices.alerts in _KNOWN_ALERTS_INDICES:
        return
    if not await es.indices.exists(index=indices.alerts):
        await es.options(ignore_status=400).indices.create(index=indices.alerts, **_index_body())
    if len(_KNOWN_ALERTS_INDICES) >= MAX_KNOWN_INDICES:
        _KNOWN_ALERTS_INDICES.clear()
    _KNOWN_ALERTS_INDICES.add(indices.alerts)


def record_delivery(es, indices: Indices, alert: Alert, result, *, refresh: bool = False) -> None:
    """Write the record with a sync client."""
    ensure_alerts_index(es, indices)
    es.index(index=indices.alerts, id=record_id(alert, result), document=delivery_record(alert, result), refresh=refresh)


async def record_delivery_async(es, indices: Indices, alert: Alert, result, *, refresh: bool = False) -> None:
    """Write the record with an AsyncElasticsearch client (the Faust agent)."""
    await ensure_alerts_index_async(es, indices)
    await es.index(index=indices.alerts, id=record_id(alert, result), document=delivery_record(alert, result), refresh=refresh)
