"""Turning an alert's highlights and fields into safe text (pure).

Highlights come from Elasticsearch's ``html`` encoder: article text escaped,
matched terms wrapped in ``<em>...</em>``. ``highlight_parts`` splits such a
fragment back into (text, marked) pieces of plain text, so each channel can
escape for its own format (HTML, Slack mrkdwn, plain text).
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

_EM_SPLIT = re.compile(r"(<em>.*?</em>)", re.S)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def highlight_parts(fragment: str) -> list[tuple[str, bool]]:
    parts = []
    for piece in _EM_SPLIT.split(fragment):
        if not piece:
            continue
        marked = piece.startswith("<em>") and piece.endswith("</em>")
        text = piece[4:-5] if marked else piece
        parts.append((html.unescape(text), marked))
    return parts


def plain_highlight(fragment: str) -> str:
    return clean("".join(f"[{t}]" if marked else t for t, marked in highlight_parts(fragment)))


def html_highlight(fragment: str) -> str:
    return "".join(f"<mark>{html.escape(t)}</mark>" if marked else html.escape(t) for t, marked in highlight_parts(fragment))


def clean(text: str, limit: int = 2000) -> str:
    """No control characters, bounded length."""
    text = _CONTROL.sub(" ", text or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, limit: int = 300) -> str:
    """For headers and titles: no line breaks (header injection), bounded."""
    return clean(" ".join((text or "").split()), limit)


def safe_link(url: str) -> str | None:
    """The URL when it is http(s); None for anything else (javascript:, data:)."""
    try:
        scheme = urlsplit(url or "").scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None
