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
