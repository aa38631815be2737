"""Prometheus metrics of the producer (wirewatch_ prefix, base units, no URLs as labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FETCHES = Counter("wirewatch_producer_fetches_total", "Feed fetches by outcome.", ["outcome"])
FETCH_BYTES = Counter("wirewatch_producer_fetch_bytes_total", "Bytes received from feed servers (on the wire).")
FETCH_SECONDS = Histogram(
    "wirewatch_producer_fetch_duration_seconds", "Duration of one feed fetch, redirects included.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60),
)
ENTRIES = Counter("wirewatch_producer_entries_total", "Entries produced to Kafka, by kind.", ["kind"])
PRODUCE_SECONDS = Histogram(
    "wirewatch_producer_produce_latency_seconds", "From send to Kafka acknowledgement, per feed batch.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30),
)
FEEDS_BY_HEALTH = Gauge("wirewatch_producer_feeds", "Feeds by health.", ["health"])
FULL_TEXT = Counter(
    "wirewatch_producer_full_text_total",
    "Article pages fetched for full text, by outcome (extracted, shorter_than_feed, not_html, extract_failed, or the fetch error class).",
    ["outcome"],
)
FULL_TEXT_SECONDS = Histogram(
    "wirewatch_producer_full_text_duration_seconds", "Fetch plus extraction of one article page.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60),
)
