"""`wirewatch demo`: the whole pipeline on the bundled feeds, with live progress.

Feeds served on loopback -> producer -> Kafka -> worker (enrich, index, match,
deliver) -> Elasticsearch, and a subscription whose alert reaches a local
webhook receiver. Each run gets topics and indices of its own (the previous
run's are removed first), so running it twice shows the same thing twice.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from wirewatch.harness import FeedServer, WebhookReceiver, WorkerProcess, produce_once
from wirewatch.names import Indices, Topics
from wirewatch.settings import Settings, load_settings

DEMO_FEEDS = Path(__file__).resolve().parent / "demo_feeds"
DEMO_QUERY = "maduro AND (military OR soldiers)"
DEMO_TOPIC_PREFIX = "demo-"
DEMO_INDEX_PREFIX = "wirewatch-demo-"
DEADLINE_S = 240.0


@dataclass
class Progress:
    feeds: int = 0
    produced: int = 0
    enriched: int = 0
    indexed: int = 0
    alerts: int = 0

    def line(self, elapsed: float) -> str:
        return (f"[{elapsed:5.1f}s] feeds fetched {self.feeds} | produced {self.produced} | "
                f"enriched {self.enriched} | indexed {self.indexed} | alerts {self.alerts}")


def demo_settings(base: Settings, run_id: str) -> Settings:
    return base.model_copy(update={
        "kafka": base.kafka.model_copy(update={"topic_prefix": f"{DEMO_TOPIC_PREFIX}{run_id}."}),
        "es": base.es.model_copy(update={"index_prefix": f"{DEMO_INDEX_PREFIX}{run_id}"}),
        "producer": base.producer.model_copy(update={"allow_hosts": [*base.producer.allow_hosts, "127.0.0.1"]}),
        "alerts": base.alerts.model_copy(update={"allow_hosts": [*base.alerts.allow_hosts, "127.0.0.1"],
                                                  "subscriptions_refresh_s": 1.0}),
        "processor": base.processor.model_copy(update={"app_id": f"wirewatch-demo-{run_id}", "web_port": 0,
                                                        "data_dir": base.stack.state_dir / "demo" / run_id}),
    })


def remove_previous_runs(settings: Settings) -> None:
    """Old demo topics and indices go, so that demos do not pile up."""
    from elasticsearch import Elasticsearch

    from wirewatch.kafka_admin import admin_client

    es = Elasticsearch(settings.es.url, request_timeout=30)
    try:
        es.options(ignore_status=404).indices.delete(index=f"{DEMO_INDEX_PREFIX}*", expand_wildcards="all")
        es.options(ignore_status=404).indices.delete_index_template(name=f"{DEMO_INDEX_PREFIX}*")
    finally:
        es.close()
    admin = admin_client(settings.kafka)
    try:
        old = [t for t in admin.list_topics() if t.startswith(DEMO_TOPIC_PREFIX)]
        if old:
            admin.delete_topics(old)
        groups = [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith("wirewatch-demo-")]
        if groups:
            admin.delete_groups(groups)
    finally:
        admin.close()


def topic_count(settings: Settings, topic: str) -> int:
    """Messages in a topic (sum of end offsets: the demo's topics start empty)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers.split(","), enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        return sum(consumer.end_offsets(tps).values()) if tps else 0
    finally:
        consumer.close()


def es_count(settings: Settings, index: str) -> int:
    from elasticsearch import Elasticsearch

    es = Elasticsearch(settings.es.url, request_timeout=10)
    try:
        return es.options(ignore_status=404).count(index=index).get("count", 0)
    finally:
        es.close()


def create_subscription(settings: Settings, webhook_url: str, secret: str):
    from processors.es.client import make_client
    from processors.subscriptions import SubscriptionStore
    from wirewatch.schema import ChannelSpec, Subscription

    es = make_client(settings.es)
    try:
        sub = Subscription(id="demo-venezuela-military", name="Venezuela: Maduro and the military",
                           owner="demo", query=DEMO_QUERY,
                           channels=[ChannelSpec(type="webhook", url=webhook_url, secret=secret)])
        return SubscriptionStore(es, Indices.from_settings(settings.es)).put(sub)
    finally:
        es.close()


def demo_feeds(server: FeedServer):
    from producers.catalogue import Feed

    return [Feed(url=server.url(name), name=name.removesuffix(".xml")) for name in sorted(server.files)]


def sample_search(settings: Settings, query: str = "maduro"):
    from processors.es.client import make_client
    from processors.search import search

    es = make_client(settings.es)
    try:
        return search(es, Indices.from_settings(settings.es), query, limit=3)
    finally:
        es.close()


def run(args) -> int:
    from wirewatch import stack
    from wirewatch.kafka_admin import ensure_topics

    base = load_settings()
    print("== Wirewatch demo ==")
    stack.up(base.stack)
    run_id = uuid.uuid4().hex[:8]
    settings = demo_settings(base, run_id)
    topics, indices = Topics.from_settings(settings.kafka), Indices.from_settings(settings.es)
    remove_previous_runs(settings)
    ensure_topics(settings.kafka, topics)
    secret = "whsec_" + __import__("base64").b64encode(secrets.token_bytes(24)).decode()
    log_path = settings.stack.state_dir / "demo" / f"worker-{run_id}.log"

    with FeedServer.from_dir(DEMO_FEEDS) as feeds_server, WebhookReceiver(secret=secret) as receiver:
        create_subscription(settings, receiver.url, secret)
        print(f"subscription: {DEMO_QUERY!r} -> webhook {receiver.url}")
        with WorkerProcess(settings, log_path) as worker:
            print("starting the worker (it loads its language models first)...", flush=True)
            print(f"worker ready after {worker.wait_ready():.1f}s", flush=True)
            started = time.monotonic()
            feeds = demo_feeds(feeds_server)
            stats = produce_once(settings, feeds)
            progress = Progress(feeds=stats.feeds_fetched, produced=stats.articles_produced)
            deadline = started + DEADLINE_S
            while time.monotonic() < deadline:
                progress.enriched = topic_count(settings, topics.enriched)
                progress.indexed = es_count(settings, indices.articles)
                progress.alerts = len(receiver.received)
                print(progress.line(time.monotonic() - started), flush=True)
                if progress.indexed >= progress.produced and progress.alerts >= 1:
                    break
                if not worker.alive():
                    print(f"the worker stopped; last lines of {log_path}:\n{worker.log_tail()}", file=sys.stderr)
                    return 1
                time.sleep(1.0)
        return summarise(settings, stats, progress, receiver, log_path)


def summarise(settings: Settings, stats, progress: Progress, receiver: WebhookReceiver, log_path: Path) -> int:
    print("\n== Summary ==")
    print(f"feeds fetched {stats.feeds_fetched}, failed {stats.failed_total}; articles produced "
          f"{stats.articles_produced}, enriched {progress.enriched}, indexed {progress.indexed}; "
          f"alerts delivered {len(receiver.received)}")
    if not receiver.received:
        print(f"no alert arrived before the deadline; worker log: {log_path}", file=sys.stderr)
        return 1
    hook = receiver.received[0]
    print(f"\n== One alert, as the webhook received it (signature {'valid' if hook.signature_ok else 'INVALID'}) ==")
    print(json.dumps(hook.json(), indent=2, ensure_ascii=False))
    result = sample_search(settings)
    print(f"\n== Sample search: `maduro` ({result.total} hits) ==")
    for hit in result.hits:
        print(f"- {(hit.published_at or '')[:10]} {hit.title} [{', '.join(hit.topics)}] {hit.url}")
    return 0 if hook.signature_ok else 1


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on the bundled feeds and show what it found")
    p.set_defaults(func=run)
