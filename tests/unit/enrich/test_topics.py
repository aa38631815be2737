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


def _random_lexicon(rng, vocab):
    from processors.enrich.topics import Lexicon

    terms = {" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 3))): 1.0 for _ in range(rng.randint(1, 6))}
    return Lexicon({"t": TopicDef("t", terms=terms), "u": TopicDef("u", terms=dict.fromkeys(list(terms)[:2], 2.0))})


def test_terms_are_counted_like_a_word_by_word_scan():
    import random

    from processors.enrich.text import BREAK

    rng = random.Random(3)
    vocab = ["a", "b", "ab", "ß", "ω", "𝔸"]   # 1-, 2- and 4-byte str, each its own fold
    for _ in range(3000):
        lexicon = _random_lexicon(rng, vocab)
        # "a a" overlaps itself; BREAK never matches a term word
        tokens = [rng.choice(vocab + [BREAK]) for _ in range(rng.randint(0, 14))]
        expected = {}
        for first, (entries, phrases) in lexicon.by_first_word.items():
            expected.update(dict.fromkeys(entries, tokens.count(first)))
            for phrase in phrases:
                n = len(phrase.words)
                expected[phrase.entry] = sum(tokens[i:i + n] == list(phrase.words) for i in range(len(tokens)))
        expected = {entry: n for entry, n in expected.items() if n}
        assert lexicon.hits(tokens, lexicon.words_in(frozenset(tokens))) == expected, (tokens, lexicon.by_first_word)
        assert lexicon.hits(tokens) == expected


def test_word_hits_in_c_gives_the_python_hits():
    import random

    from processors.enrich.text import BREAK
    from processors.enrich.topics import _word_hits_python, word_hits_c

    from .conftest import native

    hits = native(word_hits_c)
    rng = random.Random(5)
    vocab = ["a", "b", "ab", "ß", "ω", "𝔸", "bye"]
    for _ in range(3000):
        lexicon = _random_lexicon(rng, vocab)
        # tokens that are not the lexicon's own str objects
        tokens = " ".join(rng.choice(vocab + ["x"]) for _ in range(rng.randint(0, 40))).split()
        tokens[rng.randint(0, len(tokens)):0] = [BREAK]
        for term_words in (lexicon.words_in(frozenset(tokens)), lexicon.term_words, frozenset()):
            expected = _word_hits_python(tokens, term_words, lexicon.by_first_word)
            assert list(hits(tokens, term_words, lexicon.by_first_word).items()) == list(expected.items())
    with pytest.raises(TypeError, match="a token must be a str"):
        hits(["a", 1], frozenset({"a"}), {})
    with pytest.raises(TypeError, match="term word must be a str"):
        hits(["a"], frozenset({1}), {})
    with pytest.raises(TypeError, match="entries, phrases"):
        hits(["a"], frozenset({"a"}), {"a": "not an index"})


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
