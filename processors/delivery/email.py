"""Email channel: one message per alert over SMTP, plain text + HTML, every
article field escaped (HTML) or stripped of control characters (text, headers).

The SMTP server is the channel's ``url`` (``smtp://host:port``), checked with
the same address rules as webhooks; recipients are ``channel.to``. smtplib
runs in a thread (aiosmtplib is not a dependency), with a deadline.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from processors.delivery.formatting import clean, html_highlight, one_line, plain_highlight, safe_link
from wirewatch.schema import Alert, ChannelSpec

FROM_ADDRESS = "Wirewatch <wirewatch@localhost>"  # the default of settings.alerts.email_from
MAX_RECIPIENTS = 50


class EmailTargetInvalid(ValueError):
    """A channel whose SMTP URL or recipients cannot be used (not retried)."""


def smtp_target(channel: ChannelSpec) -> tuple[str, int]:
    url = channel.url or "smtp://127.0.0.1:25"
    try:
        parts = urlsplit(url)
        port = parts.port or 25
    except ValueError as exc:
        raise EmailTargetInvalid(f"SMTP url: {exc}") from None
    if parts.scheme.lower() != "smtp" or not parts.hostname:
        raise EmailTargetInvalid(f"SMTP url must look like smtp://host:port, not {url[:100]!r}")
    return parts.hostname, port


def recipients(channel: ChannelSpec) -> list[str]:
    to = [one_line(r, 254) for r in channel.to if r and r.strip()]
    if not to:
        raise EmailTargetInvalid("email channel has no recipient")
    if len(to) > MAX_RECIPIENTS:
        raise EmailTargetInvalid(f"more than {MAX_RECIPIENTS} recipients")
    bad = [r for r in to if "@" not in r or any(c in r for c in " <>,;\"")]
    if bad:
        raise EmailTargetInvalid(f"not an email address: {bad[0]!r}")
    return to


def envelope(subject: str, to: list[str], sender: str, id_header: str, item_id: str,
             text: str, html: str) -> EmailMessage:
    """A text + HTML message; alerts and digests differ only in subject, id header and bodies."""
    msg = EmailMessage()
    msg["Subject"] = one_line(f"[Wirewatch] {subject}", 200)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=item_id[:16], domain="wirewatch.local")
    msg[id_header] = item_id
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def message(alert: Alert, to: list[str], sender: str = FROM_ADDRESS) -> EmailMessage:
    return envelope(f"{alert.subscription_name}: {alert.title}", to, sender, "X-Wirewatch-Alert-Id", alert.id,
                    text_body(alert), html_body(alert))


def text_body(alert: Alert) -> str:
    lines = [
        one_line(alert.title) or "(no title)",
        clean(alert.url, 2048),
        "",
        *(f"  … {plain_highlight(h)} …" for h in alert.highlights),
        "",
        f"Source: {one_line(alert.source)}",
        f"Published: {alert.published_at:%Y-%m-%d %H:%M} UTC",
        f"Topics: {one_line(', '.join(alert.topics))}",
        f"Entities: {one_line(', '.join(alert.entities))}",
        f"Subscription: {one_line(alert.subscription_name)} ({one_line(alert.query)})",
    ]
    if alert.kibana_url:
        lines.append(f"Kibana: {clean(alert.kibana_url, 4096)}")
    return "\n".join(lines) + "\n"


def _a(url: str, label: str) -> str:
    safe = safe_link(url)
    if safe is None:
        return html.escape(label)
    return f'<a href="{html.escape(safe, quote=True)}">{html.escape(label)}</a>'


def html_body(alert: Alert) -> str:
    esc = html.escape
    title = one_line(alert.title) or "(no title)"
    highlights = "".join(f"<blockquote>{html_highlight(h)}</blockquote>" for h in alert.highlights)
    rows = [
        ("Source", esc(one_line(alert.source))),
        ("Published", esc(f"{alert.published_at:%Y-%m-%d %H:%M} UTC")),
        ("Topics", esc(", ".join(alert.topics))),
        ("Entities", esc(", ".join(alert.entities))),
        ("Subscription", f"{esc(one_line(alert.subscription_name))} <code>{esc(one_line(alert.query))}</code>"),
    ]
    table = "".join(f"<tr><th align=\"left\">{k}</th><td>{v}</td></tr>" for k, v in rows)
    kibana = f"<p>{_a(alert.kibana_url, 'Open in Kibana')}</p>" if alert.kibana_url else ""
    return (
        "<!doctype html><html><body>"
        f"<h2>{_a(alert.url, title)}</h2>{highlights}<table>{table}</table>{kibana}"
        "</body></html>"
    )


def send_blocking(address: str, port: int, helo_host: str, msg: EmailMessage, to: list[str], timeout_s: float) -> None:
    """Connect to the checked ``address``; raises smtplib/OSError exceptions."""
    with smtplib.SMTP(address, port, timeout=timeout_s) as smtp:
        smtp.ehlo_or_helo_if_needed()
        smtp.send_message(msg, to_addrs=to)


async def send(address: str, port: int, host: str, msg: EmailMessage, to: list[str], timeout_s: float) -> None:
    await asyncio.wait_for(asyncio.to_thread(send_blocking, address, port, host, msg, to, timeout_s), timeout_s * 2)
