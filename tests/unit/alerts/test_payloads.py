"""Every article field is escaped in what channels send (hostile feeds)."""

import json
from datetime import datetime, timezone

import pytest

from processors.delivery import email as email_channel
from processors.delivery import slack, webhook
from processors.delivery.formatting import highlight_parts
from wirewatch.schema import Alert, ChannelSpec

EVIL = '<script>alert("x")</script> & <b>bold</b>'


def _alert(**overrides) -> Alert:
    fields = dict(
        id="a1", subscription_id="s1", subscription_name=f"sub {EVIL}", owner="o", query="maduro",
        article_id="art", story_id="st", title=f"Title {EVIL}\r\nBcc: victim@example.org",
        url="https://news.example.org/a?x=1&y=<2>", source=f"src {EVIL}",
        published_at=datetime(2017, 5, 20, tzinfo=timezone.utc),
        highlights=["calls on <em>soldiers</em> &lt;script&gt; &amp; more"],
        topics=[f"topic {EVIL}"], entities=[f"ent {EVIL}"], kibana_url="http://127.0.0.1:5601/app/discover#/?x='a'",
    )
    fields.update(overrides)
    return Alert(**fields)


def test_highlight_parts_unescape_and_mark():
    assert highlight_parts("a <em>b</em> &lt;c&gt;") == [("a ", False), ("b", True), (" <c>", False)]


def test_html_email_escapes_every_field():
    html = email_channel.html_body(_alert())
    assert "<script>" not in html and "<b>bold" not in html
    assert "&lt;script&gt;" in html
    assert "<mark>soldiers</mark>" in html
    assert 'href="https://news.example.org/a?x=1&amp;y=&lt;2&gt;"' in html


def test_html_email_drops_non_http_links():
    html = email_channel.html_body(_alert(url="javascript:alert(1)", kibana_url="data:text/html,x"))
    assert "javascript:" not in html and "data:text" not in html


def test_email_headers_cannot_be_injected():
    msg = email_channel.message(_alert(), ["ana@example.org"])
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg["Bcc"] is None
    text = msg.get_body(("plain",)).get_content()
    assert "[soldiers]" in text and "<script>" in text  # plain text carries the text as is
    assert msg.get_body(("html",)) is not None


@pytest.mark.parametrize("to", [[], ["not-an-address"], ["a@b.c, evil@x.y"], ["a@b.c>"]])
def test_bad_recipients_refused(to):
    with pytest.raises(email_channel.EmailTargetInvalid):
        email_channel.recipients(ChannelSpec(type="email", to=to))


def test_slack_escapes_control_characters_of_mrkdwn():
    payload = slack.payload(_alert())
    text = json.dumps(payload)
    assert "<script>" not in text and "<b>" not in text
    section = payload["blocks"][0]["text"]["text"]
    assert "&lt;script&gt;" in section
    assert "<https://news.example.org/a?x=1&amp;y=&lt;2&gt;|Title" in section
    assert "*soldiers*" in section
    assert "\r" not in payload["text"] and "\n" not in payload["text"]


def test_slack_does_not_link_non_http_urls():
    section = slack.payload(_alert(url="javascript:alert(1)"))["blocks"][0]["text"]["text"]
    assert "<javascript:" not in section


def test_webhook_body_is_the_alert_and_stable_across_attempts():
    alert = _alert()
    channel = ChannelSpec(type="webhook", url="https://h.example/x", secret="k")
    body1, headers1 = webhook.request(alert, channel, timestamp=1)
    body2, headers2 = webhook.request(alert, channel, timestamp=2)
    assert body1 == body2 and json.loads(body1)["data"]["title"] == alert.title
    assert headers1["webhook-id"] == headers2["webhook-id"] == "a1"
    assert headers1["webhook-signature"] != headers2["webhook-signature"]
