from datetime import datetime, timedelta, timezone

import pytest

from processors.es.client import best_reason, describe_error
from processors.es.cli import clean_fragment, parse_age
from processors.search import QueryError, build_query, build_request, parse_response, parse_when

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def test_query_string_defaults_and_filters():
    q = build_query("maduro AND military", since=NOW - timedelta(days=7), until=NOW, topic=["politics"],
                    lang="es", source="www.BBC.co.uk")
    qs = q["bool"]["must"][0]["query_string"]
    assert qs["default_operator"] == "OR" and qs["allow_leading_wildcard"] is False
    assert "title^3" in qs["fields"] and "text_es" in qs["fields"]
    filters = q["bool"]["filter"]
    assert {"range": {"published_at": {"gte": (NOW - timedelta(days=7)).isoformat(), "lte": NOW.isoformat()}}} in filters
    assert {"terms": {"topics": ["politics"]}} in filters
    assert {"terms": {"language": ["es"]}} in filters
    assert {"terms": {"source": ["bbc.co.uk"]}} in filters


def test_empty_or_star_query_matches_everything():
    for text in ("", "  ", "*"):
        assert build_query(text)["bool"]["must"] == [{"match_all": {}}]


def test_inverted_range_and_huge_query_are_refused():
    with pytest.raises(QueryError, match="after"):
        build_query("x", since=NOW, until=NOW - timedelta(days=1))
    with pytest.raises(QueryError, match="characters"):
        build_query("x" * 5000)


def test_request_sorts_newest_first_and_bounds_limit():
    request = build_request("maduro", limit=5, facets=["topics", "source"])
    assert request["sort"][0] == {"published_at": {"order": "desc"}}
    assert request["size"] == 5
    assert request["aggs"]["topics"]["terms"]["field"] == "topics"
    with pytest.raises(QueryError):
        build_request("maduro", limit=0)
    with pytest.raises(QueryError, match="unknown facet"):
        build_request("maduro", facets=["nope"])


@pytest.mark.parametrize("text, expected", [
    ("7d", NOW - timedelta(days=7)), ("12h", NOW - timedelta(hours=12)), ("2w", NOW - timedelta(weeks=2)),
    ("2026-01-31", datetime(2026, 1, 31, tzinfo=timezone.utc)),
    ("2026-01-31T08:00:00Z", datetime(2026, 1, 31, 8, tzinfo=timezone.utc)),
])
def test_parse_when(text, expected):
    assert parse_when(text, now=NOW) == expected


def test_parse_when_refuses_words():
    with pytest.raises(QueryError, match="not a time"):
        parse_when("yesterday", now=NOW)


def test_parse_age():
    assert parse_age("90d") == timedelta(days=90)
    assert parse_age("13w") == timedelta(weeks=13)
    for bad in ("90", "3m", "7d", "-5d"):
        with pytest.raises(ValueError):
            parse_age(bad)


def test_response_parsing_merges_language_highlights():
    resp = {"took": 3, "hits": {"total": {"value": 1, "relation": "eq"}, "hits": [{
        "_id": "a1", "_index": "i", "_source": {"title": "T", "url": "u", "source": "s", "topics": ["p"],
                                               "published_at": "2026-11-20T09:30:00+00:00", "language": "en"},
        "highlight": {"title": ["<em>T</em>"], "title_en": ["<em>T</em>"], "text": ["a <em>b</em>"]}}]},
        "aggregations": {"topics": {"buckets": [{"key": "politics", "doc_count": 2}]}}}
    result = parse_response(resp)
    assert result.hits[0].highlights == ["<em>T</em>", "a <em>b</em>"]
    assert result.facets == {"topics": [("politics", 2)]}


def test_syntax_error_reason_names_the_position():
    error = {"type": "search_phase_execution_exception", "reason": "all shards failed", "failed_shards": [{
        "reason": {"type": "query_shard_exception", "reason": "Failed to parse query [maduro AND (]",
                   "caused_by": {"type": "parse_exception",
                                 "reason": "Cannot parse 'maduro AND (': Encountered \"<EOF>\" at line 1, column 12.\nWas expecting"}}}]}
    assert best_reason(error) == "Cannot parse 'maduro AND (': Encountered \"<EOF>\" at line 1, column 12."


def test_describe_error_of_connection_refused():
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as inner:
            raise RuntimeError("Connection error") from inner
    except RuntimeError as exc:
        assert describe_error(exc) == "RuntimeError: Connection refused"


def test_fragments_lose_control_characters():
    assert clean_fragment("a\x1b[31m\ue000b\ue001\n c", "[", "]") == "a [31m[b] c"
