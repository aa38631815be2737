"""Per-article candidates: the inverted index of anchors, prefix anchors, the
"solid" rule for fields a batch does not search, the searches built from the
candidate pairs, and the filters-aggregation answer."""

import pytest

from processors.matcher import (
    SCRATCH_ID,
    AnchorIndex,
    HighlightTerms,
    TokenIndex,
    anchors,
    candidate_searches,
    filters_search_body,
    has_anchor_in,
    matches_from_aggregation,
    scratch_document,
)
from processors.query_validation import parse
from wirewatch.schema import Subscription, SubscriptionFilters

STOP_IN_STEMMED = {"the", "over"}


def lookup(field_name, text):
    """A stand-in analyser: lowercase words; the `_en` fields drop stop words
    and a plural s."""
    words = text.lower().replace("-", " ").split()
    if field_name.endswith("_en"):
        words = [w[:-1] if w.endswith("s") and len(w) > 4 else w for w in words if w not in STOP_IN_STEMMED]
    return tuple(words)


def anchor_of(query, fields=("title", "text"), prefix_fields=("title", "text")):
    return anchors(parse(query).root, fields, lookup, prefix_fields)


def _sub(sub_id, query, **filters):
    return Subscription(id=sub_id, name=sub_id, query=query, filters=SubscriptionFilters(**filters))


def test_trailing_wildcard_anchors_on_a_lowercased_prefix():
    assert anchor_of("Venezuel*") == {("title", "venezuel", True), ("text", "venezuel", True)}
    assert anchor_of("title:venez*") == {("title", "venez", True)}
    assert has_anchor_in(anchor_of("venezuel*"), {"text": {"venezuelan"}})
    assert not has_anchor_in(anchor_of("venezuel*"), {"text": {"venezia"}})


@pytest.mark.parametrize("query", ["ven*", "Venezuel*"])
def test_no_prefix_anchor_where_the_analyser_may_not_lowercase(query):
    assert anchor_of(query, prefix_fields=("title",)) is None


@pytest.mark.parametrize("query", ["café*", "al-q*", "u.s*"])
def test_no_prefix_anchor_beyond_ascii_letters_and_digits(query):
    assert anchor_of(query) is None


def test_an_and_prefers_an_exact_term_to_a_prefix():
    assert anchor_of("venezuel* AND maduro") == {("title", "maduro"), ("text", "maduro")}


@pytest.mark.parametrize(
    "query,expected",
    [
        # "over" is a stop word of text_en: a batch searching only text_en
        # drops it, so it is no clause every match must hold...
        ("over AND maduro", {("text_es", "maduro"), ("text_en", "maduro")}),
        ("(over OR the) AND maduro", {("text_es", "maduro"), ("text_en", "maduro")}),
        # ...and "over -army" would be a pure negation there (everything but army)
        ("over -army", None),
        ("over AND NOT army", None),
        ("over", None),
        ("over OR maduro", None),
        # a phrase keeps its other words
        ('"over the army"', {("text_es", "over"), ("text_en", "army")}),
    ],
)
def test_a_word_that_may_vanish_from_a_search_is_no_anchor(query, expected):
    # no always-searched field here: a batch may search text_en alone
    got = anchor_of(query, ("text_es", "text_en"), ())
    assert got == (expected if expected is None else frozenset(expected))


def test_a_word_kept_by_an_always_searched_field_anchors():
    # every search has `text`: there "over" never vanishes
    assert anchor_of("over -army", ("text", "text_en"), ()) == {("text", "over")}
    assert anchor_of("over OR maduro", ("text", "text_en"), ()) == {("text", "over"), ("text", "maduro"), ("text_en", "maduro")}


