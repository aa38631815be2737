"""API bearer tokens: each belongs to one owner; only a hash is stored.

A token reads ``ww_<id>_<secret>``: ``id`` (12 hex digits) names the stored
document, ``secret`` is 256 random bits. The index ``indices.api_tokens`` keeps
the SHA-256 of the whole token, never the token: a leaked index does not let
anyone in, and SHA-256 is enough (no slow hash needed) because the secret is
high-entropy, not a password. A lookup is a get by id and a constant-time
comparison of hashes, so timing says nothing about how much of a guess was
right. Revoking keeps the document (flag + time) so `tokens list` shows it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from elasticsearch import NotFoundError

from wirewatch.names import Indices
from wirewatch.schema import utcnow

log = structlog.get_logger(__name__)

TOKEN_PREFIX = "ww_"
ID_HEX = 12
SECRET_BYTES = 32
MAX_TOKEN_CHARS = 200
MAX_OWNER_CHARS = 128
MAX_LISTED = 10_000
_TOKEN_SHAPE = re.compile(r"ww_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})")

TOKENS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "owner": {"type": "keyword"},
        "hash": {"type": "keyword", "index": False},
        "label": {"type": "keyword", "ignore_above": 256},
        "created_at": {"type": "date"},
        "revoked": {"type": "boolean"},
        "revoked_at": {"type": "date"},
    },
}


class TokenInvalid(ValueError):
    """An owner or label that cannot be stored; the text says why."""


@dataclass(frozen=True)
class TokenInfo:
    id: str
    owner: str
    label: str
    created_at: str
    revoked: bool


def new_token() -> tuple[str, str]:
    """(token id, full token) with fresh randomness."""
    token_id = secrets.token_hex(ID_HEX // 2)
    return token_id, f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_id_of(token: str) -> str | None:
    """The id part of a well-formed token; None for anything else (pure)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        return None
    match = _TOKEN_SHAPE.fullmatch(token)
    return match.group(1) if match else None


def hash_matches(token: str, stored_hash: str) -> bool:
    """Constant-time comparison of the token's hash with the stored one."""
    return hmac.compare_digest(hash_token(token).encode("ascii"), str(stored_hash).encode("ascii", "replace"))


def owner_if_valid(token: str, document: dict[str, Any] | None) -> str | None:
    """The owner when ``document`` is the stored form of ``token`` and not revoked (pure)."""
    if not document or document.get("revoked"):
        return None
    if not hash_matches(token, document.get("hash", "")):
        return None
    owner = document.get("owner")
    return owner if isinstance(owner, str) and owner else None


def check_owner(owner: str) -> str:
    owner = owner or ""
    if not owner or len(owner) > MAX_OWNER_CHARS or any(c.isspace() or ord(c) < 32 for c in owner):
        raise TokenInvalid(f"owner: 1-{MAX_OWNER_CHARS} characters without spaces or control characters")
    return owner


def ensure_index(es, indices: Indices) -> None:
    if not es.indices.exists(index=indices.api_tokens):
        es.options(ignore_status=400).indices.create(  # 400: another process created it first
            index=indices.api_tokens, mappings=TOKENS_MAPPING,
            settings={"number_of_shards": 1, "number_of_replicas": 0})


class TokenStore:
    """Tokens in ``indices.api_tokens``, with a sync Elasticsearch client."""

    def __init__(self, es, indices: Indices):
        self.es = es
        self.indices = indices
        self._ready = False

    def _ensure(self) -> None:
        if not self._ready:
            ensure_index(self.es, self.indices)
            self._ready = True

    def create(self, owner: str, label: str = "", now: datetime | None = None) -> tuple[TokenInfo, str]:
        """Store a new token for ``owner``; returns it in clear once (it cannot be shown again)."""
        owner = check_owner(owner)
        if len(label) > 200:
            raise TokenInvalid("label: at most 200 characters")
        self._ensure()
        token_id, token = new_token()
        created = (now or utcnow()).isoformat()
        document = {"id": token_id, "owner": owner, "hash": hash_token(token), "label": label,
                    "created_at": created, "revoked": False}
        self.es.index(index=self.indices.api_tokens, id=token_id, document=document, op_type="create", refresh=True)
        log.info("tokens.created", token_id=token_id, owner=owner)
        return TokenInfo(token_id, owner, label, created, False), token

    def owner_of(self, token: str) -> str | None:
        """The owner of a valid, unrevoked token; None otherwise."""
        token_id = token_id_of(token)
        if token_id is None:
            return None
        try:
            hit = self.es.get(index=self.indices.api_tokens, id=token_id)
        except NotFoundError:  # no such token, or no index yet
            hash_matches(token, "0" * 64)  # same work either way: timing tells nothing
            return None
        return owner_if_valid(token, hit.get("_source"))

    def list(self, owner: str | None = None) -> list[TokenInfo]:
        if not self.es.indices.exists(index=self.indices.api_tokens):
            return []
        query = {"term": {"owner": owner}} if owner else {"match_all": {}}
        response = self.es.search(index=self.indices.api_tokens, query=query, size=MAX_LISTED,
                                  sort=[{"created_at": "desc"}], source_excludes=["hash"])
        return [_info(hit["_source"]) for hit in response["hits"]["hits"]]

    def revoke(self, token_id: str, now: datetime | None = None) -> bool:
        """True when the token existed (revoking twice is harmless)."""
        if not re.fullmatch(r"[0-9a-f]{12}", token_id or ""):
            return False
        try:
            self.es.update(index=self.indices.api_tokens, id=token_id, refresh=True,
                           doc={"revoked": True, "revoked_at": (now or utcnow()).isoformat()})
        except NotFoundError:
            return False
        log.info("tokens.revoked", token_id=token_id)
        return True


def _info(source: dict[str, Any]) -> TokenInfo:
    return TokenInfo(str(source.get("id", "")), str(source.get("owner", "")), str(source.get("label", "")),
                     str(source.get("created_at", "")), bool(source.get("revoked")))
