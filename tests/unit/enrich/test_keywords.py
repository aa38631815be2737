import pytest
from processors.enrich.keywords import DocumentFrequency, KeywordExtractor
from processors.enrich.text import Analysis


def phrases(keywords):
    return [k.phrase for k in keywords]


def test_fixture_article_has_names_and_multiword_phrases(fixture_article, enricher):
    extractor = KeywordExtractor()
    analysis = Analysis.of(*fixture_article)
    names = [(e.text, e.count) for e in enricher.entities.extract(analysis.title, analysis.body)]
    keywords = extractor.extract(analysis, "en", names)
    found = phrases(keywords)
    assert "María Elena Cordero" in found
    assert "political prisoners" in found  # repeated, so a real key phrase
    assert keywords[0].score == 1.0
    assert all(0 < k.score <= 1 for k in keywords)
    assert "the" not in {p.lower() for p in found}


def test_sample_article_with_entity_names(sample_article, enricher):
    analysis = Analysis.of(*sample_article)
    names = [(e.text, e.count) for e in enricher.entities.extract(analysis.title, analysis.body)]
    found = phrases(KeywordExtractor().extract(analysis, "en", names))
    assert found[0] == "Nicolás Maduro"
    assert {"Leopoldo López", "Ángel Vivas"} <= set(found)
    assert any(p.islower() and " " in p for p in found)  # room left for non-name phrases


def test_corpus_statistics_demote_words_that_flood_the_stream():
    df = DocumentFrequency()
    extractor = KeywordExtractor(df)
    text = Analysis.of("", "Zorblat pricing and quantum widgets. Zorblat pricing again, and quantum widgets again.")
    before = {k.phrase: k.score for k in extractor.extract(text, "en")}
    for _ in range(100):
        df.observe(["zorblat", "pricing", "other"])
    after = {k.phrase: k.score for k in extractor.extract(text, "en")}
    assert before["Zorblat"] >= before["quantum widgets"] * 0.5
    assert after["Zorblat"] < before["Zorblat"]
    assert phrases(extractor.extract(text, "en"))[0] == "quantum widgets"


def test_document_frequency_is_bounded_and_counts_documents():
    df = DocumentFrequency(max_terms=100)
    for i in range(50):
        df.observe([f"w{i}-{j}" for j in range(10)] + ["common"])
    assert df.n_docs == 50
    assert df.df("common") == 50
    assert len(df.store) <= 100


def test_spanish_and_empty_text():
    extractor = KeywordExtractor()
    es = Analysis.of("", "La Fiscalía Anticorrupción estudia recurrir la imputación de la infanta. La imputación de la infanta sigue.")
    assert "imputación" in " ".join(phrases(extractor.extract(es, "es")))
    assert extractor.extract(Analysis.of("", ""), "en") == []


def test_long_lowercase_runs_are_cut_into_three_and_two_word_pieces():
    text = Analysis.of("", "They sell fast broadband internet connections. Fast broadband internet connections grow.")
    found = phrases(KeywordExtractor().extract(text, "en", []))
    assert "fast broadband internet connections" not in [p.lower() for p in found]
    assert {"broadband internet connections", "broadband internet"} & set(found)


def test_a_phrase_counts_once_whatever_its_case_at_a_sentence_start():
    text = Analysis.of("", "Oil prices, again. Traders watch oil prices. Analysts expect oil prices to rise.")
    keywords = KeywordExtractor().extract(text, "en", [])
    lowered = [k.phrase.lower() for k in keywords]
    assert lowered.count("oil prices") == 1  # "Oil prices" starting a sentence is the same phrase


def test_accented_phrases_keep_their_accents_and_names_their_capitals():
    text = Analysis.of("", "La imputación de la infanta. Otra imputación de la infanta, según Ángel Vivas.")
    found = phrases(KeywordExtractor().extract(text, "es"))
    assert "imputación" in " ".join(found)
    assert "Ángel Vivas" in found  # a capitalised run, as written


def test_token_code_cache_is_bounded(monkeypatch):
    import processors.enrich.keywords as keywords

    monkeypatch.setattr(keywords, "CODE_CACHE_SIZE", 20)
    extractor = KeywordExtractor()
    for i in range(10):
        extractor.extract(Analysis.of("", " ".join(f"word{i}x{j} alpha{i}y{j}" for j in range(10))), "en", [])
    assert all(len(codes) <= 21 for codes in extractor._codes.values())


def test_corpus_statistics_reach_the_scores_once_the_corpus_has_grown():
    from processors.enrich.keywords import SPEC_REFRESH_DOCS, DocumentFrequency, KeywordExtractor
    from processors.enrich.text import Analysis

    df = DocumentFrequency()
    extractor = KeywordExtractor(df)
    text = Analysis.of("Harbour cranes", "The harbour cranes stood idle. Workers said the harbour cranes were old.")
    for i in range(60):  # past MIN_DOCS_FOR_CORPUS, none of them about cranes
        df.observe(frozenset({f"filler{i}", "weather"}))
    before = {k.phrase: k.score for k in extractor.extract(text, "en")}
    for _ in range(SPEC_REFRESH_DOCS + 1):  # now every article mentions cranes: they are no longer specific
        df.observe(frozenset({"cranes", "harbour"}))
    after = extractor._specificity_source(extractor._background("en"))["cranes"]
    fresh = extractor.word_specificity("cranes", extractor._background("en"),
                                       (df.n_docs, __import__("math").log(df.n_docs + 1)))
    assert "harbour cranes" in before
    assert after == pytest.approx(fresh, rel=1e-12)  # the cached blend was rebuilt for the grown corpus