def test_index_finds_each_articles_candidates_by_its_terms():
    subs = [_sub("a", "maduro"), _sub("b", "soldiers AND army"), _sub("c", "venezuel*"), _sub("d", "topic:politics")]
    anchor_by_id = {s.id: anchor_of(s.query) for s in subs}
    index = AnchorIndex.build(subs, lambda s: anchor_by_id[s.id])
    docs = {
        "d1": {"text": {"maduro": {}, "army": {}}},
        "d2": {"title": {"venezuelan": {}}, "text": {"soldiers": {}}},
        "d3": {"text": {"weather": {}}},
    }
    batch_terms = {"title": {"venezuelan"}, "text": {"maduro", "army", "soldiers", "weather"}}
    extra = index.expanded_prefixes(batch_terms)
    got = {doc: {subs[p].id for p in index.candidates(terms, extra)} for doc, terms in docs.items()}
    # b's anchor is one of its required words (either will do); d has no anchor: everywhere
    assert got["d3"] == {"d"}
    assert got["d2"] >= {"c", "d"} and "a" not in got["d2"]
    assert got["d1"] >= {"a", "d"} and "c" not in got["d1"]
    assert ("b" in got["d1"]) != ("b" in got["d2"])


def test_each_candidate_subscription_is_searched_once_on_its_own_articles():
    subs = [_sub(f"s{i}", "x") for i in range(5)]
    pairs = {"d1": {"s0", "s1"}, "d2": {"s1", "s3"}, "d3": set()}
    searches = candidate_searches(pairs, subs, chunk_size=2)
    assert [[s.id for s in chunk] for chunk, _, _ in searches] == [["s0", "s1"], ["s3"]]
    assert searches[0][1] == ["d1", "d2"] and searches[0][2] == {"s0": ["d1"], "s1": ["d1", "d2"]}
    assert searches[1][1] == ["d2"] and searches[1][2] == {"s3": ["d2"]}


def test_filters_body_one_filter_per_subscription_with_its_filters_and_articles():
    subs = [_sub("s0", "maduro", languages=["en"]), _sub("s1", "army")]
    body = filters_search_body(subs, ["d1", "d2"], ("title", "text"), {"s0": ["d1"], "s1": ["d1", "d2"]})
    assert body["size"] == 0 and body["query"] == {"ids": {"values": ["d1", "d2"]}}
    filters = body["aggs"]["subs"]["filters"]["filters"]
    assert list(filters) == ["s0", "s1"]
    assert filters["s0"]["bool"]["filter"] == [{"terms": {"language": ["en"]}}, {"ids": {"values": ["d1"]}}]
    assert filters["s1"]["bool"]["must"][0]["query_string"]["fields"] == ["title", "text"]
    assert body["aggs"]["subs"]["aggs"]["docs"]["terms"] == {"field": SCRATCH_ID, "size": 2}


def test_matches_from_aggregation_and_refuses_a_truncated_bucket():
    response = {"aggregations": {"subs": {"buckets": {
        "s0": {"doc_count": 1, "docs": {"sum_other_doc_count": 0, "buckets": [{"key": "d1", "doc_count": 1}]}},
        "s1": {"doc_count": 0, "docs": {"buckets": []}},
        "s2": {"doc_count": 2, "docs": {"sum_other_doc_count": 0, "buckets": [{"key": "d1"}, {"key": "d2"}]}},
    }}}}
    assert matches_from_aggregation(response) == {"d1": {"s0", "s2"}, "d2": {"s2"}}
    response["aggregations"]["subs"]["buckets"]["s0"]["docs"]["sum_other_doc_count"] = 3
    with pytest.raises(RuntimeError):
        matches_from_aggregation(response)


def test_scratch_document_keeps_only_what_queries_and_filters_read():
    document = {"title": "t", "text": "x", "text_en": "x", "summary": "s", "keywords": ["k"], "url": "u",
                "source": "a.org", "domain": "www.a.org", "language": "en", "topics": ["p"], "entity": ["E"],
                "source_country": "VE", "entities": {"person": ["E"]}}
    got = scratch_document(document, "b-1")
    assert got == {"title": "t", "text": "x", "text_en": "x", "source": "a.org", "domain": "www.a.org",
                   "language": "en", "topics": ["p"], "entity": ["E"], "source_country": "VE", SCRATCH_ID: "b-1"}


