"""Subscription query validation: what is accepted, what is refused and where."""

import pytest

from processors.query_validation import (
    QueryRejected,
    parse,
    query_string_clause,
    to_es_query_string,
)

ACCEPTED = [
    "maduro",
    "maduro AND (military OR soldiers)",
    "maduro && (military || soldiers)",
    '"armed forces"',
    '"armed forces"~3',
    "venezuel*",
    "title:maduro",
    'title:"nicolás maduro"',
    "title:(maduro OR caracas) AND NOT topic:sport",
    "source:bbc lang:en topic:politics entity:maduro",
    "text:soldier*",
    "maduro -sport +venezuela",
    "maduro !sport",
    "al-Qaeda",
    r"foo\:bar",
    r"a\/b",
    "nicolás maduro",
    "maduro AND NOT (military OR army)",
    "a OR NOT b",
    "(((a)))",
    "and or not",  # lowercase words are plain words
]

REJECTED = [
    # query, position, part of the message
    ("", 0, "empty"),
    ("   ", 0, "empty"),
    ("*duro", 0, "leading wildcard"),
    ("?aduro", 0, "leading wildcard"),
    ("maduro AND *ilitary", 11, "leading wildcard"),
    ("ma*uro", 2, "end of a word"),
    ("madur?", 5, "'?'"),
    ("m*", 0, "at least 2"),
    ("/mad.*/", 0, "regular expression"),
    ("maduro /mad.*/", 7, "regular expression"),
    ("maduro~2", 6, "fuzzy"),
    ("maduro^3", 6, "boost"),
    ("[a TO b]", 0, "ranges"),
    ("year:>2000", 0, "unknown field"),
    ("body:maduro", 0, "unknown field 'body'"),
    ("maduro AND title:>5", 17, "ranges"),
    ("_exists_:title", 0, "unknown field"),
    ("(maduro OR military", 0, "never closed"),
    ("maduro OR military)", 18, "no '(' opens it"),
    ('"armed forces', 0, "never closed"),
    ('maduro "armed forces', 7, "never closed"),
    ("maduro AND", 7, "after it"),
    ("AND maduro", 0, "before it"),
    ("maduro AND OR military", 11, "right after AND"),
    ("maduro NOT", 7, "after it"),
    ("NOT NOT maduro", 4, "two modifiers"),
    ("()", 0, "empty group"),
    ("maduro ()", 7, "empty group"),
    ("NOT maduro", 0, "only excludes"),
    ("-maduro -military", 0, "only excludes"),
    ('"armed forces"~', 14, "whole number"),
    ('"armed forces"~999', 15, "proximity larger"),
    ('""', 0, "empty phrase"),
    ("title: maduro", 6, "right after the ':'"),
    ("title:", 6, "right after the ':'"),
    ("maduro\\", 6, "backslash"),
    ("a" * 2001, 2000, "longer than"),
    ("(" * 20 + "a" + ")" * 20, 16, "nested deeper"),
    (" OR ".join(f"w{i}" for i in range(101)), 0, "more than 100"),
]


@pytest.mark.parametrize("query", ACCEPTED)
def test_accepted(query):
    parsed = parse(query)
    assert parsed.root.clauses


@pytest.mark.parametrize("query,position,message", REJECTED)
def test_rejected_with_position(query, position, message):
    with pytest.raises(QueryRejected) as caught:
        parse(query)
    if message != "more than 100":
        assert caught.value.position == position, str(caught.value)
    assert message.lower() in caught.value.message.lower()
    assert f"position {caught.value.position}" in str(caught.value)


def test_pointer_puts_a_caret_under_the_problem():
    with pytest.raises(QueryRejected) as caught:
        parse("maduro AND *ilitary")
    lines = caught.value.pointer("maduro AND *ilitary").splitlines()
    assert lines[1].index("^") == lines[0].index("*")


@pytest.mark.parametrize(
    "query,expected",
    [
        ("title:maduro", "title:maduro"),
        ("topic:politics AND maduro", "topic:politics AND maduro"),
        ("lang:en entity:(maduro OR chavez)", "lang:en entity:(maduro OR chavez)"),
        ('"title:not a field"', '"title:not a field"'),
        (r"foo\:bar", r"foo\:bar"),
    ],
)
def test_fields_are_rewritten_in_place(query, expected):
    assert to_es_query_string(query) == expected


def test_clause_carries_the_defaults_search_uses():
    from processors.search import SEARCH_FIELDS

    clause = query_string_clause("maduro military")["query_string"]
    assert clause["default_operator"] == "OR"
    assert clause["fields"] == list(SEARCH_FIELDS)
    assert clause["allow_leading_wildcard"] is False


def test_field_applies_to_words_inside_its_group():
    parsed = parse("title:(maduro OR text:army)")
    inner = parsed.root.clauses[0][1]
    assert [c.field for _, c in inner.clauses] == ["title", "text"]


@pytest.mark.parametrize(
    "query,all_and",
    [("a AND b", True), ("a && b AND c", True), ("a b", False), ("a OR b", False), ("a AND b OR c", False),
     ("a NOT b", False), ("a AND NOT b", True), ("a", True)],
)
def test_groups_know_when_every_clause_is_required(query, all_and):
    assert parse(query).root.all_and is all_and
