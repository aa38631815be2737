"""The Elasticsearch clients encode every body with orjson: single JSON bodies and
the NDJSON ones of bulk and msearch (the articles the indexer writes, the scratch
copies and subscription clauses of the matcher), under both media types."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from processors.es.client import make_client
from wirewatch.settings import ESSettings

MEDIA_TYPES = ["application/json", "application/vnd.elasticsearch+json",
               "application/x-ndjson", "application/vnd.elasticsearch+x-ndjson"]


def _serializers():
    return make_client(ESSettings(url="http://127.0.0.1:1")).transport.serializers  # never connects


def test_every_json_media_type_is_encoded_by_orjson():
    serializers = _serializers()
    for media_type in MEDIA_TYPES:
        assert "Orjson" in type(serializers.get_serializer(media_type)).__name__, media_type


def test_bulk_lines_say_what_the_standard_library_would():
    ndjson = _serializers().get_serializer("application/vnd.elasticsearch+x-ndjson")
    lines = [{"index": {"_index": "a", "_id": "1"}},
             {"title": "Maduro “dijo” é", "at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), "n": [1, 2.5]},
             "{\"delete\": {\"_id\": \"2\"}}"]
    body = ndjson.dumps(lines)
    assert body.endswith(b"\n")
    decoded = [json.loads(line) for line in body.decode("utf-8").splitlines()]
    assert decoded == [lines[0], {"title": "Maduro “dijo” é", "at": "2026-01-02T03:04:05.000006+00:00", "n": [1, 2.5]},
                       {"delete": {"_id": "2"}}]


def test_a_line_orjson_refuses_is_still_encoded():
    ndjson = _serializers().get_serializer("application/x-ndjson")
    body = ndjson.dumps([{"title": "lone \ud800 surrogate"}])  # orjson refuses; the standard library escapes
    assert body.startswith(b'{"title"') and body.endswith(b"\n")