@pytest.mark.parametrize(
    "text,key,prefix,expected",
    [
        ("the army and the armies", "army", None, [(4, 8, "army")]),
        ("venezuela's army; venezuela", "venezuela", None, [(0, 11, "venezuela's"), (18, 27, "venezuela")]),
        ("'army' (army) army_x", "army", None, [(1, 5, "army"), (8, 12, "army")]),
        ("don't", "don", None, []),
        ("Soldiers, a soldier; SOLDIERING", "soldier", None, [(0, 8, "soldiers"), (12, 19, "soldier"), (21, 31, "soldiering")]),
        ("Venezuela's army, venezuelans and antivenezuelan", None, "venezuel", [(0, 11, "venezuela's"), (18, 29, "venezuelans")]),
        ("£5 for “Cafe” army — armies", "army", "caf", [(8, 12, "cafe"), (14, 18, "army")]),
        ("£5 for “Café” army — armies", "army", "caf", [(8, 12, "cafe"), (14, 18, "army")]),
        ("Nicolás met NICOLAS", "nicola", None, [(0, 7, "nicolas"), (12, 19, "nicolas")]),
    ],
)
def test_token_index_finds_whole_tokens_only(text, key, prefix, expected):
    """Highlight hits: whole tokens (not inside a longer word nor an apostrophe
    compound) whose stem key is the key or that start with the prefix, folded."""
    terms = HighlightTerms(frozenset([key] if key else []), (prefix,) if prefix else ())
    assert TokenIndex.of(text).hits(terms) == expected


def predicate_of(query, fields=("title", "text")):
    from processors.matcher import term_predicate

    return term_predicate(parse(query).root, fields, lookup)


@pytest.mark.parametrize(
    "query,doc,expected",
    [
        ("maduro", {"text": {"maduro": {}}}, True),
        ("maduro", {"text": {"maduros": {}}}, False),
        ("maduro AND army", {"title": {"army": {}}, "text": {"maduro": {}}}, True),
        ("maduro AND army", {"text": {"maduro": {}}}, False),
        ("maduro OR army", {"title": {"army": {}}}, True),
        ("maduro AND NOT army", {"text": {"maduro": {}, "army": {}}}, False),
        ("maduro AND NOT army", {"text": {"maduro": {}}}, True),
        ("(maduro OR army) AND caracas", {"text": {"army": {}, "caracas": {}}}, True),
        ("(maduro OR army) AND caracas", {"text": {"army": {}}}, False),
        ("title:maduro", {"text": {"maduro": {}}}, False),
        ("+maduro -army", {"text": {"maduro": {}}}, True),
        ("+maduro -army", {"text": {"maduro": {}, "army": {}}}, False),
        ("+maduro army", {"text": {"maduro": {}}}, True),       # beside a required clause, an optional one only scores
        ("maduro army -caracas", {"text": {"army": {}}}, True),  # no required clause: one optional one must match
        ("maduro army -caracas", {"text": {"caracas": {}}}, False),
        ("maduro OR army OR caracas", {"text": {"caracas": {}}}, True),
        ("maduro OR army OR caracas", {"text": {"venezuela": {}}}, False),
        ("maduro OR NOT army", {"text": {"maduro": {}, "army": {}}}, False),
        ("NOT army AND maduro", {"text": {"maduro": {}}}, True),
    ],
)
def test_term_predicate_decides_the_simplest_queries(query, doc, expected):
    predicate = predicate_of(query)
    if expected is None:
        assert predicate is None
    else:
        assert predicate(doc) is expected


