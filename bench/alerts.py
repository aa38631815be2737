"""`wirewatch bench alerts`: matching throughput against many subscriptions.

Builds N subscriptions (default 10,000) from the vocabulary of the articles
(the BBC set of ../shared/corpus when present, else generated text): single
words, AND/OR/NOT combinations, phrases, proximity, trailing wildcards,
fielded terms (with ``--extended-shapes``, three-way ORs and +/-
juxtapositions too), and language/topic filters on a share of them. Then it runs the
Matcher over the articles in batches against the local Elasticsearch and
prints articles/s (after a warm-up batch and ``--warm-up`` passes, the median of ``--rounds``
passes, each pass's rate listed), p50/p95/p99 of the per-batch latency, alerts per article,
candidates and pairs (searched / decided from term vectors), time per phase
with its share, and the CPU seconds of this process and of Elasticsearch (on
a shared machine wall time measures the neighbours too).

Then (unless ``--no-latency``) the real path: the same subscriptions stored in
Elasticsearch, one worker process running only the match and deliver agents,
articles produced already enriched to ``articles.enriched`` at
``--latency-rate`` per second for ``--latency-warm-up`` seconds (untimed,
their latency printed apart) then ``--latency-seconds``, each carrying a probe
word that one subscription (a signed webhook to a local WebhookReceiver)
matches; it prints p50/p95/p99 of webhook received - article produced, the
mean latency per tenth of the run (a growing one: the worker falls behind),
and the worker's CPU per article. Knobs for experiments, read by the worker:
WIREWATCH_BENCH_MATCH_WINDOW_S (the match agent's batching window),
WIREWATCH_BENCH_PRODUCER_LINGER_MS (Faust's producer linger),
WIREWATCH_BENCH_PROFILE=<file> (a CPU-time cProfile of the worker, written
when the paced phase ends).

    wirewatch bench alerts [--subscriptions 10000] [--articles 1000] [--rounds 3] [--warm-up 0] [--batch 500] [--chunk 500]
                           [--part 250] [--hit-share 0.2] [--extended-shapes] [--no-preselect] [--no-python-decisions]
                           [--no-clause-ids] [--clauses-per-request 4000]
                           [--latency-rate 50] [--latency-seconds 30] [--latency-warm-up 10] [--no-latency]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from processors.matcher import MAX_CLAUSES_PER_REQUEST, PART_SIZE
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


def make_subscriptions(count: int, words: list[str], rng: random.Random, hit_share: float = 1.0,
                       extended: bool = False) -> list[Subscription]:
    """``hit_share`` of them use words of the articles; the others use names
    no article contains (most real subscriptions match nothing in a given
    minute: that is what makes the anchor pre-selection pay). ``extended``:
    three-way ORs and +/- juxtapositions too (broader: more alerts per article)."""
    subs = []
    for i in range(count):
        if rng.random() < hit_share:
            a, b, c = rng.sample(words, 3)
        else:
            a, b, c = (f"{rng.choice(['zor', 'kv', 'xan', 'qu'])}{rng.choice(words)}" for _ in range(3))
        shapes = [
            a, f"{a} AND {b}", f"{a} OR {b}", f"{a} AND NOT {b}", f"({a} OR {b}) AND {c}",
            f'"{a} {b}"~5', f"{a[:6]}*" if len(a) > 7 else a, f"title:{a}", f"{a} AND topic:{rng.choice(TOPICS)}",
        ]
        query = rng.choice(shapes + [f"{a} OR {b} OR {c}", f"{a} {b} -{c}"] if extended else shapes)
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


def workload(args) -> tuple[list[Article], str, list[Subscription]]:
    """The articles and subscriptions of both phases (the same for a given seed)."""
    rng = random.Random(args.seed)
    articles, origin = load_articles(args.articles, rng)
    return articles, origin, make_subscriptions(args.subscriptions, vocabulary(articles), rng, args.hit_share,
                                                args.extended_shapes)


async def run(args) -> int:
    from processors.app import tune_gc
    from processors.es.client import make_async_client
    from processors.matcher import Matcher
    from processors.subscriptions import StaticSubscriptions
    from wirewatch.names import Indices
    from wirewatch.settings import ESSettings

    articles, origin, subs = workload(args)
    tune_gc()  # as `wirewatch worker` does: the default thresholds spent ~0.3 ms per article in collections here
    es_settings = ESSettings(index_prefix=f"wwbench-{uuid.uuid4().hex[:8]}")
    indices = Indices.from_settings(es_settings)
    client = make_async_client(es_settings)
    matcher = Matcher(client, indices, StaticSubscriptions(subs), chunk_size=args.chunk, preselect=not args.no_preselect,
                      max_clauses_per_request=args.clauses_per_request, clause_ids=not args.no_clause_ids,
                      decide_in_python=not args.no_python_decisions, part_size=args.part)
    print(f"{len(articles)} articles from {origin}; {len(subs)} subscriptions ({args.hit_share:.0%} built from the "
          f"articles' words); batch {args.batch} in parts of {args.part}; chunk {args.chunk}; pre-selection {'off' if args.no_preselect else 'on'}; "
          f"{args.rounds} measured round(s) after a warm-up batch and {args.warm_up} warm-up pass(es)")
    note = await fresh_node_note(client, len(articles))
    if note:
        print(note)
    try:
        # Warm-up: the scratch index, the subscriptions' analysis; `--warm-up` passes for
        # Elasticsearch's JIT on a freshly started stack (see WARM_NODE_CPU_S).
        await matcher.match(articles[: args.batch])
        for _ in range(args.warm_up):
            for start in range(0, len(articles), args.batch):
                await matcher.match(articles[start:start + args.batch])
        rounds = [await measured_round(matcher, client, articles, args.batch) for _ in range(args.rounds)]
    finally:
        await matcher.close()
        await client.close()
    print_round(median_round(rounds), len(articles), rounds)
    return 0


async def measured_round(matcher, client, articles: list[Article], batch_size: int) -> dict:
    """One pass of the Matcher over every article, in batches: its throughput, latencies and costs."""
    latencies, phases = [], Counter()
    totals = Counter()
    es_cpu_before = await es_cpu_seconds(client)
    cpu_started = time.process_time()
    started = time.perf_counter()
    for start in range(0, len(articles), batch_size):
        batch = articles[start:start + batch_size]
        t0 = time.perf_counter()
        totals["alerts"] += len(await matcher.match(batch))
        latencies.append(time.perf_counter() - t0)
        stats = matcher.last_stats
        totals.update({"searches": stats.searches, "candidates": stats.candidates, "preselected": stats.preselected,
                       "pairs": stats.pairs, "decided": stats.decided_pairs})
        phases.update({"index": stats.index_s, "search": stats.search_s, "(of which pre-selection)": stats.preselect_s,
                       "highlights+alerts": stats.highlight_s})
    elapsed = time.perf_counter() - started
    return {"rate": len(articles) / elapsed, "elapsed": elapsed, "latencies": latencies, "phases": phases,
            "totals": totals, "python_cpu": time.process_time() - cpu_started,
            "es_cpu": await es_cpu_seconds(client) - es_cpu_before}


def median_round(rounds: list[dict]) -> dict:
    """The round of median throughput (the lower middle one of an even count)."""
    return sorted(rounds, key=lambda r: r["rate"])[(len(rounds) - 1) // 2]


def print_round(chosen: dict, n_articles: int, rounds: list[dict]) -> None:
    """The median round's figures (a noisy machine: one round says little), and every round's rate."""
    elapsed, latencies, totals = chosen["elapsed"], chosen["latencies"], chosen["totals"]
    batches = len(latencies)
    shown = " (the median round)" if len(rounds) > 1 else ""
    print(f"matched {n_articles} articles in {elapsed:.2f} s: {n_articles / elapsed:.0f} articles/s{shown}")
    if len(rounds) > 1:
        print("rounds: " + ", ".join(f"{r['rate']:.0f}" for r in rounds) + " articles/s")
    print(f"batch latency p50 {percentile(latencies, 50) * 1000:.0f} ms, p95 {percentile(latencies, 95) * 1000:.0f} ms, "
          f"p99 {percentile(latencies, 99) * 1000:.0f} ms, mean {statistics.mean(latencies) * 1000:.0f} ms over {batches} batches")
    print(f"{totals['alerts']} alerts ({totals['alerts'] / n_articles:.1f} per article); {totals['searches'] / batches:.1f} searches and "
          f"{totals['candidates'] / batches:.0f} candidate subscriptions per batch after filters, "
          f"{totals['preselected'] / batches:.0f} after anchor terms, {totals['pairs'] / n_articles:.1f} candidate pairs per article "
          f"searched and {totals['decided'] / n_articles:.1f} decided from term vectors")
    print("time per phase (summed over a batch's overlapping parts): " + ", ".join(
        f"{name} {seconds:.2f} s ({seconds / elapsed:.0%})" for name, seconds in chosen["phases"].items()))
    print(f"CPU: this process {chosen['python_cpu']:.2f} s, Elasticsearch {chosen['es_cpu']:.2f} s (all its work, other clients' too) "
          f"= {1000 * (chosen['python_cpu'] + chosen['es_cpu']) / n_articles:.1f} ms per article")


# A node that has used less CPU than this since it started is still compiling. On the
# 2-core bench machine (jstat -compiler), when the matcher indexed every article: 141 s of
# a node's first 204 s of CPU went to its JIT. Now that most articles are only analysed
# (mtermvectors), a node started anew spent 2.3 s per 1,000 articles in its first passes,
# 1.4 s after ~25 passes (~60 s of its CPU), 0.9 s after ~35 (85 s), 0.65 s when warm.
WARM_NODE_CPU_S = 150
COLD_NODE_CPU_PER_ARTICLE_S = 0.0015   # a pass's cost to a node warming up, for the advice


async def fresh_node_note(client, per_pass: int) -> str | None:
    """A line saying the figures will be a cold node's, when Elasticsearch has
    worked little since it started."""
    stats = await client.nodes.stats(metric="process")
    used = min((n["process"]["cpu"]["total_in_millis"] / 1000 for n in stats["nodes"].values()), default=0.0)
    return cold_node_note(used, per_pass)


def cold_node_note(cpu_s: float, per_pass: int) -> str | None:
    if cpu_s >= WARM_NODE_CPU_S:
        return None
    passes = max(1, math.ceil((WARM_NODE_CPU_S - cpu_s) / (max(1, per_pass) * COLD_NODE_CPU_PER_ARTICLE_S)))
    return (f"note: Elasticsearch has used {cpu_s:.0f} s of CPU since it started: its JIT is still compiling, "
            f"which costs it up to 3.5x the CPU per article; for steady-state figures pass --warm-up {passes} "
            f"or run again")


async def es_cpu_seconds(client) -> float:
    """CPU time of the Elasticsearch process(es): on a shared machine wall
    time measures the neighbours too; CPU seconds say what the work costs."""
    stats = await client.nodes.stats(metric="process")
    return sum(n["process"]["cpu"]["total_in_millis"] for n in stats["nodes"].values()) / 1000


# --- the real path: produce -> articles.enriched -> match agent -> alerts -> deliver agent -> webhook ---

PROBE_WORD = "wirewatchprobe"        # in the paced articles only, matched by the probe subscription
PROBE_SUBSCRIPTION = "latency-probe"
WORKER_ARG = "agents-worker"         # `python -m bench.alerts agents-worker`: the worker of this phase


def agents_worker_main() -> int:
    """`wirewatch worker` with the match and deliver agents only (bench/enrich_worker.py
    does the same for enrichment): what the alert path costs, without enrich and index."""
    import types

    import faust

    from processors import app
    from processors.agents import deliver, match
    from wirewatch.cli import main as cli_main

    app.AGENT_MODULES = (match, deliver)
    window = os.environ.get("WIREWATCH_BENCH_MATCH_WINDOW_S")
    if window:  # try another batching window of the match agent
        match.MATCH_WINDOW_S = float(window)
    linger_ms = int(os.environ.get("WIREWATCH_BENCH_PRODUCER_LINGER_MS", "0"))
    if linger_ms > 0:  # try a producer setting that processors/app.py does not set (yet)
        app.faust = types.SimpleNamespace(App=lambda *a, **kw: faust.App(*a, producer_linger=linger_ms / 1000, **kw))
    profile_to = os.environ.get("WIREWATCH_BENCH_PROFILE")
    if not profile_to:
        return int(cli_main(["worker"]) or 0)
    import cProfile
    import threading

    profiler = cProfile.Profile(time.process_time)  # CPU time: the neighbours' load does not count
    trigger = Path(profile_to + ".go")

    def dump_when_asked() -> None:  # (mode's worker owns SIGUSR1/2) the bench creates the trigger file
        while not trigger.exists():
            time.sleep(0.2)
        profiler.dump_stats(profile_to)  # a snapshot; disabling from this thread would not stop the main one

    threading.Thread(target=dump_when_asked, daemon=True).start()
    return int(profiler.runcall(cli_main, ["worker"]) or 0)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _agents_worker(settings, log_path: Path):
    from wirewatch.harness import WorkerProcess, _die_with_parent

    class AgentsWorker(WorkerProcess):
        def start(self):
            env = dict(os.environ, **self.settings.to_env(), **self.extra_env)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.alerts", WORKER_ARG], cwd=str(Path(__file__).resolve().parents[1]),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                preexec_fn=_die_with_parent)
            return self

    return AgentsWorker(settings, log_path)


def _phase_settings():
    """The user's settings with a topic/index prefix and consumer group of their own."""
    from wirewatch.settings import load_settings

    base = load_settings()
    tag = f"bench-alerts-{uuid.uuid4().hex[:8]}"
    return base.model_copy(update={
        "kafka": base.kafka.model_copy(update={"topic_prefix": f"{tag}."}),
        "es": base.es.model_copy(update={"index_prefix": f"wirewatch-{tag}"}),
        "processor": base.processor.model_copy(update={"app_id": tag, "web_port": 0}),
        "alerts": base.alerts.model_copy(update={"allow_hosts": sorted({*base.alerts.allow_hosts, "127.0.0.1"})}),
    }), tag


