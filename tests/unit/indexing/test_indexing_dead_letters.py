"""Dead-letter documents always carry a date the Pipeline dashboard can filter
on, and a bulk answer's failed items are sorted into retry / give up."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from processors.agents.deadletters import bulk_failures, dead_letter_document, failed_at_of
from processors.agents.failures import dead_letter_record

RECEIVED = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def _record(**fields) -> bytes:
    return json.dumps({"stage": "index", "reason": "boom", "key": None, "value": None, **fields}).encode()


def test_the_records_own_failure_time_is_kept():
    _, doc = dead_letter_document(dead_letter_record("match", "boom", None, b"v"), RECEIVED)
    assert doc["failed_at"] != RECEIVED.isoformat()
    assert datetime.fromisoformat(doc["failed_at"]).tzinfo is not None


@pytest.mark.parametrize("failed_at", [None, "", "yesterday", 12, ["2026-01-01"], "2026-13-45T99:00:00", "9" * 500])
def test_a_missing_or_unreadable_failure_time_becomes_the_time_it_was_read(failed_at):
    fields = {} if failed_at is None else {"failed_at": failed_at}
    _, doc = dead_letter_document(_record(**fields), RECEIVED)
    assert doc["failed_at"] == RECEIVED.isoformat()


def test_an_unreadable_record_is_dated_too():
    _, doc = dead_letter_document(b"\xff\xfe garbage", RECEIVED)
    assert doc["stage"] == "unknown"
    assert doc["failed_at"] == RECEIVED.isoformat()


def test_naive_and_offset_times_come_out_in_the_extended_form_with_a_zone():
    assert failed_at_of("2026-11-28T10:00:00", RECEIVED) == "2026-11-28T10:00:00+00:00"
    assert failed_at_of("2026-11-28T10:00:00+02:00", RECEIVED) == "2026-11-28T10:00:00+02:00"
    assert failed_at_of("20261128T100000Z", RECEIVED) == "2026-11-28T10:00:00+00:00"  # basic form, which ES would misread


def test_bulk_without_errors_has_nothing_to_do():
    assert bulk_failures({"errors": False, "items": [{"index": {"status": 201}}]}) == (0, [])


def test_bulk_failures_are_split_into_retry_and_give_up():
    # item shapes as the bulk API documents them
    response = {"errors": True, "items": [
        {"index": {"_id": "a", "status": 201}},
        {"index": {"_id": "b", "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue"}}},
        {"index": {"_id": "c", "status": 503, "error": {"type": "unavailable_shards_exception", "reason": "shard"}}},
        {"index": {"_id": "d", "status": 400, "error": {"type": "document_parsing_exception", "reason": "failed_at"}}},
    ]}
    transient, permanent = bulk_failures(response)
    assert transient == 2
    assert permanent == ["document_parsing_exception: failed_at"]


def test_a_malformed_bulk_answer_is_not_a_crash():
    assert bulk_failures({"errors": True, "items": ["nonsense", {}]}) == (0, [])
