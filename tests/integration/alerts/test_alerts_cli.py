"""The `subs` and `alerts` verbs against the real Elasticsearch."""

import argparse
import asyncio

import pytest

from processors import alerts_cli
from processors.es.templates import ensure_articles_index, ensure_templates
from processors.indexer import index_batch

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(settings, monkeypatch, es):
    monkeypatch.setenv("WIREWATCH_ES_INDEX_PREFIX", settings.es.index_prefix)
    parser = argparse.ArgumentParser()
    alerts_cli.register(parser.add_subparsers(dest="command"))

    def run(*argv):
        args = parser.parse_args(list(argv))
        return args.func(args)

    return run


def _line_starting(out: str, prefix: str) -> bool:
    return any(line.startswith(prefix) for line in out.splitlines())


def test_add_list_show_rm(cli, capsys):
    assert cli("subs", "add", "Venezuela", "maduro AND (military OR soldiers)", "--id", "ven",
               "--webhook", "http://127.0.0.1:9/hook", "--secret", "whsec_c2VjcmV0", "--lang", "en") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ven"  # log lines may come first
    assert cli("subs", "list") == 0
    out = capsys.readouterr().out
    assert "ven" in out and "1 subscription(s)" in out
    assert cli("subs", "show", "ven") == 0
    shown = capsys.readouterr().out
    assert "whsec_c2VjcmV0" not in shown and "********" in shown
    assert cli("subs", "rm", "ven") == 0
    assert cli("subs", "rm", "ven") == 1
    assert cli("subs", "show", "ven") == 1


def test_add_refuses_a_bad_query_with_its_position(cli, capsys):
    assert cli("subs", "add", "bad", "maduro AND *ilitary") == 2
    err = capsys.readouterr().err
    assert "position 11" in err and "^" in err
    assert cli("subs", "list") == 0
    assert "0 subscription(s)" in capsys.readouterr().out


def test_subs_test_counts_what_the_query_finds(cli, capsys, es, indices, make_article, sample_like_article, settings):
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    fresh = [a.model_copy(update={"published_at": now, "fetched_at": now}) for a in (
        sample_like_article,
        make_article("https://news.example.org/other", "Budget talks", "Parliament debated the budget."),
    )]
    ensure_templates(es, indices)
    ensure_articles_index(es, indices)

    async def index(aes_settings=settings.es):
        from processors.es.client import make_async_client

        client = make_async_client(aes_settings)
        try:
            return await index_batch(client, indices, fresh, refresh=True)
        finally:
            await client.close()

    assert asyncio.run(index()).all_ok
    assert cli("subs", "test", "maduro AND (military OR soldiers)", "--since", "1d") == 0
    out = capsys.readouterr().out
    assert _line_starting(out, "1 article(s)")
    assert "sergeant" in out.lower()
    assert cli("subs", "test", "maduro", "--since", "1d", "--lang", "fr") == 0
    assert _line_starting(capsys.readouterr().out, "0 article(s)")


def test_alerts_list_reads_the_records(cli, capsys, es, indices):
    from datetime import datetime, timezone

    from processors.delivery import DeliveryResult, record_delivery
    from wirewatch.schema import Alert

    alert = Alert(id="a1", subscription_id="ven", subscription_name="Venezuela", owner="ana", query="maduro",
                  article_id="x", story_id="x", title="A title", url="https://e.org/x", source="e.org",
                  published_at=datetime(2017, 5, 20, tzinfo=timezone.utc))
    record_delivery(es, indices, alert, DeliveryResult(False, 5, 500, error="HTTP 500", channel="webhook", target="http://h"), refresh=True)
    assert cli("alerts", "list") == 0
    out = capsys.readouterr().out
    assert "FAILED" in out and "A title" in out and "1 deliveries recorded" in out
    assert cli("alerts", "list", "--subscription", "other") == 0
    assert "0 deliveries recorded" in capsys.readouterr().out
