"""Token shape, hashing and checks (pure)."""

from processors.tokens import hash_token, hash_matches, new_token, owner_if_valid, token_id_of, check_owner, TokenInvalid

import pytest


def test_new_tokens_are_unique_and_carry_their_id():
    (id1, t1), (id2, t2) = new_token(), new_token()
    assert t1 != t2 and id1 != id2
    assert token_id_of(t1) == id1 and t1.startswith(f"ww_{id1}_")
    assert len(t1) > 50  # 256 random bits after the id


def test_hash_is_sha256_hex_and_not_the_token():
    _, token = new_token()
    digest = hash_token(token)
    assert len(digest) == 64 and token not in digest
    assert hash_matches(token, digest)
    assert not hash_matches(token + "x", digest)
    assert not hash_matches(token, "")


@pytest.mark.parametrize("bad", ["", "Bearer x", "ww_zzzzzzzzzzzz_" + "a" * 40, "ww_0123456789ab_short",
                                 "ww_0123456789ab_" + "a" * 300, "ww_0123456789ab_" + "a" * 40 + "\n"])
def test_malformed_tokens_have_no_id(bad):
    assert token_id_of(bad) is None


def test_owner_only_for_the_right_unrevoked_token():
    _, token = new_token()
    doc = {"owner": "ana", "hash": hash_token(token), "revoked": False}
    assert owner_if_valid(token, doc) == "ana"
    assert owner_if_valid(token, {**doc, "revoked": True}) is None
    assert owner_if_valid(new_token()[1], doc) is None
    assert owner_if_valid(token, None) is None
    assert owner_if_valid(token, {**doc, "owner": ""}) is None


def test_owner_names_are_checked():
    assert check_owner("ana@example.org") == "ana@example.org"
    for bad in ("", "a b", " ana", "x" * 200, "ana\n"):
        with pytest.raises(TokenInvalid):
            check_owner(bad)
