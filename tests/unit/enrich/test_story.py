import json
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from processors.enrich.story import (BANDS, NUM_HASHES, StoryIndex, signature, signature_of_words, signature_to_record,
                                     signatures)
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


@pytest.mark.parametrize("hash_seed", ["0", "4242"])
def test_whole_signature_is_the_same_in_a_process_with_another_hash_seed(hash_seed):
    """Every value, not only the story id: the story agent compares signatures made by other workers."""
    here = signature_to_record(signature(Analysis.of(FIXTURE_TITLE, FIXTURE_BODY)))
    code = ("import json, sys; from processors.enrich.story import signature, signature_to_record; "
            "from processors.enrich.text import Analysis; "
            "print(json.dumps(signature_to_record(signature(Analysis.of('', sys.stdin.read())))))")
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], input=FIXTURE_BODY, capture_output=True, text=True,
                         cwd=root, env={"PYTHONHASHSEED": hash_seed, "PATH": ""}, timeout=60, check=True)
    assert json.loads(out.stdout) == here


def test_signature_values_are_pinned():
    """Signatures are stored (story tables) and sent between workers: a change of the hash
    function orphans every stored story, so it must be a deliberate change of this test."""
    sig = signature(Analysis.of(FIXTURE_TITLE, FIXTURE_BODY))
    assert sig.story_id() == "st-0090fb895ca5452c"
    assert sig.size == 103
    assert sig.values[:3] == (5584301197095789, 20070367495390684, 81303054909149324)
    assert len(sig.values) == NUM_HASHES and all(0 <= v < 2**64 for v in sig.values)


def test_signature_of_an_analysis_equals_that_of_its_words():
    """signature() reads Analysis.folded_body, signature_of_words() the token list: same result."""
    for title, body in [(FIXTURE_TITLE, FIXTURE_BODY), ("Council", OTHER_BODY), ("Short", "Too short."),
                        ("", "word " * 3000), ("", ", ".join(f"w{i}" for i in range(5000))), ("Title only", "")]:
        analysis = Analysis.of(title, body)
        words = analysis.body_tokens if any(analysis.body_tokens) else analysis.title_tokens
        assert signature(analysis) == signature_of_words(words)
        assert signature(replace(analysis, folded_body="")) == signature(analysis)
    stale = replace(Analysis.of("", FIXTURE_BODY), body_tokens=Analysis.of("", OTHER_BODY).body_tokens)
    assert signature(stale) == signature_of_words(stale.body_tokens)  # tokens changed after Analysis.of


def test_signature_ignores_breaks_and_reads_the_first_400_words():
    words = [f"w{i}" for i in range(500)]
    with_breaks = [t for w in words for t in (w, "")]
    assert signature_of_words(with_breaks) == signature_of_words(words)
    assert signature_of_words(words[:400] + ["other"] * 100) == signature_of_words(words)
    assert signature_of_words([f"v{i}" for i in range(100)] + words[100:]) != signature_of_words(words)


def test_band_keys_are_distinct_per_band_and_shared_by_equal_bands():
    a = signature(Analysis.of(FIXTURE_TITLE, FIXTURE_BODY))
    b = signature(Analysis.of(FIXTURE_TITLE, FIXTURE_BODY.replace("Tuesday", "Wednesday")))
    keys_a, keys_b = a.band_keys(), b.band_keys()
    assert len(set(keys_a)) == BANDS
    for band in range(BANDS):
        same_values = a.values[2 * band: 2 * band + 2] == b.values[2 * band: 2 * band + 2]
        assert (keys_a[band] == keys_b[band]) == same_values


def test_huge_words_are_bounded():
    sig = signature_of_words(["x" * 300_000, "y" * 300_000] + [f"w{i}" for i in range(10)])
    assert sig.exact or len(sig.values) == NUM_HASHES


