import pytest

from processors.enrich.entities import EntityExtractor


@pytest.fixture(scope="module")
def extractor():
    return EntityExtractor()


def by_text(entities):
    return {e.text: e for e in entities}


REQUIRED_PEOPLE = ["Nicolás Maduro", "Giomar Alexander Flores Ortiz", "Leopoldo López", "Ángel Vivas",
                   "Lilian Tintori", "Vladimir Padrino López"]
ABSURD = {"The", "In", "His", "April", "Monday", "Father", "Republic", "Opposition", "Either", "Follow",
          "First Sergeant", "General", "Minister", "Venezuelan", "Venezuelans", "Throughout", "As", "To"}


def test_sample_article_entities(extractor, sample_article):
    entities = extractor.extract(*sample_article)
    found = by_text(entities)
    for name in REQUIRED_PEOPLE:
        assert found[name].type == "person", name
    assert (found["Venezuela"].type, found["Venezuela"].country) == ("place", "VE")
    assert (found["Colombia"].type, found["Colombia"].country) == ("place", "CO")
    assert found["Bolivarian National Guard (GNB)"].type == "organization"
    assert found["Nicolás Maduro"].count >= 10  # "Maduro", "Maduro’s", "Nicolás Maduro Moros" count for him
    assert entities[0].text == "Nicolás Maduro"
    assert not ABSURD & set(found)
    assert not any(text.endswith(("’s", "'s")) for text in found)


def test_fixture_article_entities(extractor, fixture_article):
    found = by_text(extractor.extract(*fixture_article))
    assert found["María Elena Cordero"].type == "person"
    assert found["María Elena Cordero"].count == 3  # the two "Cordero" count for her
    assert found["Andrés Pineda"].type == "person"
    assert found["Bolivarian National Guard (GNB)"].type == "organization"
    assert found["Caracas"].country == "VE" and found["Maracaibo"].country == "VE"
    assert found["Norway"].country == "NO"
    assert "Colombian" not in found and "Tuesday" not in found


def test_acronym_before_its_expansion_and_org_country(extractor):
    found = by_text(extractor.extract("", "Freddy Guevara called on the FANB (Bolivarian National Armed Forces) to act. "
                                          "The FANB did not answer. The Venezuelan Armed Forces stayed silent."))
    assert found["Bolivarian National Armed Forces (FANB)"].count == 2  # "FANB (...)" is one mention
    assert found["Venezuelan Armed Forces"].country == "VE"
    assert found["Freddy Guevara"].type == "person"


def test_spanish_text_with_particles_and_titles(extractor):
    found = by_text(extractor.extract("", "El ministro de Economía, Luis de Guindos, se reunió en Madrid con el presidente "
                                          "del Banco Central Europeo. Según el Partido Popular, la reunión fue útil."))
    assert found["Luis de Guindos"].type == "person"
    assert found["Madrid"].country == "ES"
    assert found["Banco Central Europeo"].type == "organization"
    assert found["Partido Popular"].type == "organization"


@pytest.mark.parametrize("text", ["", "lowercase only text", "\x00" * 10, "A. B. C.", "(X) (Y)" * 100])
def test_odd_text(extractor, text):
    assert isinstance(extractor.extract("", text), list)


def _random_texts(seed, pieces, count=3000, length=25):
    import random

    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, length))) for _ in range(count)]


NAME_PIECES = ["A", "b", " ", "  ", "\t", "\n", "-", "'", ".", "of", "of the", "de la", "van der", "Xy",
               "(", ")", "y", "Al", "al", "\"", "x", "O'", "-Z", ": ", "GNB", "Mc"]


def test_ascii_mention_pattern_matches_what_the_unicode_one_does():
    from processors.enrich.entities import _ASCII_MENTION_RE, _MENTION_RE

    for text in _random_texts(1, NAME_PIECES):
        assert _ASCII_MENTION_RE.findall(text) == _MENTION_RE.findall(text), repr(text)


