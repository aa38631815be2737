import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from processors.enrich.story import BANDS, StoryIndex, signature, signature_of_words
from processors.enrich.text import Analysis
from wirewatch.schema import Article, Source

from .conftest import FIXTURE_BODY, FIXTURE_TITLE

OTHER_BODY = """\
The city council approved a budget that raises spending on schools and roads, after a debate that lasted \
late into the night and ended with a narrow vote among the members of the ruling party.

Teachers welcomed the extra money for classrooms, while business groups said local taxes would have to rise \
next year to pay for the plan, and called for an independent review of the costs.
"""
BOILERPLATE = "Sign up for our newsletter. Copyright 2024 Example Media. All rights reserved."


def article(aid, title, body, domain="a.example"):
    now = datetime.now(timezone.utc)
    return Article(id=aid, url=f"https://{domain}/{aid}", title=title, text=body,
                   source=Source(feed_url=f"https://{domain}/feed", domain=domain), published_at=now, fetched_at=now)


def paragraphs(body):
    return [p for p in body.split("\n\n") if p.strip()]


def near_copies(title, body):
    paras = paragraphs(body)
    return {
        "new headline": ("Venezuela frees opposition figure", body),
        "reordered": (title, "\n\n".join([paras[1], paras[0]] + paras[2:])),
        "trimmed": (title, "\n\n".join(paras[:-1])),
        "boilerplate": (title, body + "\n\n" + BOILERPLATE),
        "light edit": (title, body.replace("Tuesday", "Wednesday").replace("two percent", "2%")),
    }


@pytest.mark.parametrize("kind", ["new headline", "reordered", "trimmed", "boilerplate", "light edit"])
def test_near_copies_join_the_story_from_another_source(kind):
    index = StoryIndex()
    first = index.assign(article("orig", FIXTURE_TITLE, FIXTURE_BODY))
    title, body = near_copies(FIXTURE_TITLE, FIXTURE_BODY)[kind]
    copy = index.assign(article("copy", title, body, domain="b.example"))
    assert first.first and not copy.first
    assert copy.story_id == first.story_id
    assert copy.sources == 2


def test_different_stories_get_different_ids():
    index = StoryIndex()
    a = index.assign(article("a", FIXTURE_TITLE, FIXTURE_BODY))
    b = index.assign(article("b", "Council passes budget", OTHER_BODY))
    assert a.story_id != b.story_id and b.first


def test_sample_article_and_its_copy(sample_article):
    title, body = sample_article
    index = StoryIndex()
    a = index.assign(article("s1", title, body))
    b = index.assign(article("s2", "Soldier defies Maduro", body.replace("\n\n", "\n\nADVERTISEMENT\n\n", 2)))
    c = index.assign(article("s3", FIXTURE_TITLE, FIXTURE_BODY))
    assert a.story_id == b.story_id != c.story_id


def test_redelivery_is_an_update_not_a_new_source():
    index = StoryIndex()
    first = index.assign(article("x", FIXTURE_TITLE, FIXTURE_BODY))
    index.assign(article("y", FIXTURE_TITLE, FIXTURE_BODY, domain="b.example"))
    again = index.assign(article("x", FIXTURE_TITLE + " (updated)", FIXTURE_BODY + " Update."))
    assert again.story_id == first.story_id
    assert again.first is True  # it is still the story's first article
    assert again.sources == 2


def test_same_source_twice_counts_once():
    index = StoryIndex()
    index.assign(article("x", FIXTURE_TITLE, FIXTURE_BODY))
    assert index.assign(article("y", FIXTURE_TITLE, FIXTURE_BODY + " More.")).sources == 1


def test_index_is_bounded_by_count_and_age():
    clock = [0.0]
    index = StoryIndex(max_stories=3, max_age_s=100, clock=lambda: clock[0])
    for i in range(5):
        index.assign(article(f"a{i}", "", f"distinct story number {i} " + OTHER_BODY.replace("council", f"council{i}") * (i + 1)))
    assert len(index) <= 3
    assert len(index.bands) <= 3 * BANDS
    clock[0] = 1000
    index.assign(article("late", FIXTURE_TITLE, FIXTURE_BODY))
    assert len(index) == 1


def test_short_texts_match_only_exact_copies():
    a = signature_of_words(["breaking", "news"])
    b = signature_of_words(["breaking", "news"])
    c = signature_of_words(["other", "news"])
    assert a.similarity(b) == 1.0 and a.similarity(c) == 0.0
    assert a.story_id() == b.story_id() != c.story_id()


def test_signature_is_the_same_in_another_process():
    """Workers must agree: the story id may not depend on Python's per-process hash seed."""
    here = signature(Analysis.of(FIXTURE_TITLE, FIXTURE_BODY))
    code = ("from processors.enrich.story import signature; from processors.enrich.text import Analysis; "
            "import sys; print(signature(Analysis.of('', sys.stdin.read())).story_id())")
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], input=FIXTURE_BODY, capture_output=True, text=True,
                         cwd=root, env={"PYTHONHASHSEED": "12345", "PATH": ""}, timeout=60, check=True)
    assert out.stdout.strip() == here.story_id()
