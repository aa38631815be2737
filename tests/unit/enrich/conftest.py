"""Fixtures of the enrichment unit tests: the shared corpus (optional) and a
short text of our own, so that something always runs without ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"

# Written for these tests (not copied from any outlet).
FIXTURE_TITLE = "Opposition leader freed as Venezuela's National Guard withdraws"
FIXTURE_BODY = """\
CARACAS - Venezuelan opposition leader María Elena Cordero was released from a military prison on Tuesday, \
her lawyers said, after three years in detention that rights groups called politically motivated.

President Nicolás Maduro said the release was part of talks with the opposition, mediated by Norway. \
The Bolivarian National Guard (GNB) withdrew its troops from the streets of Caracas and Maracaibo.

Cordero, 54, told supporters outside the prison that political prisoners must all be freed. \
"Political prisoners are still in jail," Cordero said. Her husband, Andrés Pineda, thanked the Colombian government.

Oil prices rose two percent on the news, and the central bank said inflation had slowed.
"""


def native(function):
    """A function of the C module processors/enrich/_ctext.c, or a skip when it was not
    built (no C compiler at install time); under CI=true, where it must be, a failure."""
    if function is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: processors/enrich/_ctext.c was not built (pip install -e . needs a C compiler)")
        pytest.skip("processors/enrich/_ctext.c was not built: no C compiler at install time")
    return function


def corpus_path(*parts: str) -> Path:
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/corpus not present: {'/'.join(parts)} not run")
    return path


@pytest.fixture(scope="session")
def sample_article() -> tuple[str, str]:
    """(title, body) of ../shared/corpus/sample-article.txt (which has no title line)."""
    text = corpus_path("sample-article.txt").read_text(encoding="utf-8")
    return "Venezuelan sergeant calls on soldiers to rise up against Maduro", text


@pytest.fixture(scope="session")
def fixture_article() -> tuple[str, str]:
    return FIXTURE_TITLE, FIXTURE_BODY


@pytest.fixture(scope="session")
def enricher():
    from processors.enrich.pipeline import Enricher

    return Enricher(update_stats=False)
