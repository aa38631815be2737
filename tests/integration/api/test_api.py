"""The HTTP API against the real Elasticsearch: tokens, owners, validation, paging."""

from datetime import datetime, timezone

import pytest

pytestmark = pytest.mark.integration

SUB = {"name": "Venezuela", "query": "maduro AND (military OR soldiers)",
       "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "whsec_c2VjcmV0"}]}


def test_one_owner_cannot_read_or_change_another_owners_subscriptions(api, token_for):
    ana, bob = token_for("ana"), token_for("bob")

    async def scenario(c):
        status, created = await c.call("POST", "/subscriptions", ana, json=SUB)
        assert status == 201, created
        sub_id = created["id"]
        assert created["owner"] == "ana" and created["channels"][0]["secret"] == "********"

        for method, body in (("GET", None), ("PUT", {**SUB, "name": "taken over"}), ("DELETE", None)):
            status, answer = await c.call(method, f"/subscriptions/{sub_id}", bob, json=body)
            assert status == 404, (method, answer)
            assert answer["error"]["code"] == "not_found" and sub_id not in str(answer)
        # a missing id answers exactly the same
        assert (await c.call("GET", "/subscriptions/no-such-id", bob))[1] == (await c.call("GET", f"/subscriptions/{sub_id}", bob))[1]
        assert (await c.call("GET", "/subscriptions", bob))[1]["items"] == []

        status, own = await c.call("POST", "/subscriptions", bob, json={**SUB, "name": "Bob's"})
        assert status == 201
        status, listed = await c.call("GET", "/subscriptions", ana)
        assert [s["id"] for s in listed["items"]] == [sub_id]

        # ana's subscription is untouched, and she can change it (masked secret kept)
        status, shown = await c.call("GET", f"/subscriptions/{sub_id}", ana)
        assert status == 200 and shown["name"] == "Venezuela"
        status, replaced = await c.call("PUT", f"/subscriptions/{sub_id}", ana, json={**shown, "mode": "daily"})
        assert status == 200 and replaced["mode"] == "daily" and replaced["owner"] == "ana"
        # an owner in the body cannot move it to someone else
        status, moved = await c.call("PUT", f"/subscriptions/{sub_id}", ana, json={**SUB, "owner": "bob"})
        assert status == 200 and moved["owner"] == "ana"
        assert (await c.call("GET", f"/subscriptions/{own['id']}", ana))[0] == 404
        assert (await c.call("DELETE", f"/subscriptions/{sub_id}", ana))[0] == 204
        assert (await c.call("GET", f"/subscriptions/{sub_id}", ana))[0] == 404
        return sub_id

    sub_id = api(scenario)
    from processors.subscriptions import SubscriptionStore

    assert SubscriptionStore(token_for.store.es, token_for.store.indices).get(sub_id) is None


def test_stored_secret_survives_a_put_of_the_masked_form(api, token_for, es, indices):
    ana = token_for("ana")

    async def scenario(c):
        _, created = await c.call("POST", "/subscriptions", ana, json=SUB)
        await c.call("PUT", f"/subscriptions/{created['id']}", ana, json=created)
        return created["id"]

    from processors.subscriptions import SubscriptionStore

    assert SubscriptionStore(es, indices).get(api(scenario)).channels[0].secret == "whsec_c2VjcmV0"


def test_bad_tokens_get_401(api, token_for):
    good = token_for("ana")
    revoked = token_for("ana")
    from processors.tokens import token_id_of

    assert token_for.store.revoke(token_id_of(revoked))
    token_id = token_id_of(good)
    wrong_secret = f"ww_{token_id}_{'A' * 43}"

    async def scenario(c):
        assert (await c.call("GET", "/subscriptions", good))[0] == 200
        for token in ("nonsense", wrong_secret, revoked, f"ww_{'0' * 12}_{'B' * 43}", ""):
            status, body = await c.call("GET", "/subscriptions", token)
            assert status == 401, token
            assert body["error"]["code"] == "unauthorized"
        assert (await c.call("POST", "/subscriptions", None, json=SUB))[0] == 401

    api(scenario)
    assert [t.revoked for t in token_for.store.list("ana")].count(True) == 1


def test_malformed_query_is_400_with_its_position(api, token_for):
    ana = token_for("ana")

    async def scenario(c):
        status, body = await c.call("POST", "/subscriptions", ana, json={**SUB, "query": "maduro AND *ilitary"})
        assert status == 400
        assert body["error"]["code"] == "query_rejected" and body["error"]["position"] == 11
        assert "wildcard" in body["error"]["message"]
        status, body = await c.call("POST", "/subscriptions/test", ana, json={"query": '"armed forces'})
        assert status == 400 and body["error"]["position"] == 0
        status, body = await c.call("POST", "/subscriptions", ana, json={**SUB, "id": "mine"})
        assert status == 400 and "id" in body["error"]["message"]
        status, body = await c.call("POST", "/subscriptions", ana, json={**SUB, "colour": "red"})
        assert status == 400 and "colour" in body["error"]["message"]
        status, body = await c.call("POST", "/subscriptions", ana, data=b"{not json",
                                    headers={"Content-Type": "application/json"})
        assert status == 400 and body["error"]["code"] == "bad_json"
        status, _ = await c.call("POST", "/subscriptions", ana, data=b"x" * (200 * 1024))
        assert status == 413
        assert (await c.call("GET", "/subscriptions?size=100000", ana))[0] == 400
        assert (await c.call("GET", "/subscriptions", ana))[1]["items"] == []

    api(scenario)


def test_test_endpoint_counts_what_the_query_finds(api, token_for, es, indices, settings, run_async):
    from processors.es.samples import make_article
    from processors.es.templates import ensure_articles_index, ensure_templates
    from processors.indexer import index_batch

    now = datetime.now(timezone.utc)
    articles = [make_article("https://news.example.org/a", title="Maduro and the military", text="Soldiers rise up.",
                             published_at=now, fetched_at=now),
                make_article("https://news.example.org/b", title="Budget talks", text="Parliament debated.",
                             published_at=now, fetched_at=now)]
    ensure_templates(es, indices)
    ensure_articles_index(es, indices)

    assert run_async(lambda client: index_batch(client, indices, articles, refresh=True)).all_ok
    ana = token_for("ana")

    async def scenario(c):
        status, body = await c.call("POST", "/subscriptions/test", ana, json={"query": "maduro AND military", "since": "1d"})
        assert status == 200, body
        assert body["total"] == 1 and body["articles"][0]["title"] == "Maduro and the military"
        assert body["counts"]["per_day"][0]["count"] == 1
        status, body = await c.call("POST", "/subscriptions/test", ana,
                                    json={"query": "maduro", "since": "1d", "filters": {"languages": ["fr"]}})
        assert status == 200 and body["total"] == 0

    api(scenario)


def test_alerts_are_the_owners_own_and_paged(api, token_for, es, indices):
    from processors.delivery import DeliveryResult, record_delivery
    from wirewatch.schema import Alert

    def alert(n, owner):
        return Alert(id=f"a{n}", subscription_id=f"sub-{owner}", subscription_name="S", owner=owner, query="q",
                     article_id=f"x{n}", story_id=f"x{n}", title=f"title {n}", url="https://e.org/x", source="e.org",
                     published_at=datetime(2026, 11, 1, tzinfo=timezone.utc))

    for n in range(5):
        record_delivery(es, indices, alert(n, "ana" if n < 3 else "bob"),
                        DeliveryResult(True, 1, 200, channel="webhook", target="http://h"), refresh=True)
    ana = token_for("ana")

    async def scenario(c):
        seen, cursor = [], None
        for _ in range(5):
            status, page = await c.call("GET", "/alerts?size=2" + (f"&cursor={cursor}" if cursor else ""), ana)
            assert status == 200
            seen += [item["alert_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == ["a0", "a1", "a2"]
        assert (await c.call("GET", "/alerts?subscription_id=sub-bob", ana))[1]["items"] == []
        assert (await c.call("GET", "/alerts?cursor=garbage", ana))[0] == 400

    api(scenario)
