"""Standard Webhooks signatures, checked against an independent computation."""

import base64
import hashlib
import hmac

import pytest

from processors.delivery.signing import (
    BadSecret,
    SignatureMismatch,
    decode_secret,
    sign,
    signature_headers,
    verify,
)

BODY = b'{"type":"alert.matched","data":{"id":"abc"}}'


def _independent(key: bytes, msg_id: str, ts: int, body: bytes) -> str:
    mac = hmac.new(key, msg_id.encode() + b"." + str(ts).encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def test_plain_secret_is_used_as_bytes():
    assert sign("msg_1", 1700000000, BODY, "s3cret") == _independent(b"s3cret", "msg_1", 1700000000, BODY)


def test_whsec_secret_is_base64_decoded():
    key = bytes(range(32))
    secret = "whsec_" + base64.b64encode(key).decode()
    assert decode_secret(secret) == key
    assert sign("msg_1", 1700000000, BODY, secret) == _independent(key, "msg_1", 1700000000, BODY)
    assert sign("msg_1", 1700000000, BODY, secret) != _independent(secret.encode(), "msg_1", 1700000000, BODY)


def test_standard_webhooks_reference_vector():
    # From the Standard Webhooks specification's example.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    ts = 1614265330
    body = b'{"test": 2432232314}'
    assert sign(msg_id, ts, body, secret) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_", ""])
def test_bad_secrets_are_refused(secret):
    with pytest.raises(BadSecret):
        decode_secret(secret)


def test_headers_and_verify_round_trip():
    headers = signature_headers("alert-1", BODY, "k", timestamp=1700000000)
    assert headers["webhook-id"] == "alert-1" and headers["webhook-timestamp"] == "1700000000"
    verify(headers, BODY, "k", now=1700000010)
    with pytest.raises(SignatureMismatch):
        verify(headers, BODY + b" ", "k", now=1700000010)
    with pytest.raises(SignatureMismatch):
        verify(headers, BODY, "other", now=1700000010)
    with pytest.raises(SignatureMismatch):
        verify(headers, BODY, "k", now=1700000000 + 3600)  # replayed an hour later


def test_no_secret_means_no_signature_header():
    assert "webhook-signature" not in signature_headers("a", BODY, None, timestamp=1)
