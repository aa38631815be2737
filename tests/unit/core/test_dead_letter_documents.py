import json

from processors.agents.deadletters import dead_letter_document
from processors.agents.failures import dead_letter_record


def test_record_becomes_a_searchable_document():
    raw = dead_letter_record("index", "mapper_parsing_exception: field [published_at]", b"abc", b'{"x": 1}')
    doc_id, doc = dead_letter_document(raw)
    assert doc["stage"] == "index"
    assert doc["reason"].startswith("mapper_parsing_exception")
    assert doc["key"] == "abc" and doc["value"] == '{"x": 1}'
    assert dead_letter_document(raw)[0] == doc_id  # a replay overwrites


def test_unreadable_record_is_kept_not_dropped():
    doc_id, doc = dead_letter_document(b"\xff\xfe garbage")
    assert doc["stage"] == "unknown" and "unreadable" in doc["reason"]
    assert json.dumps(doc)  # serialisable
