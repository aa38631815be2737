"""Pure helpers of `wirewatch subs` / `alerts`."""

import argparse
from datetime import datetime, timezone

import pytest

from processors.alerts_cli import alerts_query, dry_run_request, masked, new_subscription_id, register
from wirewatch.schema import ChannelSpec, Subscription, SubscriptionFilters


def test_secrets_and_slack_paths_are_masked():
    sub = Subscription(id="s", name="n", query="q", channels=[
        ChannelSpec(type="webhook", url="https://h.example/hook", secret="whsec_abc"),
        ChannelSpec(type="slack", url="https://hooks.slack.example/services/T000/B000/XXXX"),
    ])
    doc = masked(sub)
    assert doc["channels"][0]["secret"] == "********"
    assert doc["channels"][0]["url"] == "https://h.example/hook"
    assert doc["channels"][1]["url"] == "https://hooks.slack.example/********"
    assert sub.channels[0].secret == "whsec_abc"  # the subscription itself is untouched


def test_generated_ids_are_readable_and_unique():
    first, second = new_subscription_id("Venezuela: army & Maduro!"), new_subscription_id("Venezuela: army & Maduro!")
    assert first.startswith("venezuela-army-maduro-") and first != second
    assert new_subscription_id("???").startswith("sub-")


def test_alerts_query_filters():
    assert alerts_query(None, None, False) == {"bool": {"filter": []}}
    assert alerts_query("s1", "ana", True)["bool"]["filter"] == [
        {"term": {"subscription_id": "s1"}}, {"term": {"owner": "ana"}}, {"term": {"ok": False}}]


def test_dry_run_uses_the_matchers_query_and_filters():
    sub = Subscription(id="t", name="t", query="maduro", filters=SubscriptionFilters(languages=["en"]))
    since = datetime(2026, 1, 1, tzinfo=timezone.utc)
    body = dry_run_request(sub, since, 5)
    filters = body["query"]["bool"]["filter"]
    assert {"terms": {"language": ["en"]}} in filters
    assert {"range": {"published_at": {"gte": since.isoformat()}}} in filters
    assert body["query"]["bool"]["must"][0]["query_string"]["query"] == "maduro"
    assert body["size"] == 5 and "per_day" in body["aggs"]


@pytest.mark.parametrize("argv", [["subs", "add", "n", "q"], ["subs", "list"], ["subs", "show", "x"], ["subs", "rm", "x"],
                                  ["subs", "test", "q", "--since", "2d"], ["alerts", "list", "--failed"]])
def test_every_verb_parses(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    assert callable(parser.parse_args(argv).func)
