"""`wirewatch tokens ...` against the real Elasticsearch."""

import argparse

import pytest

from processors import api_cli
from processors.tokens import TokenStore, token_id_of

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(settings, monkeypatch, es):
    monkeypatch.setenv("WIREWATCH_ES_INDEX_PREFIX", settings.es.index_prefix)
    parser = argparse.ArgumentParser()
    api_cli.register(parser.add_subparsers(dest="command"))

    def run(*argv):
        args = parser.parse_args(list(argv))
        return args.func(args)

    return run


def test_create_list_revoke(cli, capsys, es, indices):
    assert cli("tokens", "create", "--owner", "ana", "--label", "laptop") == 0
    captured = capsys.readouterr()
    token = captured.out.strip().splitlines()[-1]
    token_id = token_id_of(token)
    assert token_id and "shown once" in captured.err
    store = TokenStore(es, indices)
    assert store.owner_of(token) == "ana"
    stored = es.get(index=indices.api_tokens, id=token_id)["_source"]
    assert token not in str(stored) and stored["hash"] != token   # only the hash is kept

    assert cli("tokens", "list") == 0
    listed = capsys.readouterr().out
    assert token_id in listed and "active" in listed and "laptop" in listed and token not in listed

    assert cli("tokens", "revoke", token_id) == 0
    assert store.owner_of(token) is None
    assert cli("tokens", "list", "--owner", "ana") == 0
    assert "revoked" in capsys.readouterr().out
    assert cli("tokens", "revoke", "000000000000") == 1
    assert cli("tokens", "create", "--owner", "two words") == 2
    assert "owner" in capsys.readouterr().err
