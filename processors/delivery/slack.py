"""Slack-compatible incoming webhook channel (also Mattermost, Rocket.Chat,
Discord's /slack endpoint): ``{"text": ..., "blocks": [...]}``.

Slack's mrkdwn gives ``&``, ``<`` and ``>`` a meaning, so every article field
is escaped; links are written ``<url|label>`` only for http(s) URLs."""

from __future__ import annotations

import json
from typing import Any

from processors.delivery.formatting import clean, highlight_parts, one_line, safe_link
from wirewatch.schema import Alert

MAX_HIGHLIGHTS = 3


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    safe = safe_link(url)
    if safe is None:
        return escape(label)
    return f"<{escape(safe).replace('|', '%7C')}|{escape(label)}>"


def _highlight(fragment: str) -> str:
    # mrkdwn bold needs no spaces just inside the asterisks
    return clean("".join(f"*{escape(t.strip())}*" if marked and t.strip() else escape(t) for t, marked in highlight_parts(fragment)), 600)


def payload(alert: Alert) -> dict[str, Any]:
    title = one_line(alert.title) or "(no title)"
    headline = f"*{escape(one_line(alert.subscription_name, 100))}*: {_link(alert.url, title)}"
    lines = [f"> {_highlight(h)}" for h in alert.highlights[:MAX_HIGHLIGHTS]]
    context = [f"source: {escape(one_line(alert.source, 100))}", f"published: {alert.published_at:%Y-%m-%d %H:%M} UTC"]
    if alert.topics:
        context.append("topics: " + escape(", ".join(alert.topics[:8])))
    if alert.entities:
        context.append("entities: " + escape(one_line(", ".join(alert.entities[:8]), 200)))
    if alert.kibana_url:
        context.append(_link(alert.kibana_url, "open in Kibana"))
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join([headline, *lines])}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
    ]
    return {"text": f"{escape(one_line(alert.subscription_name, 100))}: {escape(title)}", "blocks": blocks}


def body(alert: Alert) -> bytes:
    return json.dumps(payload(alert), ensure_ascii=False).encode("utf-8")
