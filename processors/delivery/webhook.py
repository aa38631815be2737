"""Generic webhook channel: the alert as JSON, signed as Standard Webhooks does
(see signing.py). The body is the same bytes on every attempt; only
``webhook-timestamp`` and the signature change; ``webhook-id`` is the alert id,
so a receiver that saw it already can drop the retry."""

from __future__ import annotations

import json
from typing import Any

from processors.delivery.signing import signature_headers
from wirewatch.schema import Alert, ChannelSpec

EVENT_TYPE = "alert.matched"


def payload(alert: Alert) -> dict[str, Any]:
    return {
        "type": EVENT_TYPE,
        "timestamp": alert.matched_at.isoformat(),
        "data": json.loads(alert.to_json()),
    }


def body(alert: Alert) -> bytes:
    return json.dumps(payload(alert), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def request(alert: Alert, channel: ChannelSpec, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of one attempt."""
    content = body(alert)
    return content, signature_headers(alert.id, content, channel.secret, timestamp)
