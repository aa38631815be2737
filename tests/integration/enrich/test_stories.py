"""Story ids on the real stack: syndicated copies through two feeds share one
story id in Elasticsearch, and two workers on four partitions agree on ids."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timezone

import pytest
from kafka import KafkaProducer

from wirewatch.demo import DEMO_FEEDS
from wirewatch.harness import FeedServer, WorkerProcess
from wirewatch.kafka_admin import delete_topics, ensure_topics
from wirewatch.schema import Article, Source, article_id

pytestmark = pytest.mark.integration
DEADLINE_S = 120
BOILERPLATE = "<p>Sign up for our daily newsletter. Copyright 2017 Syndicate Wire. All rights reserved.</p>"


def syndicated_feed(original: bytes) -> bytes:
    """The demo item as a second outlet runs it: new headline, own link and guid, boilerplate."""
    text = original.decode("utf-8")
    text = re.sub(r"<title>Venezuelan sergeant[^<]*</title>",
                  "<title>Soldier's video calls on troops to defy Maduro</title>", text, count=1)
    text = text.replace("demo.wirewatch.invalid", "syndicate.wirewatch.invalid")  # its own site and links
    text = text.replace("wirewatch-demo-sample-article", "syndicate-copy-of-sample-article")
    text = text.replace("]]></content:encoded>", BOILERPLATE + "]]></content:encoded>")
    assert "syndicate.wirewatch.invalid" in text and BOILERPLATE in text
    return text.encode("utf-8")


def produce_feeds(settings, feeds):
    from producers.kafka_sink import KafkaSink
    from producers.scheduler import poll_once

    sink = KafkaSink(settings)
    try:
        return asyncio.run(poll_once(settings, feeds, sink, force=True))
    finally:
        sink.close(timeout=30)


def produce_articles(settings, topic: str, articles) -> set[int]:
    """Each article to `topic` (key = its id), acknowledged; the partitions they went to."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    try:
        return {producer.send(topic, key=art.id.encode(), value=art.to_json()).get(timeout=30).partition
                for art in articles}
    finally:
        producer.close()


def wait_for_documents(es, index, ids, deadline_s=DEADLINE_S) -> dict[str, dict]:
    deadline, found = time.monotonic() + deadline_s, {}
    while time.monotonic() < deadline:
        result = es.options(ignore_status=(404, 503)).search(index=index, query={"ids": {"values": list(ids)}},
                                                      size=len(ids))
        found = {hit["_id"]: hit["_source"] for hit in result.get("hits", {}).get("hits", [])}
        if len(found) == len(ids):
            break
        time.sleep(0.5)
    return found


def test_syndicated_copies_through_two_feeds_share_one_story(settings, topics, indices, es, tmp_path):
    from producers.catalogue import Feed

    ensure_topics(settings.kafka, topics)
    original = (DEMO_FEEDS / "latam-desk.xml").read_bytes()
    files = {"desk.xml": original, "syndicate.xml": syndicated_feed(original)}
    try:
        with FeedServer(files) as server, WorkerProcess(settings, tmp_path / "worker.log") as worker:
            worker.wait_ready()
            stats = produce_feeds(settings, [Feed(url=server.url("desk.xml"), name="desk"),
                                             Feed(url=server.url("syndicate.xml"), name="syndicate")])
            assert stats.articles_produced == 2
            deadline = time.monotonic() + DEADLINE_S
            hits = []
            while time.monotonic() < deadline and len(hits) < 2:
                hits = es.options(ignore_status=(404, 503)).search(
                    index=indices.articles, query={"exists": {"field": "story_id"}}).get("hits", {}).get("hits", [])
                time.sleep(0.5)
            assert len(hits) == 2, f"not both copies indexed:\n{worker.log_tail()}"
            story_id = hits[0]["_source"]["story_id"]
            same = es.search(index=indices.articles, query={"term": {"story_id": story_id}})
            assert same["hits"]["total"]["value"] == 2, [h["_source"]["story_id"] for h in hits]
            docs = sorted((h["_source"] for h in same["hits"]["hits"]), key=lambda d: d["story_sources"])
            assert [d["story_sources"] for d in docs] == [1, 2], [(d["source"], d["story_first"]) for d in docs]
            assert [d["story_first"] for d in docs] == [True, False]
            assert {d["source"] for d in docs} == {"demo.wirewatch.invalid", "syndicate.wirewatch.invalid"}
    finally:
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)


# ------------------------------------------------------------ two workers