def store_subscriptions(es, indices, subs: list[Subscription]) -> None:
    """Bulk-store the subscriptions (10,000 single puts with a refresh each take minutes)."""
    from elasticsearch import helpers

    from processors.subscriptions import ensure_index, to_document

    ensure_index(es, indices)
    actions = ({"_index": indices.subscriptions, "_id": s.id, "_source": to_document(s)} for s in subs)
    ok, errors = helpers.bulk(es, actions, chunk_size=1000, raise_on_error=False, request_timeout=120)
    if errors:
        raise RuntimeError(f"storing subscriptions failed for {len(errors)}: {str(errors[0])[:300]}")
    es.indices.refresh(index=indices.subscriptions)


def probe_articles(articles: list[Article], count: int) -> list[Article]:
    """``count`` copies of the articles (cycled), each with a fresh id and the probe word."""
    out = []
    for i in range(count):
        article = articles[i % len(articles)]
        url = f"https://bench.example.org/probe/{uuid.uuid4().hex}"
        out.append(article.model_copy(update={"id": article_id(url), "url": url, "title": f"{PROBE_WORD} {article.title}"}))
    return out


def produce_paced(sink, articles: list[Article], rate: float) -> None:
    """One article every 1/rate s (``produced_at`` is set as each is sent), no batching."""
    start = time.monotonic()
    for i, article in enumerate(articles):
        while time.monotonic() < start + i / rate:
            time.sleep(0.001)
        sink.send_articles([article])
        sink.flush(timeout=30)


