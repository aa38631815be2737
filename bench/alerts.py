"""`wirewatch bench alerts`: matching throughput against many subscriptions.

Builds N subscriptions (default 10,000) from the vocabulary of the articles
(the BBC set of ../shared/corpus when present, else generated text): single
words, AND/OR/NOT combinations, phrases, proximity, trailing wildcards,
fielded terms, and language/topic filters on a share of them. Then it runs the
Matcher over the articles in batches against the local Elasticsearch and
prints articles/s, p50/p95/p99 of the per-batch latency, alerts per article,
candidates and pairs (searched / decided from term vectors), time per phase
with its share, and the CPU seconds of this process and of Elasticsearch (on
a shared machine wall time measures the neighbours too).

    wirewatch bench alerts [--subscriptions 10000] [--articles 1000] [--batch 500] [--chunk 500]
                           [--hit-share 0.2] [--no-preselect] [--no-python-decisions]
                           [--no-clause-ids] [--clauses-per-request 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from processors.matcher import MAX_CLAUSES_PER_REQUEST
from wirewatch.schema import Article, Enrichment, Source, Subscription, SubscriptionFilters, TopicTag, article_id

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "news-labeled" / "bbc-dev"
TOPICS = ["business", "entertainment", "politics", "sport", "tech"]
_WORD = re.compile(r"[a-z]{4,}")


def load_articles(limit: int, rng: random.Random) -> tuple[list[Article], str]:
    if CORPUS.is_dir():
        files = sorted(CORPUS.glob("*/*.txt"))
        rng.shuffle(files)
        articles = [_article(p.read_text(encoding="utf-8", errors="replace"), p.parent.name, f"bbc/{p.parent.name}/{p.name}", i)
                    for i, p in enumerate(files[:limit])]
        return articles, f"BBC corpus ({len(files)} files)"
    return [_synthetic(i, rng) for i in range(limit)], "generated text (../shared/corpus absent)"


def _article(raw: str, topic: str, key: str, i: int) -> Article:
    title, _, text = raw.strip().partition("\n")
    now = datetime.now(timezone.utc) - timedelta(minutes=i)
    url = f"https://bench.example.org/{key}"
    return Article(
        id=article_id(url), url=url, title=title.strip(), summary=text.strip()[:300], text=text.strip(),
        source=Source(feed_url="https://bench.example.org/rss", feed_name="Bench", domain="bench.example.org"),
        published_at=now, fetched_at=now, produced_at=now,
        enrichment=Enrichment(language="en", topics=[TopicTag(name=topic, score=1.0)]),
    )


def _synthetic(i: int, rng: random.Random) -> Article:
    words = [f"w{rng.randint(0, 3000):04d}x" for _ in range(300)]
    return _article(" ".join(words[:8]) + "\n" + " ".join(words), rng.choice(TOPICS), f"gen/{i}", i)


def vocabulary(articles: list[Article]) -> list[str]:
    """Words found in 2 to 1% of the articles: alerts are for specific things
    (names, places, products), not for common words."""
    df = Counter()
    for article in articles:
        df.update(set(_WORD.findall(article.full_text().lower())))
    n = len(articles)
    words = [w for w, c in df.items() if 2 <= c <= max(2, 0.01 * n)]
    return sorted(words) or sorted(df)


def make_subscriptions(count: int, words: list[str], rng: random.Random, hit_share: float = 1.0) -> list[Subscription]:
    """``hit_share`` of them use words of the articles; the others use names
    no article contains (most real subscriptions match nothing in a given
    minute: that is what makes the anchor pre-selection pay)."""
    subs = []
    for i in range(count):
        if rng.random() < hit_share:
            a, b, c = rng.sample(words, 3)
        else:
            a, b, c = (f"{rng.choice(['zor', 'kv', 'xan', 'qu'])}{rng.choice(words)}" for _ in range(3))
        query = rng.choice([
            a, f"{a} AND {b}", f"{a} OR {b}", f"{a} AND NOT {b}", f"({a} OR {b}) AND {c}",
            f'"{a} {b}"~5', f"{a[:6]}*" if len(a) > 7 else a, f"title:{a}", f"{a} AND topic:{rng.choice(TOPICS)}",
        ])
        filters = {}
        if rng.random() < 0.3:
            filters["languages"] = [rng.choice(["en", "en", "es", "fr"])]
        if rng.random() < 0.2:
            filters["topics"] = [rng.choice(TOPICS)]
        subs.append(Subscription(id=f"bench-{i}", name=f"bench {i}", query=query, filters=SubscriptionFilters(**filters)))
    return subs


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def run(args) -> int:
    from processors.es.client import make_async_client
    from processors.matcher import Matcher
    from processors.subscriptions import StaticSubscriptions
    from wirewatch.names import Indices
    from wirewatch.settings import ESSettings

    rng = random.Random(args.seed)
    articles, origin = load_articles(args.articles, rng)
    subs = make_subscriptions(args.subscriptions, vocabulary(articles), rng, args.hit_share)
    es_settings = ESSettings(index_prefix=f"wwbench-{uuid.uuid4().hex[:8]}")
    indices = Indices.from_settings(es_settings)
    client = make_async_client(es_settings)
    matcher = Matcher(client, indices, StaticSubscriptions(subs), chunk_size=args.chunk, preselect=not args.no_preselect,
                      max_clauses_per_request=args.clauses_per_request, clause_ids=not args.no_clause_ids,
                      decide_in_python=not args.no_python_decisions)
    print(f"{len(articles)} articles from {origin}; {len(subs)} subscriptions ({args.hit_share:.0%} built from the "
          f"articles' words); batch {args.batch}; chunk {args.chunk}; pre-selection {'off' if args.no_preselect else 'on'}")
    latencies, alerts, searches, candidates, preselected, pairs, decided = [], 0, 0, 0, 0, 0, 0
    phases = Counter()
    try:
        await matcher.match(articles[: min(10, len(articles))])  # warm-up: scratch index, JIT
        es_cpu_before = await es_cpu_seconds(client)
        cpu_started = time.process_time()
        started = time.perf_counter()
        for start in range(0, len(articles), args.batch):
            batch = articles[start:start + args.batch]
            t0 = time.perf_counter()
            alerts += len(await matcher.match(batch))
            latencies.append(time.perf_counter() - t0)
            searches += matcher.last_stats.searches
            candidates += matcher.last_stats.candidates
            preselected += matcher.last_stats.preselected
            pairs += matcher.last_stats.pairs
            decided += matcher.last_stats.decided_pairs
            phases.update({"index": matcher.last_stats.index_s, "search": matcher.last_stats.search_s,
                           "(of which pre-selection)": matcher.last_stats.preselect_s,
                           "highlights+alerts": matcher.last_stats.highlight_s})
        elapsed = time.perf_counter() - started
        python_cpu = time.process_time() - cpu_started
        es_cpu = await es_cpu_seconds(client) - es_cpu_before
    finally:
        if matcher.scratch_index:
            await client.options(ignore_status=404).indices.delete(index=matcher.scratch_index)
        await client.close()
    batches = len(latencies)
    print(f"matched {len(articles)} articles in {elapsed:.2f} s: {len(articles) / elapsed:.0f} articles/s")
    print(f"batch latency p50 {percentile(latencies, 50) * 1000:.0f} ms, p95 {percentile(latencies, 95) * 1000:.0f} ms, "
          f"p99 {percentile(latencies, 99) * 1000:.0f} ms, mean {statistics.mean(latencies) * 1000:.0f} ms over {batches} batches")
    print(f"{alerts} alerts ({alerts / len(articles):.1f} per article); {searches / batches:.1f} searches and "
          f"{candidates / batches:.0f} candidate subscriptions per batch after filters, "
          f"{preselected / batches:.0f} after anchor terms, {pairs / len(articles):.1f} candidate pairs per article "
          f"searched and {decided / len(articles):.1f} decided from term vectors")
    print("time per phase: " + ", ".join(f"{name} {seconds:.2f} s ({seconds / elapsed:.0%})" for name, seconds in phases.items()))
    print(f"CPU: this process {python_cpu:.2f} s, Elasticsearch {es_cpu:.2f} s (all its work, other clients' too) "
          f"= {1000 * (python_cpu + es_cpu) / len(articles):.1f} ms per article")
    return 0


async def es_cpu_seconds(client) -> float:
    """CPU time of the Elasticsearch process(es): on a shared machine wall
    time measures the neighbours too; CPU seconds say what the work costs."""
    stats = await client.nodes.stats(metric="process")
    return sum(n["process"]["cpu"]["total_in_millis"] for n in stats["nodes"].values()) / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wirewatch bench alerts", description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500, help="articles per match() call (the agent takes es.bulk_size = 500)")
    parser.add_argument("--chunk", type=int, default=500, help="subscriptions per search")
    parser.add_argument("--clauses-per-request", type=int, default=MAX_CLAUSES_PER_REQUEST,
                        help="named clauses per msearch request")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--hit-share", type=float, default=0.2,
                        help="share of subscriptions made of words the articles contain (default 0.2)")
    parser.add_argument("--no-python-decisions", action="store_true",
                        help="send every candidate pair to Elasticsearch (none decided from term vectors)")
    parser.add_argument("--no-clause-ids", action="store_true", help="search each candidate subscription on the whole batch")
    parser.add_argument("--no-preselect", action="store_true", help="search every subscription (no anchor terms)")
    args = parser.parse_args(argv)
    if min(args.subscriptions, args.articles, args.batch, args.chunk) < 1:
        parser.error("counts must be positive")
    return asyncio.run(run(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
