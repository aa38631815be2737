"""`wirewatch es setup`, `search`, `es prune` as a user runs them."""

from __future__ import annotations

import asyncio
import json

import pytest

from processors.es.client import make_async_client
from processors.es.samples import make_article
from processors.indexer import index_batch
from wirewatch.cli import main

pytestmark = pytest.mark.integration


def test_setup_search_and_prune_commands(es, settings, indices, monkeypatch, capsys):
    monkeypatch.setenv("WIREWATCH_ES_INDEX_PREFIX", settings.es.index_prefix)
    monkeypatch.setenv("WIREWATCH_ES_URL", settings.es.url)

    assert main(["es", "setup"]) == 0
    out = capsys.readouterr().out
    assert f"write alias {indices.articles}-write -> {indices.articles}-" in out

    async def index():
        client = make_async_client(settings.es)
        try:
            return await index_batch(client, indices, [make_article()], refresh=True)
        finally:
            await client.close()

    assert asyncio.run(index()).all_ok

    assert main(["search", '"armed forces" AND maduro', "--topic", "politics", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total"] == 1
    assert result["hits"][0]["title"] == "Venezuelan sergeant calls on soldiers to rise against Maduro"
    assert any("<em>" in h for h in result["hits"][0]["highlights"])

    assert main(["search", "maduro", "--lang", "de"]) == 0
    assert capsys.readouterr().out.startswith("0 article(s)")

    assert main(["search", "maduro AND ("]) == 2
    assert "column 12" in capsys.readouterr().err

    assert main(["es", "prune", "--older-than", "90d", "--dry-run"]) == 0
    assert "would delete 0 index(es)" in capsys.readouterr().out
