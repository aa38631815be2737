"""`wirewatch bench NAME`: benchmarks that print their figures (never timed tests)."""

from __future__ import annotations

import importlib

BENCHES = {
    "e2e": ("bench.e2e", "producer -> Kafka -> enrich -> index -> match, on the local stack"),
    "producers": ("bench.producers", "one producer polling 20,000 simulated feeds"),
    "enrich": ("bench.enrich", "the enrichment chain on one core"),
    "index": ("bench.index", "the indexer vs a raw streaming_bulk loop"),
    "alerts": ("bench.alerts", "matching against 10,000 subscriptions"),
}


def _run(args) -> int:
    module = importlib.import_module(BENCHES[args.name][0])
    return int(module.main(args.rest) or 0)


def register(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark: " + ", ".join(BENCHES))
    p.add_argument("name", choices=sorted(BENCHES))
    p.add_argument("rest", nargs="...", help="the benchmark's own options (see `wirewatch bench NAME --help`)")
    p.set_defaults(func=_run)
