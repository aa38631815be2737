"""`wirewatch bench e2e`: N articles through producer -> Kafka -> enrich -> index
-> match (against many subscriptions) on the local stack.

Prints articles/s per stage and end to end, and p50/p99 latency from produce
to alert (the alert's Kafka timestamp minus the article's produce time).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.enrich import peak_rss_mb
from wirewatch.harness import WorkerProcess
from wirewatch.names import Indices, Topics
from wirewatch.schema import Article, Source, article_id
from wirewatch.settings import load_settings

DEMO_FEEDS = Path(__file__).resolve().parents[1] / "wirewatch" / "demo_feeds"
TARGET_TEXT_BYTES = 3000
PROBE_WORD = "wirewatchprobe"  # in the paced articles only, matched by one subscription
PROBE_SUBSCRIPTION = "latency-probe"


def paragraph_pool() -> list[str]:
    """Real paragraphs from the bundled feeds, to make articles that read like news."""
    from producers.normalise import parse_feed

    paragraphs: list[str] = []
    now = datetime.now(timezone.utc)
    for path in sorted(DEMO_FEEDS.glob("*.xml")):
        parsed = parse_feed(path.read_bytes(), feed_url=f"http://bench.invalid/{path.name}", fetched_at=now)
        for article in parsed.articles:
            for para in (article.text or article.summary).split("\n"):
                if len(para) > 80:
                    paragraphs.append(para.strip())
    return paragraphs


def make_articles(n: int, rng: random.Random, pool: list[str]) -> list[Article]:
    now = datetime.now(timezone.utc)
    articles = []
    for i in range(n):
        body, size = [], 0
        while size < TARGET_TEXT_BYTES:
            para = rng.choice(pool)
            body.append(para)
            size += len(para)
        url = f"https://bench.invalid/{uuid.uuid4().hex}/{i}"
        articles.append(Article(
            id=article_id(url), url=url, title=body[0][:90], text="\n\n".join(body),
            source=Source(feed_url=f"https://bench.invalid/feed{i % 50}.xml", feed_title=f"Bench feed {i % 50}",
                          domain="bench.invalid"),
            published_at=now - timedelta(seconds=i), fetched_at=now, language="en",
        ))
    return articles


def _words(paragraph: str) -> list[str]:
    return [w for w in (t.strip(".,;:\"'()").lower() for t in paragraph.split()) if len(w) > 5 and w.isalpha()]


def make_queries(n: int, rng: random.Random, pool: list[str]) -> list[str]:
    """Selective queries, as real subscriptions are: rare terms from two different
    paragraphs, so that a query matches a few articles in a thousand."""
    from collections import Counter

    spread = Counter(w for p in pool for w in set(_words(p)))
    rare = [[w for w in _words(p) if spread[w] <= 2] for p in pool]
    usable = [words for words in rare if len(words) >= 3]
    queries = []
    for _ in range(n):
        first, second = rng.sample(usable, 2)
        a, b = rng.choice(first), rng.choice(second)
        shape = rng.random()
        if shape < 0.7:
            queries.append(f"{a} AND {b}")
        elif shape < 0.9:
            i = rng.randrange(len(first) - 1)
            queries.append(f'"{first[i]} {first[i + 1]}" AND {b}')
        else:
            queries.append(f"{a} AND ({b} OR {rng.choice(second)})")
    return queries


def count_topic(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        return sum(consumer.end_offsets(tps).values()) if tps else 0
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topic: str) -> int:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)
    finally:
        admin.close()


def produce_burst(settings, articles: list[Article]) -> tuple[float, float]:
    """Send every article at once through the producer's sink; (start, all acknowledged) monotonic times."""
    from producers.kafka_sink import KafkaSink

    sink = KafkaSink(settings)
    try:
        start = time.monotonic()
        sink.send_articles(articles)
        sink.flush(timeout=300)
        return start, time.monotonic()
    finally:
        sink.close()


def paced_phase(settings, rng: random.Random, pool: list[str], rate: float, seconds: float) -> int:
    """Produce articles carrying the probe word at a steady rate; their alerts give
    the latency of a pipeline that keeps up, not of a backlog."""
    from producers.kafka_sink import KafkaSink

    sink = KafkaSink(settings)
    count = int(rate * seconds)
    start = time.monotonic()
    try:
        for i, article in enumerate(make_articles(count, rng, pool)):
            article = article.model_copy(update={"title": f"{PROBE_WORD} {article.title}"})
            while time.monotonic() < start + i / rate:
                time.sleep(0.002)
            sink.send_articles([article])
        sink.flush(timeout=60)
    finally:
        sink.close()
    return count


