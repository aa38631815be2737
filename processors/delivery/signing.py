"""Webhook signatures as Standard Webhooks (standardwebhooks.com) defines them.

Each request carries ``webhook-id`` (the alert id: the same across retries, so
receivers deduplicate on it), ``webhook-timestamp`` (Unix seconds of this
attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` of
``"{id}.{timestamp}.{body}"`` keyed with the channel secret. A secret written
``whsec_<base64>`` is the base64 of the key (the Standard Webhooks form);
any other secret is used as its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Mapping

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300


class BadSecret(ValueError):
    """A ``whsec_`` secret whose key is not valid base64."""


class SignatureMismatch(ValueError):
    """A request whose signature or timestamp does not check out."""


def decode_secret(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            raise BadSecret("webhook secret starts with whsec_ but the rest is not base64") from None
        if not key:
            raise BadSecret("webhook secret whsec_ has an empty key")
        return key
    if not secret:
        raise BadSecret("webhook secret is empty")
    return secret.encode("utf-8")


def sign(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """``v1,<base64 signature>`` of one message."""
    signed = f"{msg_id}.{timestamp}.".encode("utf-8") + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_headers(msg_id: str, body: bytes, secret: str | None, timestamp: int | None = None) -> dict[str, str]:
    """The three headers; without a secret, id and timestamp only (unsigned)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secret:
        headers["webhook-signature"] = sign(msg_id, timestamp, body, secret)
    return headers


def verify(headers: Mapping[str, str], body: bytes, secret: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> None:
    """What a receiver does (tests and example receivers): raise SignatureMismatch
    unless one of the space-separated signatures matches and the timestamp is
    within ``tolerance_s`` of now (replay protection)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        offered = lowered["webhook-signature"].split(" ")
    except (KeyError, ValueError):
        raise SignatureMismatch("missing or malformed webhook-* headers") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureMismatch(f"timestamp {timestamp} is more than {tolerance_s}s away from now")
    expected = sign(msg_id, timestamp, body, secret)
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise SignatureMismatch("no signature matches")
