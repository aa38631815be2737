import pytest

from processors.enrich.query import Document, QuerySyntaxError, matches, parse

TEXT = ("Soldiers of the Venezuelan armed forces were told by Nicolás Maduro to stay loyal. "
        "The militarization of the streets worries Colombia.")


@pytest.fixture(scope="module")
def doc():
    return Document.of_text(TEXT)


@pytest.mark.parametrize("query,expected", [
    ('venezuelan AND (maduro OR "armed forces")', True),
    ("maduro AND (military OR soldiers)", True),
    ("maduro military", False),             # implicit AND
    ("maduro OR military", True),
    ("NOT brazil AND maduro", True),
    ("maduro -colombia", False),
    ("maduro !colombia", False),
    ("maduro && (military || soldiers)", True),
    ('"armed forces"', True),
    ('"forces armed"', False),               # phrases keep their order
    ('"armed forces"~3', True),
    ("militar*", True),                      # militarization
    ("NICOLAS", True),                       # case and accents folded
    ("nicolás maduro", True),
    ("a OR b AND maduro", False),            # AND binds tighter: a OR (b AND maduro)
    ("(a OR b) AND maduro", False),
    ("(soldiers OR b) AND maduro", True),
    ("title:maduro", True),
    ("covid-19", False),
    ("and or not", False),                   # lower-case operators are words
])
def test_evaluation(doc, query, expected):
    assert parse(query).matches(doc) is expected


def test_matched_terms_lists_the_positive_terms_that_matched(doc):
    q = parse('venezuelan AND (maduro OR "armed forces" OR brazil) NOT peru')
    assert q.matched_terms(doc) == ["venezuelan", "maduro", "armed forces"]
    assert parse("maduro AND brazil").matched_terms(doc) == []


def test_matches_helper_accepts_text():
    assert matches("covid-19", "New COVID-19 cases")
    assert not matches("covid-19", "covid cases rose 19 percent")


@pytest.mark.parametrize("query,position,words", [
    ("", 0, "empty query"),
    ("(a OR b", 0, "never closed"),
    ("a OR b)", 6, "unbalanced ')'"),
    ("a AND", 5, "term was expected"),
    ("AND a", 0, "operator AND"),
    ('"open phrase', 0, "unterminated"),
    ("*duro", 0, "end of a word"),
    ("ma*uro", 0, "end of a word"),
    ("m*", 0, "at least 2"),
    ("()", 1, "empty parentheses"),
    ('""', 0, "empty quoted phrase"),
    ("NOT a", 0, "only negations"),
    ("a OR -b", 5, "only negations"),
    ("topic:sport", 0, "cannot be used"),
    ("a OR ***", 5, "no letters"),
])
def test_malformed_queries_name_the_problem_and_position(query, position, words):
    with pytest.raises(QuerySyntaxError) as err:
        parse(query)
    assert err.value.position == position
    assert words in str(err.value)
    assert f"position {position}" in str(err.value)


def test_bounds_on_size_and_depth():
    with pytest.raises(QuerySyntaxError, match="longer than"):
        parse("a " * 3000)
    with pytest.raises(QuerySyntaxError, match="nested deeper"):
        parse("(" * 40 + "a" + ")" * 40)
    with pytest.raises(QuerySyntaxError, match="more than 256 terms"):
        parse(" OR ".join(f"w{i}" for i in range(300)))
    with pytest.raises(QuerySyntaxError, match="must be text"):
        parse(None)  # type: ignore[arg-type]