# --- the candidate counting in C (_ctext.c) against its Python reference -------

_RUN_WORDS = ["the", "of", "and", "The", "Political", "political", "prisoners", "Prime", "Minister", "López", "lópez",
              "Leopoldo", "Ángel", "ÁNGEL", "armed", "forces", "GNB", "New", "new", "York", "said", "Bogotá", "x",
              "2024", "U", "S", "ñandú", "Ñandú", "straße", "İstanbul", "नेपाल", "中文", "é", "", "", ""]


def _random_streams(count: int, seed: int) -> list[list[str]]:
    import random

    rng = random.Random(seed)
    return [[rng.choice(_RUN_WORDS) for _ in range(rng.randint(0, 30))] for _ in range(count)] + [[], [""], ["New"]]


def _counts_c():
    from processors.enrich.keywords import counts_c

    from .conftest import native

    return native(counts_c)


def _same_counts(got, expected):
    """Equal, and in the same order: the order of first occurrence breaks ties between scores."""
    assert got == expected
    assert list(got[0]) == list(expected[0]) and list(got[1]) == list(expected[1])


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("with_capitals", [False, True])
def test_counts_in_c_equal_the_python_counts(language, with_capitals):
    """Counts (title runs weighted), first written forms and first capitalisation, on random
    body and title streams of stopwords, common capitalised words (at and away from sentence
    starts), names, accents and breaks."""
    from processors.enrich.keywords import counts_python

    counts_c = _counts_c()
    codes = KeywordExtractor()._token_codes(language, with_capitals)
    streams = _random_streams(2000, seed=11)
    for body, title in zip(streams, reversed(streams)):
        _same_counts(counts_c(body, title, codes, with_capitals, 3), counts_python(body, title, codes, with_capitals, 3))


def test_counts_in_c_survive_the_code_cache_being_cleared_mid_stream(monkeypatch):
    from processors.enrich import keywords
    from processors.enrich.keywords import counts_python

    counts_c = _counts_c()
    monkeypatch.setattr(keywords, "CODE_CACHE_SIZE", 3)  # every few misses empty the dict
    for body in _random_streams(300, seed=12):
        expected = counts_python(body, body[:5], KeywordExtractor()._token_codes("en", True), True, 3)
        _same_counts(counts_c(body, body[:5], KeywordExtractor()._token_codes("en", True), True, 3), expected)


def test_counts_in_c_refuse_wrong_arguments():
    with pytest.raises(TypeError, match="keyword_counts"):
        _counts_c()(("a", "b"), [], {}, False, 3)
    with pytest.raises(TypeError, match="keyword_counts"):
        _counts_c()([], [], {}, False, 3.0)


def test_a_title_phrase_counts_three_times_and_keeps_its_body_spelling():
    from processors.enrich.keywords import _counts

    codes = KeywordExtractor()._token_codes("en", False)
    counts, written, capitalised = _counts(["political", "prisoners", "."], ["Political", "prisoners"], codes, False, 3)
    assert counts["political\x04prisoners"] == 4 and capitalised is None
    assert "political\x04prisoners" not in written  # first seen in the body, as its key


def test_scores_in_c_are_the_python_scores_bit_for_bit():
    """Keys of 1 to 140 words (numpy sums long ones pairwise), counts past the log table,
    names and not, and a specificity mapping that fills itself as the extractor's does."""
    import random

    from processors.enrich.keywords import _SEP, KeywordExtractor, scores_c, scores_python

    from .conftest import native

    native(scores_c)
    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(300)] + ["lopez", "नेपाल", "中文"]
    spec = KeywordExtractor()._background_specificities({w: rng.uniform(1, 7) for w in vocabulary[::2]})
    for _ in range(1500):
        keys = list({_SEP.join(rng.choice(vocabulary) for _ in range(rng.choice([1, 1, 2, 2, 3, 4, 5, 9, 12, 70, 140])))
                     for _ in range(rng.randint(1, 60))})
        counts = [rng.choice([1, 1, 2, 3, 17, 255, 65_535, 65_536, 70_000]) for _ in keys]
        capitalised = {k for k in keys if rng.random() < 0.2}
        assert scores_c(keys, counts, capitalised, spec) == scores_python(keys, counts, capitalised, spec)


def test_scores_in_c_refuse_lists_of_different_lengths():
    from processors.enrich.keywords import scores_c

    from .conftest import native

    with pytest.raises(TypeError, match="same length"):
        native(scores_c)(["a"], [1, 2], set(), {"a": 0.5})