def varied_analyses() -> list[Analysis]:
    """Every path of signature(): exact (empty, tiny, title only), sparse bins (short), repeated
    shingles, copies, non-Latin scripts, breaks, long texts (cut to their first words, or to
    MAX_SIGNATURE_BYTES), a long text whose cut ends in a break, a stale or missing folded_body."""
    sep = "\x01"
    long_words = " ".join(f"word{i}" for i in range(5000))            # cut at _HEAD_CHARS
    huge_words = " ".join(["x" * 30_000, "y" * 30_000] + [f"w{i}" for i in range(20)])   # cut at the byte cap
    hostile = [t for i in range(1000) for t in [f"t{i}"] + [""] * 40]   # < 400 words in the cut, which ends in breaks
    base = [
        Analysis.of("", ""), Analysis.of("Title only here", ""), Analysis.of("T", "Too short."),
        Analysis.of("", "one two three four five six"), Analysis.of("", "one two three four five six seven"),
        Analysis.of(FIXTURE_TITLE, FIXTURE_BODY), Analysis.of("Copy", FIXTURE_BODY), Analysis.of("Council", OTHER_BODY),
        Analysis.of("", "breaking news, again. " * 40), Analysis.of("", BOILERPLATE),
        Analysis.of("", "Правительство объявило о новых мерах в понедельник после переговоров с профсоюзами."),
        Analysis.of("", "أعلنت الحكومة عن إجراءات جديدة يوم الاثنين بعد المحادثات مع النقابات في العاصمة."),
        Analysis.of("", "政府 在 周一 与 工会 会谈 后 宣布 了 新 措施 。 " * 30),
        Analysis.of("", long_words), Analysis.of("", long_words.replace(" ", ", ")), Analysis.of("", huge_words),
        replace(Analysis.of("", "x"), body_tokens=hostile, folded_body=sep.join(hostile)),
        replace(Analysis.of("", FIXTURE_BODY), folded_body=""),
        replace(Analysis.of("", FIXTURE_BODY), body_tokens=Analysis.of("", OTHER_BODY).body_tokens),  # stale
    ]
    return base + base[::-1] + [Analysis.of("", "")]   # texts too short to shingle last, too


def test_signatures_of_a_batch_equal_those_of_each_article():
    batch = varied_analyses()
    expected = [signature(a) for a in batch]
    assert signatures(batch) == expected
    assert any(not sig.values for sig in expected) and any(sig.values for sig in expected)
    assert signatures([]) == []
    for analysis in batch:
        assert signatures([analysis]) == [signature(analysis)]


def test_signatures_of_a_batch_larger_than_one_pass():
    batch = [Analysis.of("", f"{OTHER_BODY} number {i}") for i in range(300)] + varied_analyses()
    assert signatures(batch) == [signature(a) for a in batch]


def test_many_candidates_compared_at_once_give_the_same_stories(monkeypatch):
    """Articles made of paragraphs from a small shared pool collide in many bands: the
    comparison of all candidates in one call must assign exactly as one-by-one comparison does."""
    import random

    from processors.enrich import story as story_module
    from processors.enrich.story import StoryIndex, signature_of_words

    rng = random.Random(4)
    words = [f"w{i}" for i in range(400)]
    pool = [[rng.choice(words) for _ in range(40)] for _ in range(30)]
    sigs = [signature_of_words([w for _ in range(6) for w in rng.choice(pool)]) for _ in range(400)]
    counted = []
    original = story_module._similarities
    monkeypatch.setattr(story_module, "_similarities", lambda sig, stories: counted.append(len(stories)) or original(sig, stories))

    def assign_all() -> list:
        index = StoryIndex()
        return [index.assign_signature(f"a{i}", f"s{i % 5}", sig) for i, sig in enumerate(sigs)]

    batched = assign_all()
    assert max(counted) >= story_module._MIN_BATCHED_CANDIDATES  # the batched path ran
    monkeypatch.setattr(story_module, "_MIN_BATCHED_CANDIDATES", 10**9)
    assert assign_all() == batched
    assert len({a.story_id for a in batched}) < len(sigs)  # some articles did join a story


def test_shared_counts_in_c_equal_the_python_counts_and_the_similarity():
    """Min-hashes as the story index holds them (packed), and what a malformed record could
    bring (negative or oversized ints): the counts of the C loop, of its Python reference,
    and Signature.similarity agree; a signature that cannot be packed is left to similarity."""
    import random

    from processors.enrich.story import Signature, _shared_counts_python, _similarities, shared_counts_c

    from .conftest import native

    shared_counts = native(shared_counts_c)
    rng = random.Random(8)
    pool = [rng.getrandbits(64) for _ in range(4)] + [0, (1 << 64) - 1]
    for _ in range(500):
        sig = Signature(tuple(rng.choice(pool) for _ in range(NUM_HASHES)), 1, "", 10)
        others = [Signature(tuple(rng.choice(pool + [-1, 1 << 70]) if rng.random() < 0.02 else rng.choice(pool)
                                  for _ in range(NUM_HASHES)), 1, "", 10) for _ in range(rng.randint(0, 8))]
        packed = [o.packed for o in others if o.packed is not None]
        assert shared_counts(sig.packed, packed) == _shared_counts_python(sig.packed, packed)

        class Story:  # what _similarities reads of a story
            def __init__(self, signature):
                self.signature = signature

        found = _similarities(sig, [Story(o) for o in others])
        for other, jaccard in zip(others, found):
            if jaccard is not None or len(others) >= 4:
                assert (jaccard is None) == (other.packed is None)
                assert jaccard is None or jaccard == sig.similarity(other)
    with pytest.raises(TypeError, match="same length"):
        shared_counts(bytes(16), [bytes(8)])