def webhook_times(hooks, wanted: set[str]) -> list[tuple[float, float, float]]:
    """(produced, matched, received) epoch seconds of the first webhook of each wanted
    article (retries and copies ignored), in production order."""
    seen, out = set(), []
    for hook in hooks:
        data = hook.json().get("data", {})
        article = data.get("article_id")
        if article not in wanted or article in seen or not data.get("produced_at"):
            continue
        seen.add(article)
        produced = datetime.fromisoformat(data["produced_at"]).timestamp()
        matched = datetime.fromisoformat(data["matched_at"]).timestamp() if data.get("matched_at") else produced
        out.append((produced, matched, hook.received_at))
    out.sort()
    return out


def webhook_latencies(hooks, wanted: set[str]) -> list[float]:
    """Received - produced, for the first webhook of each wanted article, in production order."""
    return [received - produced for produced, _, received in webhook_times(hooks, wanted)]


def latency_phase(args, articles: list[Article], subs: list[Subscription]) -> int:
    from elasticsearch import Elasticsearch

    from producers.kafka_sink import KafkaSink
    from wirewatch.harness import WebhookReceiver
    from wirewatch.kafka_admin import delete_topics, ensure_topics
    from wirewatch.names import Indices, Topics
    from wirewatch.schema import ChannelSpec

    settings, tag = _phase_settings()
    topics, indices = Topics.from_settings(settings.kafka), Indices.from_settings(settings.es)
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    es = Elasticsearch(settings.es.url, request_timeout=120)
    log_path = settings.stack.state_dir / "bench" / f"{tag}-worker.log"
    count = max(1, int(args.latency_rate * args.latency_seconds))
    warm_count = max(5, int(args.latency_rate * args.latency_warm_up))
    warm, paced = probe_articles(articles, warm_count), probe_articles(articles, count)
    try:
        ensure_topics(settings.kafka, topics)
        with WebhookReceiver(secret=secret) as receiver:
            probe = Subscription(id=PROBE_SUBSCRIPTION, name="latency probe", owner="bench", query=PROBE_WORD,
                                 channels=[ChannelSpec(type="webhook", url=receiver.url, secret=secret)])
            store_subscriptions(es, indices, [*subs, probe])
            with _agents_worker(settings, log_path) as worker:
                worker.wait_ready(timeout_s=300)
                sink = KafkaSink(settings, topic=topics.enriched, client_id="wirewatch-bench-alerts", linger_ms=0)
                try:
                    # Untimed, at the same rate: the first batch builds the anchors index, and a
                    # node or worker just started is slower on paths the throughput phase did not take.
                    produce_paced(sink, warm[:1], 1.0)
                    receiver.wait_for(1, timeout_s=120)
                    produce_paced(sink, warm[1:], args.latency_rate)
                    warm_hooks = receiver.wait_for(len(warm), timeout_s=120)
                    if len(warm_hooks) < len(warm):
                        print(f"latency: the warm-up alerts never arrived; worker log {log_path}:\n{worker.log_tail()}")
                        return 1
                    warm_latencies = webhook_latencies(warm_hooks, {a.id for a in warm[1:]})
                    cpu_before = process_cpu_seconds(worker.proc.pid)
                    produce_paced(sink, paced, args.latency_rate)
                finally:
                    sink.close(timeout=30)
                hooks = receiver.wait_for(len(warm) + count, timeout_s=60)
                worker_cpu = process_cpu_seconds(worker.proc.pid) - cpu_before
                if os.environ.get("WIREWATCH_BENCH_PROFILE"):
                    Path(os.environ["WIREWATCH_BENCH_PROFILE"] + ".go").touch()
                    time.sleep(5)
        latencies = webhook_latencies(hooks, {a.id for a in paced})
        bad = sum(1 for h in hooks if h.signature_ok is False)
        print(f"latency at {args.latency_rate:g} articles/s for {args.latency_seconds:g} s through one worker (match+deliver "
              f"agents, {len(subs)} subscriptions): {len(latencies)}/{count} webhooks received, {bad} bad signatures")
        if not latencies:
            print(f"no webhook received; worker log {log_path}:\n{worker.log_tail()}")
            return 1
        if warm_latencies:
            print(f"warm-up ({len(warm) - 1} articles at the same rate, not counted below): p50 "
                  f"{percentile(warm_latencies, 50) * 1000:.0f} ms, p99 {percentile(warm_latencies, 99) * 1000:.0f} ms")
        tenth = max(1, len(latencies) // 10)
        print("mean latency per tenth of the run (production order): "
              + " ".join(f"{statistics.mean(latencies[i:i + tenth]):.2f}" for i in range(0, len(latencies), tenth)) + " s")
        print(f"worker CPU {worker_cpu:.1f} s = {1000 * worker_cpu / count:.1f} ms per article")
        print(f"produce->webhook p50 {percentile(latencies, 50) * 1000:.0f} ms, p95 {percentile(latencies, 95) * 1000:.0f} ms, "
              f"p99 {percentile(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
        times = webhook_times(hooks, {a.id for a in paced})
        for name, part in (("produce->matched", [m - p for p, m, _ in times]), ("matched->webhook", [r - m for _, m, r in times])):
            print(f"  of which {name} p50 {percentile(part, 50) * 1000:.0f} ms, p99 {percentile(part, 99) * 1000:.0f} ms")
        return 0 if len(latencies) == count and not bad else 1
    finally:
        es.options(ignore_status=404).indices.delete(index=f"{settings.es.index_prefix}*", expand_wildcards="all")
        es.close()
        delete_topics(settings.kafka, topics.all(), app_id=settings.processor.app_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wirewatch bench alerts", description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="measured passes over the articles (the median is shown)")
    parser.add_argument("--warm-up", type=int, default=0,
                        help="untimed passes over the articles first (after one batch), for a freshly started stack")
    parser.add_argument("--batch", type=int, default=500, help="articles per match() call (the agent takes es.bulk_size = 500)")
    parser.add_argument("--chunk", type=int, default=500, help="subscriptions per search")
    parser.add_argument("--part", type=int, default=PART_SIZE, help="articles per overlapped part of a batch")
    parser.add_argument("--clauses-per-request", type=int, default=MAX_CLAUSES_PER_REQUEST,
                        help="named clauses per msearch request")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--hit-share", type=float, default=0.2,
                        help="share of subscriptions made of words the articles contain (default 0.2)")
    parser.add_argument("--extended-shapes", action="store_true",
                        help="three-way ORs and +/- juxtapositions among the subscriptions (more alerts per article)")
    parser.add_argument("--no-python-decisions", action="store_true",
                        help="send every candidate pair to Elasticsearch (none decided from term vectors)")
    parser.add_argument("--no-clause-ids", action="store_true", help="search each candidate subscription on the whole batch")
    parser.add_argument("--no-preselect", action="store_true", help="search every subscription (no anchor terms)")
    parser.add_argument("--latency-rate", type=float, default=50.0, help="articles/s of the real-path phase")
    parser.add_argument("--latency-seconds", type=float, default=30.0, help="length of the real-path phase")
    parser.add_argument("--latency-warm-up", type=float, default=10.0,
                        help="seconds at the same rate before the measured real-path phase (their latency printed apart)")
    parser.add_argument("--no-latency", action="store_true", help="skip the real-path phase (worker, Kafka, webhook)")
    parser.add_argument("--latency-only", action="store_true", help="only the real-path phase")
    args = parser.parse_args(argv)
    if min(args.subscriptions, args.articles, args.batch, args.chunk, args.part, args.rounds) < 1 or args.warm_up < 0 or args.latency_rate <= 0 or args.latency_seconds <= 0 or args.latency_warm_up < 0:
        parser.error("counts, rate and seconds must be positive")
    code = 0 if args.latency_only else asyncio.run(run(args))
    if code == 0 and not args.no_latency:
        articles, _, subs = workload(args)
        code = latency_phase(args, articles, subs)
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(agents_worker_main() if sys.argv[1:] == [WORKER_ARG] else main())
