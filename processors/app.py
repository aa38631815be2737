"""Builds the Faust app, and nothing else: each agent lives in processors/agents/
and registers itself on the app given here."""

from __future__ import annotations

import gc

import faust

from processors.agents import deadletters, deliver, digest, enrich, index, match, story, trends
from processors.context import WorkerContext
from processors.topics import declare_topics
from wirewatch.names import Indices, Topics
from wirewatch.settings import Settings

AGENT_MODULES = (enrich, story, trends, index, match, deliver, digest, deadletters)

# Python's cyclic GC runs a young-generation pass every 700 allocations; the
# enrichment chain allocates millions of short-lived objects per second and
# ~11% of its CPU went to those passes (bench enrich, gc callbacks), with
# nothing cyclic to find. At 20,000 the enrich worker still spent ~3% of its
# CPU in them (0.31 s for 4,000 articles, bench enrich --agent); at 100,000,
# 0.05 s. Garbage without cycles is freed at once whatever the threshold: what
# waits is the rare cycle, a few MB at most.
GC_THRESHOLDS = (100_000, 10, 10)

# A producer batch holds the messages of one partition sent in one request. At
# Faust's default of 16 KB, two ~6 KB enriched articles filled one: aiokafka
# producing 4,000 such messages (zstd) spent ~150-250 us of CPU per message,
# most of it on requests; with 512 KB batches, ~20 us. It stays under
# producer_max_request_size (1 MB); a larger message still goes alone.
PRODUCER_MAX_BATCH_BYTES = 512 * 1024


def tune_gc() -> None:
    """For a worker process (and the benchmarks that stand for one)."""
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings) -> faust.App:
    proc, kafka = settings.processor, settings.kafka
    app = faust.App(
        proc.app_id,
        broker=[f"kafka://{host}" for host in kafka.bootstrap_servers.split(",")],
        store="memory://",
        datadir=str(proc.data_dir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        producer_acks=-1,
        producer_max_batch_size=PRODUCER_MAX_BATCH_BYTES,
        producer_compression_type=None if kafka.compression == "none" else kafka.compression,
        consumer_auto_offset_reset="earliest",
        web_enabled=proc.web_port > 0,
        web_port=proc.web_port or 6066,
        web_bind="127.0.0.1",
        broker_commit_every=500,
        broker_commit_interval=1.0,
    )
    names = Topics.from_settings(kafka)
    ctx = WorkerContext(
        settings=settings,
        topic_names=names,
        indices=Indices.from_settings(settings.es),
        topics=declare_topics(app, names, kafka.partitions),
    )
    for module in AGENT_MODULES:
        module.register(app, ctx)
    return app
