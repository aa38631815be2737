"""The enrich agent's corpus statistics in the Faust table `keyword-df` (see processors/corpus.py).

`CorpusStats` is what the enrich agent calls: `sync()` before a batch (a
changed set of partitions rebuilds the worker's document frequencies from the
table), `observe()` for each enriched article, `flush_due()` after the batch.
Counts not yet flushed when a worker stops are lost: at most
`processor.keyword_df_flush_articles` articles per partition, or
`keyword_df_flush_s` seconds, of statistics.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import faust
import structlog

from processors.corpus import PartitionDeltas, flush_values, partition_counts, partition_of_key
from processors.enrich.keywords import DocumentFrequency

log = structlog.get_logger(__name__)

TABLE_NAME = "keyword-df"


class PartitionKeyedTable(faust.Table):
    """A table whose key says its changelog partition ("<partition>:<shard>"), so that the
    enrich agent can write a partition's counts after a batch that mixed partitions
    (Faust would use the partition of the stream's current event)."""

    def partition_for_key(self, key):
        partition = partition_of_key(key)
        if partition is None:
            raise ValueError(f"not a {TABLE_NAME} key: {key!r}")
        return partition


def corpus_table(app: faust.App, partitions: int) -> faust.Table:
    return app.tables.add(PartitionKeyedTable(app, name=TABLE_NAME, default=None, beacon=app.tables.beacon,
                                              partitions=partitions, key_type=str, value_type=None,
                                              help="keyword step: document frequencies per articles.raw partition"))


class CorpusStats:
    def __init__(self, table, df: DocumentFrequency, assigned, partitions: int, flush_articles: int, flush_s: float):
        """`assigned()`: the partitions of articles.raw this worker holds now."""
        self.table, self.df, self.assigned = table, df, assigned
        self.max_words = max(1, df.max_terms // max(1, partitions))   # per partition: a worker may hold them all
        self.deltas = PartitionDeltas(flush_articles)
        self.flush_s = flush_s
        self.partitions: frozenset[int] = frozenset()
        self.last_flush = time.monotonic()

    def sync(self) -> None:
        """Rebuild the document frequencies from the table when this worker's partitions changed."""
        held = frozenset(self.assigned())
        if held == self.partitions:
            return
        self.deltas.drop(p for p in self.partitions - held)
        self.partitions = held
        docs, words = partition_counts(self.table.items(), set(held))
        # plus what the partitions still held counted since their last flush
        pending = [p for p in self.deltas.partitions() if p in held]
        self.df.reset(docs + sum(self.deltas.docs[p] for p in pending), [*words, *(self.deltas.words[p] for p in pending)])
        log.info("corpus.restored", partitions=sorted(held), articles=docs, words=len(self.df.store) - 1)

    def observe(self, partition: int, vocabulary: Iterable[str]) -> None:
        self.deltas.observe(partition, vocabulary)

    def flush_due(self, now: float | None = None) -> int:
        """Write the deltas that are due (all of them every `flush_s` seconds); how many partitions were written."""
        now = time.monotonic() if now is None else now
        # A partition gone to another worker is its to write now: two writers of a key would lose counts.
        held = set(self.assigned())
        self.deltas.drop(p for p in self.deltas.partitions() if p not in held)
        if now - self.last_flush >= self.flush_s:
            due = self.deltas.partitions()
            self.last_flush = now
        else:
            due = [p for p in self.deltas.partitions() if self.deltas.due(p)]
        for partition in due:
            docs, words = self.deltas.take(partition)
            for key, value in flush_values(self.table, partition, docs, words, self.max_words).items():
                self.table[key] = value
        return len(due)


def raw_partitions(app: faust.App, raw_topic: str):
    """A callable: the partitions of `raw_topic` assigned to this worker's consumer now."""
    def assigned() -> set[int]:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == raw_topic}
    return assigned