@pytest.mark.parametrize(
    "query",
    ['"armed forces"', "venez*", "al-qaeda", "a OR b AND c", "a AND b OR c", "maduro AND (NOT a NOT b)",
     "over", "over AND maduro", "lang:é", 'entity:"Nicolás Maduro"', "topic:pol*"],
)
def test_term_predicate_leaves_the_rest_to_elasticsearch(query):
    # phrases, prefixes without lower-casing fields, several or no terms per field, Lucene's
    # OR/AND mixes, groups with nothing positive, non-ASCII values of lower-cased keyword
    # fields, keyword prefixes
    assert predicate_of(query, ("text", "text_en")) is None


@pytest.mark.parametrize(
    "query,doc,expected",
    [
        ("venez*", {"text": {"venezuela": {}}}, True),
        ("VENEZ*", {"text_en": {"venezuelan": {}}}, True),
        ("venez*", {"text": {"avenez": {}}}, False),
        ("venez* AND NOT maduro", {"text": {"venezuela": {}, "maduro": {}}}, False),
        ("topic:politics", {"topics": {"politics"}}, True),
        ("topic:Politics", {"topics": {"politics"}}, False),          # no normaliser on topics
        ("lang:EN AND maduro", {"language": {"en"}, "text": {"maduro": {}}}, True),
        ("source:BBC.co.uk", {"source": {"bbc.co.uk"}}, True),
        ('entity:"Nicolas Maduro" OR army', {"entity": {"nicolas maduro"}}, True),
        ('entity:"Nicolas Maduro" OR army', {"entity": {"maduro"}}, False),
    ],
)
def test_term_predicate_decides_prefixes_and_keyword_fields(query, doc, expected):
    from processors.matcher import term_predicate

    reads = set()
    predicate = term_predicate(parse(query).root, ("text", "text_en"), lookup, ("text", "text_en"), reads)
    assert predicate(doc) is expected
    assert reads <= {"topics", "language", "source", "entity"}


def test_prefix_needs_every_searched_field_to_lower_case():
    from processors.matcher import term_predicate

    assert term_predicate(parse("venez*").root, ("text", "text_en"), lookup, ("text",)) is None
    assert term_predicate(parse("title:venez*").root, ("text", "text_en"), lookup, ("title",)) is not None


def _filtered_sub(**filters):
    from wirewatch.schema import Subscription, SubscriptionFilters

    return Subscription(id="s", name="s", query="x", filters=SubscriptionFilters(**filters))


@pytest.mark.parametrize(
    "filters,doc,expected",
    [
        ({"languages": ["EN"]}, {"language": {"en"}}, True),
        ({"languages": ["es", "fr"]}, {"language": {"en"}}, False),
        ({"sources": ["BBC.co.uk"]}, {"source": set(), "domain": {"bbc.co.uk"}}, True),   # source or domain
        ({"topics": ["Sport"]}, {"topics": {"sport"}}, False),                             # exact case
        ({"topics": ["sport"], "languages": ["en"]}, {"topics": {"sport"}, "language": {"es"}}, False),
        ({"countries": ["gb"]}, {"source_country": {"gb"}}, True),
        ({"countries": ["gb"]}, {}, False),
    ],
)
def test_filter_predicate_is_filter_clauses_in_python(filters, doc, expected):
    from processors.matcher import filter_predicate

    reads = set()
    assert filter_predicate(_filtered_sub(**filters), reads)(doc) is expected
    assert reads


def test_filter_predicate_leaves_non_ascii_lowercased_values_to_elasticsearch():
    from processors.matcher import filter_predicate

    assert filter_predicate(_filtered_sub(sources=["españa.es"]), set()) is None
    assert filter_predicate(_filtered_sub(topics=["économie"]), set()) is not None  # topics: compared as is


