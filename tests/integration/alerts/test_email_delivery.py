"""Email delivery to a real SMTP conversation on 127.0.0.1 (a minimal server
written here: the SMTP commands smtplib sends, nothing more)."""

import asyncio
import email
from datetime import datetime, timezone
from email import policy

import pytest

from processors.delivery import deliver
from wirewatch.schema import Alert, ChannelSpec

pytestmark = pytest.mark.integration


class MiniSMTP:
    """Accepts mail; ``reject_rcpt`` answers RCPT with that code (e.g. 450, 550)."""

    def __init__(self, reject_rcpt: int | None = None):
        self.reject_rcpt = reject_rcpt
        self.messages: list[bytes] = []
        self.rcpt_attempts = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(line: str) -> None:
            writer.write((line + "\r\n").encode())
            await writer.drain()

        await reply("220 mini ESMTP")
        while line := await reader.readline():
            command = line.decode(errors="replace").strip().upper()
            if command.startswith(("EHLO", "HELO")):
                await reply("250 mini")
            elif command.startswith("MAIL FROM"):
                await reply("250 ok")
            elif command.startswith("RCPT TO"):
                self.rcpt_attempts += 1
                await reply(f"{self.reject_rcpt} no" if self.reject_rcpt else "250 ok")
            elif command == "DATA":
                await reply("354 go on")
                data = b""
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    data += chunk
                self.messages.append(data)
                await reply("250 queued")
            elif command in ("RSET", "NOOP"):
                await reply("250 ok")
            elif command == "QUIT":
                await reply("221 bye")
                break
            else:
                await reply("502 not implemented")
        writer.close()


def _alert() -> Alert:
    return Alert(
        id="alert-mail-1", subscription_id="s", subscription_name="Venezuela", owner="ana", query="maduro",
        article_id="a", story_id="a", title="<b>Maduro</b> & the soldiers", url="https://news.example.org/a",
        source="news.example.org", published_at=datetime(2017, 5, 20, tzinfo=timezone.utc),
        highlights=["<em>Maduro</em> &lt;script&gt;"],
    )


async def _deliver(server: MiniSMTP, settings):
    smtp = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = smtp.sockets[0].getsockname()[1]
    sleeps = []

    async def fake_sleep(seconds):
        sleeps.append(seconds)

    try:
        channel = ChannelSpec(type="email", url=f"smtp://127.0.0.1:{port}", to=["ana@example.org"])
        return await deliver(_alert(), channel, settings, sleep=fake_sleep)
    finally:
        smtp.close()
        await smtp.wait_closed()


def test_email_is_delivered_with_text_and_escaped_html(settings):
    server = MiniSMTP()
    result = asyncio.run(_deliver(server, settings))
    assert result.ok and result.attempts == 1 and result.status == 250
    assert len(server.messages) == 1
    msg = email.message_from_bytes(server.messages[0], policy=policy.default)
    assert msg["X-Wirewatch-Alert-Id"] == "alert-mail-1"
    html = msg.get_body(("html",)).get_content()
    assert "&lt;b&gt;Maduro&lt;/b&gt; &amp; the soldiers" in html and "<b>Maduro" not in html
    assert "<mark>Maduro</mark> &lt;script&gt;" in html
    assert "<b>Maduro</b> & the soldiers" in msg.get_body(("plain",)).get_content()


def test_temporary_smtp_refusal_is_retried_permanent_is_not(settings):
    temporary = MiniSMTP(reject_rcpt=450)
    result = asyncio.run(_deliver(temporary, settings))
    assert not result.ok and result.attempts == settings.alerts.max_attempts == temporary.rcpt_attempts
    permanent = MiniSMTP(reject_rcpt=550)
    result = asyncio.run(_deliver(permanent, settings))
    assert not result.ok and result.attempts == 1 and permanent.rcpt_attempts == 1
