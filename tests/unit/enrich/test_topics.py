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


def _random_tokens(rng, vocab, longest=14):
    return [rng.choice(vocab) for _ in range(rng.randint(0, longest))]


def test_phrases_are_counted_like_a_word_by_word_scan():
    import random

    from processors.enrich.topics import _phrase_count_python, phrase_count

    rng = random.Random(3)
    vocab = ["a", "b", "ab", "", "ba", "é", "ü"]   # "" is a BREAK; "é"/"ü": other str kinds
    for _ in range(5000):
        tokens = _random_tokens(rng, vocab)
        words = tuple(rng.choice(["a", "b", "ab", "é"]) for _ in range(rng.randint(2, 3)))  # "a a": overlaps itself
        n = len(words)
        expected = sum(tokens[i:i + n] == list(words) for i in range(len(tokens)))
        first_count = tokens.count(words[0])
        assert _phrase_count_python(tokens, words, first_count) == expected, (tokens, words)
        assert phrase_count(tokens, words, first_count) == expected, (tokens, words)


def test_phrase_count_in_c_gives_the_python_counts():
    from processors.enrich.topics import phrase_count_c

    from .conftest import native

    count = native(phrase_count_c)
    # tokens that are not the term's own objects, of every str kind
    tokens = "".join(["bye bye bye x", " ", "bye", " ", "ω bye ω ω", " ", "𝔸 𝔸 𝔸"]).split()
    assert count(tokens, ("bye", "bye"), tokens.count("bye")) == 2
    assert count(tokens, ("ω", "ω"), 3) == 1
    assert count(tokens, ("𝔸", "𝔸"), 3) == 2
    assert count(tokens, ("bye", "bye", "bye"), 5) == 1
    assert count([], ("a", "b"), 0) == 0
    assert count(["a", "b"], ("a", "b"), 0) == 0   # first_count bounds the scan, as list.index does
    with pytest.raises(TypeError):
        count(["a", 1], ("a", "b"), 1)
    with pytest.raises(TypeError):
        count(["a"], (), 1)


def test_term_counts_in_c_gives_the_python_counts():
    import random

    from processors.enrich.topics import _term_counts_python, term_counts_c

    from .conftest import native

    count = native(term_counts_c)
    rng = random.Random(5)
    vocab = ["a", "b", "ab", "", "é", "ω", "𝔸"]
    for _ in range(2000):
        tokens = _random_tokens(rng, vocab, 40)
        terms = frozenset(rng.sample(vocab, rng.randint(0, len(vocab))))
        assert count(tokens, terms) == _term_counts_python(tokens, terms), (tokens, terms)
        assert count(tokens, set(terms)) == _term_counts_python(tokens, terms)
    with pytest.raises(TypeError):
        count(("a",), frozenset())


def test_term_contributions_in_c_give_the_python_parts_bit_for_bit():
    import random

    from processors.enrich.topics import _COUNT_GAINS, _contributions_python, _Entry, term_contributions_c

    from .conftest import native

    contributions = native(term_contributions_c)
    rng = random.Random(7)
    terms = ["war", "army", "troops", "armed forces", "ejército", "δ", "𝔸"]
    for _ in range(3000):
        found = {}
        for _ in range(rng.randint(0, 12)):
            weight = rng.choice([1.0, 1.5, 2.0, 3, 0.1 * rng.randint(1, 50)])   # ties, and an int
            entry = _Entry(rng.choice(["politics", "conflict_war", "sport"]), weight, rng.choice(terms))
            found[entry] = rng.choice([1, 2, 3, 64, 65, 1000])   # 65 and beyond: past the table
        expected = _contributions_python(found, _COUNT_GAINS)
        got = contributions(found, _COUNT_GAINS)
        assert list(got) == list(expected)
        for topic, (values, topic_terms) in expected.items():
            assert [v.hex() for v in got[topic][0]] == [v.hex() for v in values]
            assert got[topic][1] == topic_terms
    with pytest.raises(TypeError):
        contributions({("t", "heavy", "x"): 1}, _COUNT_GAINS)


def test_a_phrase_that_overlaps_itself_counts_every_occurrence():
    tagger = TopicTagger({"t": TopicDef("t", terms={"bye bye": 5.0}), "u": TopicDef("u", terms={"hello": 1.0})})
    raw = tagger.raw_scores(Analysis.of("", "bye bye bye, hello"))
    assert raw["t"][0] == pytest.approx(5.0 * (1 + math.log(2)))


def test_ties_are_ordered_by_name():
    tagger = TopicTagger({name: TopicDef(name, terms={"goal": 5.0}) for name in ("zeta", "alpha", "mid")})
    assert names(tagger.tag(Analysis.of("", "goal goal"))) == ["alpha", "mid", "zeta"]