STORIES = [
    ("Central bank raises rates", "The central bank raised its main interest rate by a quarter point on Thursday, "
     "saying inflation had stayed above target for a year. Officials signalled more increases could follow. "
     "Markets had expected the move after strong wage figures last month. The currency rose against the dollar "
     "and bond yields climbed to their highest level since the spring, while mortgage lenders said they would "
     "pass the increase on to borrowers within days."),
    ("Storm forces evacuations", "Thousands of residents were evacuated from coastal towns as a powerful storm "
     "approached on Sunday, with forecasters warning of winds above 150 km/h and flooding in low-lying areas. "
     "Emergency shelters opened in schools and sports halls. Power companies said tens of thousands of homes had "
     "already lost electricity, and ferries and flights were cancelled until Tuesday at the earliest."),
    ("Striker's late goals win derby", "The striker scored twice in the last ten minutes as the home side came "
     "from behind to win the derby, moving within two points of the leaders with five games left. The manager "
     "praised the crowd and said the squad had shown character after a difficult month of injuries and defeats. "
     "The visitors had led through a first-half penalty awarded after a long video review."),
    ("New chip cuts power use", "Researchers at the university unveiled a processor that uses a fraction of the "
     "power of current designs, which they said could extend the battery life of phones and laptops by hours. "
     "The team built the chip with a manufacturer in Taiwan and expects the first devices to use it within two "
     "years. Independent engineers said the results were promising but needed testing outside the laboratory."),
    ("Car plant workers vote to strike", "Workers at the car plant voted to strike over pay after talks between "
     "the union and the company broke down on Friday, putting the production of thousands of vehicles at risk. "
     "The union said the offer did not keep up with prices. The company said it had made a fair offer and urged "
     "the union to return to talks, warning that a long stoppage could cost the region jobs and suppliers orders."),
    ("Film wins top award", "The war drama won best picture at the awards ceremony on Sunday night, and its lead "
     "actress was named best actress for her role as a reporter in a besieged city. The director thanked the "
     "people of the city, many of whom appeared as extras. The film had been turned down by three studios before "
     "a small distributor bought it after its festival premiere last year."),
]


def near_duplicate_pairs() -> list[tuple[Article, Article]]:
    now = datetime.now(timezone.utc)

    def article(url, title, body):
        domain = url.split("/")[2]
        return Article(id=article_id(url), url=url, title=title, text=body, published_at=now, fetched_at=now,
                       source=Source(feed_url=f"https://{domain}/feed", domain=domain))

    pairs = []
    for i, (title, body) in enumerate(STORIES):
        sentences = body.split(". ")
        copy_body = ". ".join([sentences[1], sentences[0]] + sentences[2:]) + " Copyright Wire Service."
        pairs.append((article(f"https://first.example/{i}", title, body),
                      article(f"https://second.example/news/{i}", f"UPDATE: {title.lower()}", copy_body)))
    return pairs


def test_two_workers_on_four_partitions_agree_on_story_ids(settings, topics, indices, es, tmp_path):
    assert settings.kafka.partitions == 4
    ensure_topics(settings.kafka, topics)
    pairs = near_duplicate_pairs()
    try:
        with WorkerProcess(settings, tmp_path / "w1.log") as one, WorkerProcess(settings, tmp_path / "w2.log") as two:
            one.wait_ready()
            two.wait_ready()
            partitions = produce_articles(settings, topics.raw, [art for pair in pairs for art in pair])
            assert len(partitions) >= 2  # the copies really went through different partitions
            ids = [a.id for pair in pairs for a in pair]
            found = wait_for_documents(es, indices.articles, ids)
            assert len(found) == len(ids), f"{len(found)}/{len(ids)} indexed:\n{one.log_tail()}\n{two.log_tail()}"
        story_of = {aid: doc["story_id"] for aid, doc in found.items()}
        for first, copy in pairs:
            assert story_of[first.id] == story_of[copy.id], (first.title, copy.title)
        assert len(set(story_of.values())) == len(pairs)
        assert sorted(doc["story_sources"] for doc in found.values()) == [1] * len(pairs) + [2] * len(pairs)
        for first, copy in pairs:
            assert found[first.id]["story_first"] != found[copy.id]["story_first"]
    finally:
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)


def test_story_index_is_rebuilt_after_a_restart(settings, topics, indices, es, tmp_path):
    ensure_topics(settings.kafka, topics)
    (first, copy), (other, _) = near_duplicate_pairs()[:2]

    try:
        with WorkerProcess(settings, tmp_path / "before.log") as worker:
            worker.wait_ready()
            produce_articles(settings, topics.raw, [first, other])
            before = wait_for_documents(es, indices.articles, [first.id, other.id])
            assert len(before) == 2, worker.log_tail()
        with WorkerProcess(settings, tmp_path / "after.log") as worker:
            worker.wait_ready()
            produce_articles(settings, topics.raw, [copy])
            after = wait_for_documents(es, indices.articles, [first.id, copy.id])
            assert copy.id in after, worker.log_tail()
            produce_articles(settings, topics.raw, [first])  # a re-delivery of the first article: an update
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline:
                after = wait_for_documents(es, indices.articles, [first.id, copy.id], 5)
                if after[first.id].get("enriched_at") != before[first.id].get("enriched_at"):
                    break
                time.sleep(0.5)
            assert copy.id in after, worker.log_tail()
    finally:
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)
    assert after[copy.id]["story_id"] == before[first.id]["story_id"]
    assert after[copy.id]["story_first"] is False and after[copy.id]["story_sources"] == 2
    # The re-delivery is an update: still the first of its story, not a new source.
    assert after[first.id]["enriched_at"] != before[first.id]["enriched_at"], "the re-delivery was not processed"
    assert after[first.id]["story_first"] is True and after[first.id]["story_id"] == before[first.id]["story_id"]
    assert after[first.id]["story_sources"] == 2  # the story's sources so far, not 3
