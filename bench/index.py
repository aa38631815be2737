"""`wirewatch bench index`: indexing throughput of ``index_batch`` (the agent's
path: to_document, locating existing copies, async bulk, per-item
classification) as a ratio of a raw ``helpers.streaming_bulk`` loop sending the
same documents to the same node in the same run.

Each round indexes the same synthetic articles (about 3 kB of text each) into
fresh indices for each side, alternating which side goes first; the figures
are the sums over rounds. Last line: ``ratio=<index_batch / raw>``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid

from elasticsearch import Elasticsearch, helpers

from processors.es.client import cluster_health, make_async_client, make_client
from processors.es.layout import ArticleLayout
from processors.es.samples import synthetic_articles
from processors.es.templates import drop_templates, ensure_templates, indices_for_prefix
from processors.indexer import index_batch, to_document
from wirewatch.settings import load_settings


def _parse(argv):
    p = argparse.ArgumentParser(prog="wirewatch bench index", description=__doc__.split("\n\n")[0])
    p.add_argument("--articles", type=int, default=20_000, help="articles per side per round (default 20,000)")
    p.add_argument("--batch-size", type=int, default=None, help="articles per bulk (default: settings es.bulk_size)")
    p.add_argument("--rounds", type=int, default=2, help="rounds, alternating which side goes first (default 2)")
    args = p.parse_args(argv)
    if not 1 <= args.articles <= 1_000_000 or not 1 <= args.rounds <= 20:
        p.error("--articles must be 1..1,000,000 and --rounds 1..20")
    return args


def _raw(es: Elasticsearch, layout: ArticleLayout, articles, documents, batch_size: int) -> float:
    actions = ({"_index": layout.index_for_article(a), "_id": a.id, "_source": doc}
               for a, doc in zip(articles, documents))
    started = time.perf_counter()
    failed = sum(1 for ok, _ in helpers.streaming_bulk(es, actions, chunk_size=batch_size, raise_on_error=False) if not ok)
    seconds = time.perf_counter() - started
    if failed:
        raise SystemExit(f"raw streaming_bulk: {failed} documents failed")
    return seconds


async def _agent(settings, indices, articles, batch_size: int) -> float:
    client = make_async_client(settings.es)
    try:
        started = time.perf_counter()
        for start in range(0, len(articles), batch_size):
            outcome = await index_batch(client, indices, articles[start:start + batch_size], chunk_size=batch_size)
            if not outcome.all_ok:
                raise SystemExit(f"index_batch: {len(outcome.permanent)} permanent, {len(outcome.transient)} "
                                 f"transient failures, e.g. {(outcome.permanent or outcome.transient)[0][1]}")
        return time.perf_counter() - started
    finally:
        await client.close()


def _fresh_indices(es, base_prefix: str, side: str):
    indices = indices_for_prefix(f"{base_prefix}-bench-{side}{uuid.uuid4().hex[:6]}")
    ensure_templates(es, indices)
    return indices


def _drop(es, indices) -> None:
    for name in es.indices.get(index=f"{indices.articles}-*", allow_no_indices=True, ignore_unavailable=True):
        es.options(ignore_status=404).indices.delete(index=name)
    drop_templates(es, indices)


def main(argv: list[str] | None = None) -> int:
    import sys

    from elastic_transport import TransportError
    from elasticsearch import ApiError

    from processors.es.client import ESUnavailable, describe_error

    args = _parse(argv)
    try:
        return _run(args)
    except ESUnavailable as exc:
        print(f"wirewatch bench index: {exc}", file=sys.stderr)
    except (ApiError, TransportError) as exc:
        print(f"wirewatch bench index: Elasticsearch failed: {describe_error(exc)}", file=sys.stderr)
    return 1


def _run(args) -> int:
    logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    settings = load_settings()
    batch_size = args.batch_size or settings.es.bulk_size
    es = make_client(settings.es)
    cluster_health(es)
    articles = synthetic_articles(args.articles)
    documents = [to_document(a) for a in articles]
    print(f"{args.articles} articles per side per round, bulks of {batch_size}, {args.rounds} round(s), "
          f"node {settings.es.url}")
    totals = {"raw": 0.0, "agent": 0.0}
    try:
        for round_number in range(args.rounds):
            order = ("raw", "agent") if round_number % 2 == 0 else ("agent", "raw")
            for side in order:
                indices = _fresh_indices(es, settings.es.index_prefix, side)
                try:
                    if side == "raw":
                        seconds = _raw(es, ArticleLayout.from_indices(indices), articles, documents, batch_size)
                    else:
                        seconds = asyncio.run(_agent(settings, indices, articles, batch_size))
                finally:
                    _drop(es, indices)
                totals[side] += seconds
                print(f"round {round_number + 1} {side:<5} {args.articles / seconds:9.0f} articles/s ({seconds:.2f} s)")
    finally:
        es.close()
    n = args.articles * args.rounds
    raw_rate, agent_rate = n / totals["raw"], n / totals["agent"]
    print(f"raw helpers.streaming_bulk: {raw_rate:.0f} articles/s")
    print(f"index_batch (agent path):   {agent_rate:.0f} articles/s")
    print(f"ratio={agent_rate / raw_rate:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