def test_trailing_sequence_is_the_plain_search():
    from processors.enrich.entities import _TRAILING_SEQUENCE_RE, _trailing_sequence

    for text in _random_texts(2, NAME_PIECES + ["é", "É", "\u00a0", "’"]):
        for before in (text, text + "\n", text + " "):
            plain, fast = _TRAILING_SEQUENCE_RE.search(before), _trailing_sequence(before)
            assert (plain and plain.span(1)) == (fast and fast.span(1)), repr(before)


def test_sentence_start_and_acronym_in_parentheses_are_seen_per_mention(extractor):
    # "Police" starts a sentence (a common word, cut) and later is part of a name.
    found = by_text(extractor.extract("", "Police Chief Ana Ruiz spoke. The Metropolitan Police Service (MPS) said "
                                          "the MPS would act, and Ana Ruiz agreed.\nRuiz left."))
    assert found["Metropolitan Police Service (MPS)"].count == 2
    assert found["Ana Ruiz"].type == "person" and found["Ana Ruiz"].count == 3


def test_decision_cache_stays_bounded(monkeypatch):
    import processors.enrich.entities as entities

    monkeypatch.setattr(entities, "DECISION_CACHE_SIZE", 50)
    extractor = EntityExtractor()
    for i in range(40):
        extractor.extract("", f"Mayor Name{i} Surname{i} met Ana Other{i} in Caracas. Name{i} spoke.")
        assert len(extractor._decided) <= 50 + 2  # cleared when full, then one mention's two forms


def _mentions_c():
    from processors.enrich.entities import mentions_c

    from .conftest import native

    return native(mentions_c)


UNICODE_NAME_PIECES = NAME_PIECES + ["é", "É", "Ω", "Ж", "ǅ", "ϒ", "Ա", "ﬀ", "中", "3", "²", "_", "\u00a0", "’", "“", "«",
                                     "—", "•", "[", "|", "de los", "del", "des", "bin", "(GNB)", "( GNB )", "(\u00a0GNB)"]


def test_mentions_in_c_are_the_python_mentions_on_random_text():
    from processors.enrich.entities import _mentions_python

    mentions_c = _mentions_c()
    acronyms = [{}, {"GNB": "Xy Al"}, {"A": "Xy"}, {"Xy": "A of Al"}]
    for i, text in enumerate(_random_texts(3, UNICODE_NAME_PIECES, count=20000, length=30)):
        links = acronyms[i % len(acronyms)]
        assert list(mentions_c(text, links).items()) == list(_mentions_python(text, links).items()), repr(text)


def test_mentions_in_c_are_the_python_mentions_on_the_corpus(extractor):
    from processors.enrich.entities import _mentions_python

    from .conftest import corpus_path

    mentions_c = _mentions_c()
    for path in sorted(corpus_path("news-labeled").rglob("*.txt"))[::7]:
        text = path.read_text(encoding="utf-8", errors="replace")
        links = extractor._acronyms(text)
        assert list(mentions_c(text, links).items()) == list(_mentions_python(text, links).items()), path


def test_mention_counts_in_c_rejects_what_is_not_text_and_a_set():
    from processors.enrich.native import c_function

    mention_counts = _mentions_c() and c_function("mention_counts")
    with pytest.raises(TypeError):
        mention_counts(b"bytes", set())
    with pytest.raises(TypeError):
        mention_counts("text", ["GNB"])


def test_one_word_and_inner_partial_names_count_for_the_full_name(extractor):
    found = by_text(extractor.extract("", "Ana María Ruiz Soto spoke. Later Ruiz Soto left, and Soto said no. "
                                          "Ruiz agreed with María Ruiz Soto."))
    assert found["Ana María Ruiz Soto"].count == 5
    assert not {"Ruiz Soto", "Soto", "Ruiz", "María Ruiz Soto"} & set(found)
