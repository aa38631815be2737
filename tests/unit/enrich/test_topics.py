import math

import pytest

from processors.enrich.text import Analysis
from processors.enrich.topics import TaxonomyError, TopicDef, TopicTagger, load_taxonomy

IPTC_TOP_LEVEL = {
    "politics", "economy_business", "crime_law", "conflict_war", "disaster_accident", "health",
    "science_technology", "environment", "education", "labour", "lifestyle_leisure",
    "arts_culture_entertainment", "religion", "society", "sport", "weather", "human_interest",
}


@pytest.fixture(scope="module")
def tagger():
    return TopicTagger.from_dir()


def names(tags):
    return [t.name for t in tags]


def test_default_taxonomy_covers_the_iptc_top_level_in_english_and_spanish():
    topics = load_taxonomy()
    assert IPTC_TOP_LEVEL <= set(topics)
    for topic in IPTC_TOP_LEVEL:
        assert len(topics[topic].terms) >= 10, topic


def test_sample_article_is_politics_and_conflict(tagger, sample_article):
    tags = tagger.tag(Analysis.of(*sample_article))
    assert names(tags)[:2] == ["politics", "conflict_war"]
    conflict = tags[1]
    assert {"military", "soldiers", "armed forces"} <= set(conflict.terms)
    assert all(0 < t.score <= 1 for t in tags)


def test_fixture_article_is_multi_label_with_terms(tagger, fixture_article):
    tags = tagger.tag(Analysis.of(*fixture_article))
    assert names(tags)[0] == "politics"
    assert "opposition" in tags[0].terms
    assert len(tags) >= 2


@pytest.mark.parametrize("title,body,topic", [
    ("El Real Madrid gana la final", "El delantero marcó dos goles en el partido y el equipo celebró el campeonato ante sus aficionados en el estadio.", "sport"),
    ("Elecciones en Venezuela", "La oposición pidió elecciones libres; el presidente y los diputados de la Asamblea Nacional discuten la votación y el partido de gobierno.", "politics"),
    ("Terremoto en Chile", "Un terremoto de magnitud 7 dejó víctimas; los rescatistas y bomberos buscan supervivientes tras el derrumbe y la evacuación.", "disaster_accident"),
    ("Shares fall", "Shares fell on the stock market as investors worried about inflation, interest rates and company profits.", "economy_business"),
    ("New phone", "The smartphone maker unveiled a new handset with a faster processor, and software for users to download apps.", "science_technology"),
])
def test_english_and_spanish_lexicons(tagger, title, body, topic):
    assert names(tagger.tag(Analysis.of(title, body)))[0] == topic


def test_no_evidence_no_tag(tagger):
    assert tagger.tag(Analysis.of("", "")) == []
    assert tagger.tag(Analysis.of("Hello", "A short note.")) == []


def test_user_folder_extends_adds_query_topics_and_replaces(tmp_path, fixture_article):
    (tmp_path / "mine.yaml").write_text(
        "topics:\n"
        "  sport:\n    terms: [maduro^5]\n"
        "  venezuela_crisis:\n    label: Venezuela crisis\n"
        "    query: 'venezuela AND (maduro OR \"armed forces\")'\n    score: 0.9\n"
        "  weather:\n    replace: true\n    terms: [tintori^9]\n",
        encoding="utf-8",
    )
    tagger = TopicTagger.from_dir(tmp_path)
    assert "maduro" in tagger.topics["sport"].terms and "football" in tagger.topics["sport"].terms
    assert list(tagger.topics["weather"].terms) == ["tintori"]
    tags = {t.name: t for t in tagger.tag(Analysis.of(*fixture_article))}
    assert tags["venezuela_crisis"].score == 0.9
    assert tags["venezuela_crisis"].terms == ["venezuela", "maduro"]
    assert "weather" not in tags


def test_replace_defaults_drops_the_shipped_taxonomy(tmp_path):
    (tmp_path / "only.yaml").write_text("replace_defaults: true\ntopics:\n  mine:\n    terms: [alpha]\n", encoding="utf-8")
    assert set(load_taxonomy(tmp_path)) == {"mine"}


@pytest.mark.parametrize("content,words", [
    ("topics: [1, 2]", "expected a mapping"),
    ("topics:\n  x:\n    terms: [a^zero]\n", "not a number"),
    ("topics:\n  x:\n    terms: ['!!!']\n", "no letters"),
    ("topics:\n  x:\n    query: 'a AND'\n", "position 5"),
    ("topics:\n  x:\n    colour: red\n", "unknown key"),
    ("topics: {x: [", "not valid YAML"),
])
def test_bad_taxonomy_files_name_the_problem(tmp_path, content, words):
    (tmp_path / "bad.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(TaxonomyError, match=words):
        load_taxonomy(tmp_path)


def test_missing_taxonomy_dir_is_an_error(tmp_path):
    with pytest.raises(TaxonomyError, match="no such folder"):
        load_taxonomy(tmp_path / "nope")


def test_phrases_are_counted_like_a_word_by_word_scan():
    import random

    from processors.enrich.topics import _count_phrase, _Entry, _joined, _Phrase

    rng = random.Random(3)
    vocab = ["a", "b", "ab", "", "ba"]
    for _ in range(5000):
        tokens = [rng.choice(vocab) for _ in range(rng.randint(0, 14))]
        words = [rng.choice(["a", "b", "ab"]) for _ in range(rng.randint(2, 3))]
        phrase = _Phrase.of(words, _Entry("t", 1.0, "t"))
        expected = _count_phrase(tokens, tuple(words), tokens.count(words[0]))
        if not phrase.overlaps_itself:
            assert _joined(tokens).count(phrase.needle) == expected, (tokens, words)


def test_a_phrase_that_overlaps_itself_counts_every_occurrence():
    tagger = TopicTagger({"t": TopicDef("t", terms={"bye bye": 5.0}), "u": TopicDef("u", terms={"hello": 1.0})})
    raw = tagger.raw_scores(Analysis.of("", "bye bye bye, hello"))
    assert raw["t"][0] == pytest.approx(5.0 * (1 + math.log(2)))


def test_ties_are_ordered_by_name():
    tagger = TopicTagger({name: TopicDef(name, terms={"goal": 5.0}) for name in ("zeta", "alpha", "mid")})
    assert names(tagger.tag(Analysis.of("", "goal goal"))) == ["alpha", "mid", "zeta"]
