"""What `SubscriptionStore.put` refuses before touching Elasticsearch."""

import pytest

from processors.query_validation import QueryRejected
from processors.subscriptions import SubscriptionInvalid, check, needs_delivery, without_channel
from wirewatch.schema import ChannelSpec, Subscription


def _sub(**overrides):
    fields = dict(id="s1", name="n", query="maduro")
    fields.update(overrides)
    return Subscription(**fields)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"id": "a/b"}, "no slash"),
        ({"id": "x" * 129}, "1-128"),
        ({"name": " "}, "name"),
        ({"channels": [ChannelSpec(type="webhook")]}, "needs a url"),
        ({"channels": [ChannelSpec(type="webhook", url="ftp://h/x")]}, "http(s)"),
        ({"channels": [ChannelSpec(type="webhook", url="https://h/x", secret="whsec_!!")]}, "base64"),
        ({"channels": [ChannelSpec(type="email", to=[])]}, "recipient"),
        ({"channels": [ChannelSpec(type="email", to=["a@b.c"], url="http://h")]}, "smtp://"),
    ],
)
def test_refused(overrides, message):
    with pytest.raises(SubscriptionInvalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(_sub(**overrides))


def test_bad_query_is_refused_with_position():
    with pytest.raises(QueryRejected) as caught:
        check(_sub(query="maduro AND"))
    assert caught.value.position == 7


def test_accepted():
    check(_sub(channels=[ChannelSpec(type="webhook", url="https://h.example/x", secret="whsec_c2VjcmV0"),
                         ChannelSpec(type="email", to=["ana@example.org"], url="smtp://mail.example.org:2525")]))


def test_without_channel():
    a, b = ChannelSpec(url="https://a/x"), ChannelSpec(url="https://b/x")
    updated = without_channel(_sub(channels=[a, b]), "https://a/x")
    assert [c.disabled for c in updated.channels] == [True, False]
    assert updated.active is True
    assert without_channel(updated, "https://a/x") is None  # already disabled
    assert without_channel(_sub(channels=[a]), "https://a/x").active is False
    assert without_channel(_sub(channels=[a]), "https://zzz/x") is None


def test_only_alerts_the_deliver_agent_has_work_for_go_to_it():
    sub = _sub
    hook = ChannelSpec(type="webhook", url="https://hooks.example.org/x")
    assert needs_delivery(sub(channels=[hook]))
    assert needs_delivery(sub(channels=[ChannelSpec(type="email", to=["a@example.org"])]))
    assert not needs_delivery(sub(channels=[ChannelSpec(type="kafka")]))  # the alerts topic is that channel
    assert not needs_delivery(sub(channels=[]))
    assert not needs_delivery(sub(channels=[hook.model_copy(update={"disabled": True})]))  # 410 Gone
    assert needs_delivery(sub(channels=[ChannelSpec(type="kafka")], mode="daily"))  # queued for its digest
    assert needs_delivery(sub(channels=[], max_per_hour=5))  # counted against its cap