def alert_latencies(bootstrap: str, topic: str, limit_s: float = 60.0) -> tuple[list[float], list[float]]:
    from kafka import KafkaConsumer

    from wirewatch.schema import Alert

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap.split(","), auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000)
    backlog, probe, deadline = [], [], time.monotonic() + limit_s
    try:
        for message in consumer:
            alert = Alert.from_json(message.value)
            if alert.produced_at:
                latency = message.timestamp / 1000 - alert.produced_at.timestamp()
                (probe if alert.subscription_id == PROBE_SUBSCRIPTION else backlog).append(latency)
            if time.monotonic() > deadline:
                break
    finally:
        consumer.close()
    return backlog, probe


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wirewatch bench e2e")
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--subscriptions", type=int, default=1_000)
    parser.add_argument("--deadline", type=float, default=1800.0, help="give up after this many seconds")
    parser.add_argument("--paced-rate", type=float, default=20.0,
                        help="articles/s of the latency phase that follows the burst (0: skip it)")
    parser.add_argument("--paced-seconds", type=float, default=30.0, help="length of the latency phase")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the work")
    args = parser.parse_args(argv)

    from elasticsearch import Elasticsearch

    from processors.subscriptions import SubscriptionStore
    from wirewatch import stack
    from wirewatch.kafka_admin import delete_topics, ensure_topics
    from wirewatch.schema import Subscription

    base = load_settings()
    stack.up(base.stack, quiet=True)
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(update={
        "kafka": base.kafka.model_copy(update={"topic_prefix": f"{tag}."}),
        "es": base.es.model_copy(update={"index_prefix": f"wirewatch-{tag}"}),
        "processor": base.processor.model_copy(update={"app_id": tag, "web_port": 0}),
    })
    topics, indices = Topics.from_settings(settings.kafka), Indices.from_settings(settings.es)
    ensure_topics(settings.kafka, topics)
    es = Elasticsearch(settings.es.url, request_timeout=60)
    rng = random.Random(42)
    pool = paragraph_pool()
    store = SubscriptionStore(es, indices)
    for i, query in enumerate(make_queries(args.subscriptions, rng, pool)):
        store.put(Subscription(id=f"s{i}", name=f"bench {i}", owner="bench", query=query), validate_on_server=False)
    store.put(Subscription(id=PROBE_SUBSCRIPTION, name="latency probe", owner="bench", query=PROBE_WORD),
              validate_on_server=False)
    articles = make_articles(args.articles, rng, pool)
    print(f"bench e2e: {len(articles)} articles (~{TARGET_TEXT_BYTES // 1000} KB), {args.subscriptions} subscriptions, "
          f"{args.workers} worker(s)")

    log_path = settings.stack.state_dir / "bench" / f"{tag}-worker.log"
    bootstrap = settings.kafka.bootstrap_servers
    try:
        with contextlib.ExitStack() as workers:
            running = [workers.enter_context(WorkerProcess(settings, log_path.with_name(f"{log_path.stem}-{i}.log")))
                       for i in range(args.workers)]
            worker = running[0]
            worker.wait_ready(timeout_s=300, members=args.workers)
            t0, t_produced = produce_burst(settings, articles)
            done = {}
            deadline = t0 + args.deadline
            while time.monotonic() < deadline and len(done) < 3 and all(w.alive() for w in running):
                now = time.monotonic()
                if "enrich" not in done and count_topic(bootstrap, topics.enriched) >= len(articles):
                    done["enrich"] = now
                if "index" not in done and es.options(ignore_status=404).count(index=indices.articles).get("count", 0) >= len(articles):
                    done["index"] = now
                if "match" not in done and committed(bootstrap, tag, topics.enriched) >= len(articles):
                    done["match"] = now
                time.sleep(0.5)
            if len(done) < 3:
                print(f"incomplete: stages done {sorted(done)}; worker log {log_path}:\n{worker.log_tail()}")
                return 1
            paced = paced_phase(settings, rng, pool, args.paced_rate, args.paced_seconds) if args.paced_rate > 0 else 0
            time.sleep(10 if paced else 0)  # the last paced articles' alerts
            rss = [peak_rss_mb(w.proc.pid) for w in running]
        n = len(articles)
        print(f"produce      {n / (t_produced - t0):9.0f} articles/s")
        for stage in ("enrich", "index", "match"):
            print(f"{stage:<12} {n / (done[stage] - t0):9.0f} articles/s (from first produce to stage done)")
        end = max(done.values())
        print(f"memory       peak RSS per worker (all agents): {', '.join(f'{mb:.0f} MB' for mb in rss)}")
        print(f"end-to-end   {n / (end - t0):9.0f} articles/s ({end - t0:.1f} s for {n})")
        backlog, probe = alert_latencies(bootstrap, topics.alerts)
        print(f"alerts       {len(backlog)} in the burst ({len(backlog) / n:.2f} per article); produce->alert "
              f"latency under that backlog p50={percentile(backlog, 0.5):.2f}s p99={percentile(backlog, 0.99):.2f}s")
        if paced:
            print(f"latency      at {args.paced_rate:g} articles/s ({paced} articles, {len(probe)} alerts): produce->alert "
                  f"p50={percentile(probe, 0.5):.3f}s p95={percentile(probe, 0.95):.3f}s p99={percentile(probe, 0.99):.3f}s")
        return 0
    finally:
        es.options(ignore_status=404).indices.delete(index=f"{settings.es.index_prefix}*", expand_wildcards="all")
        es.close()
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)


if __name__ == "__main__":
    raise SystemExit(main())
