import pytest

from processors.alerts_cli import delivery_outcome


@pytest.mark.parametrize("record, shown", [
    ({"ok": True}, "ok"),
    ({"ok": False}, "FAILED"),
    ({"ok": False, "disabled": True}, "GONE"),
    ({"state": "digest_pending"}, "QUEUED"),   # queued for a digest, not a failure
    ({"state": "digested", "ok": None}, "DIGEST"),
])
def test_each_record_is_shown_as_what_happened(record, shown):
    assert delivery_outcome(record) == shown