def test_keyword_facts_normalise_and_drop_what_the_index_ignores():
    from processors.matcher import keyword_facts

    facts = keyword_facts({"language": "EN", "topics": ["sport", "x" * 200], "source": "Diário", "entity": ["ACME"]},
                          {"topics": 128})
    assert facts.values["language"] == {"en"}
    assert facts.values["topics"] == {"sport"}           # beyond ignore_above: not indexed
    assert facts.values["entity"] == {"acme"}
    assert "source" in facts.unsure and "language" not in facts.unsure


def test_keyword_decisions_only_where_the_mapping_normalises_as_assumed():
    from processors.matcher import KEYWORD_FIELDS, KEYWORD_LOWERCASED, keyword_mapping_agrees

    def mapping(overrides):
        props = {f: {"type": "keyword", **({"normalizer": "ww_lowercase"} if f in KEYWORD_LOWERCASED else {})}
                 for f in KEYWORD_FIELDS}
        props.update(overrides)
        return {"properties": props}

    assert keyword_mapping_agrees(mapping({}))
    assert not keyword_mapping_agrees(mapping({"topics": {"type": "keyword", "normalizer": "ww_lowercase"}}))
    assert not keyword_mapping_agrees(mapping({"entity": {"type": "keyword"}}))
    assert not keyword_mapping_agrees(mapping({"source": {"type": "text"}}))


def positions_of(field_name, text):
    return tuple(range(len(lookup(field_name, text))))


@pytest.mark.parametrize(
    "query,doc,expected",
    [
        ('"armed forces"', {"text": {"armed": {}}}, False),                  # a term missing everywhere: no match
        ('"armed forces"', {"title": {"armed": {}}, "text": {"forces": {}}}, False),  # not in one field
        ('"armed forces"', {"text": {"armed": {}, "forces": {}}}, None),     # all there: positions decide
        ('"maduro"', {"text": {"maduro": {}}}, True),                        # one term: a term query
        ('maduro AND "armed forces"', {"text": {"armed": {}, "forces": {}}}, False),
        ('maduro AND "armed forces"', {"text": {"maduro": {}, "armed": {}}}, False),
        ('maduro AND "armed forces"', {"text": {"maduro": {}, "armed": {}, "forces": {}}}, None),
        ('maduro OR "armed forces"', {"text": {"maduro": {}}}, True),
        ('maduro OR "armed forces"', {"text": {"armed": {}, "forces": {}}}, None),
        ('maduro OR "armed forces"', {"text": {"armed": {}}}, False),
        ('maduro AND NOT "armed forces"', {"text": {"maduro": {}, "armed": {}}}, True),
        ('maduro AND NOT "armed forces"', {"text": {"maduro": {}, "armed": {}, "forces": {}}}, None),
        ('maduro AND NOT "armed forces"', {"text": {"armed": {}, "forces": {}}}, False),
    ],
)
def test_phrases_without_document_positions_are_ruled_out_by_a_missing_term(query, doc, expected):
    from processors.matcher import is_maybe, term_predicate

    predicate = term_predicate(parse(query).root, ("title", "text"), lookup, positions=positions_of, doc_positions=False)
    assert predicate(doc) is expected
    assert is_maybe(predicate) == ('"armed forces"' in query)


def test_a_phrase_with_tokens_stacked_at_one_position_is_left_to_elasticsearch():
    from processors.matcher import term_predicate

    stacked = lambda field_name, text: (0, 0)  # noqa: E731 - e.g. a folded copy kept beside the original
    assert term_predicate(parse('"armed forces"').root, ("text",), lookup, positions=stacked, doc_positions=False) is None


def test_the_share_of_documents_left_to_search_follows_recent_parts():
    from processors.matcher import SearchedShare

    share = SearchedShare()
    assert share.value == 0.0  # term vectors without indexing until parts say otherwise
    for _ in range(10):
        share.add(250, 250)
    assert share.value > 0.8
    for _ in range(10):
        share.add(3, 250)
    assert share.value < 0.2
    share.add(0, 0)  # an empty part changes nothing
    assert share.value < 0.2
