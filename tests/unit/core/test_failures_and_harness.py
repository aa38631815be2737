import asyncio
import base64
import hashlib
import hmac
import json

import pytest

from processors.agents.failures import PermanentError, dead_letter_record, with_retries
from processors.agents.index import parse_batch
from wirewatch.harness import verify_signature


def test_dead_letter_keeps_the_event_and_the_reason():
    record = json.loads(dead_letter_record("index", "mapper_parsing_exception", b"k1", b"\xff\x00"))
    assert record["stage"] == "index"
    assert record["reason"] == "mapper_parsing_exception"
    assert record["key"] == {"text": "k1"}
    assert base64.b64decode(record["value"]["base64"]) == b"\xff\x00"


def test_with_retries_gives_up_after_the_bound():
    calls = []

    async def failing():
        calls.append(1)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        asyncio.run(with_retries(failing, attempts=3, backoff_s=0, what="x"))
    assert len(calls) == 3


def test_permanent_errors_are_not_retried():
    calls = []

    async def bad():
        calls.append(1)
        raise PermanentError("bad input")

    with pytest.raises(PermanentError):
        asyncio.run(with_retries(bad, attempts=5, backoff_s=0, what="x"))
    assert len(calls) == 1


def test_parse_batch_separates_poison_and_keeps_last_version(sample_article_json):
    first, second = sample_article_json("v1"), sample_article_json("v2")
    articles, bad = parse_batch([first, b"{not json", second])
    assert [a.title for a in articles] == ["v2"]
    assert len(bad) == 1 and "not a valid Article" in bad[0][1]


def test_signature_check_accepts_only_the_right_secret():
    key = b"0123456789abcdef"
    secret = "whsec_" + base64.b64encode(key).decode()
    body = b'{"a":1}'
    sig = base64.b64encode(hmac.new(key, b"id1.1700000000." + body, hashlib.sha256).digest()).decode()
    assert verify_signature(secret, "id1", "1700000000", body, f"v1,{sig}")
    assert not verify_signature(secret, "id2", "1700000000", body, f"v1,{sig}")
    assert not verify_signature("whsec_" + base64.b64encode(b"other").decode(), "id1", "1700000000", body, f"v1,{sig}")
