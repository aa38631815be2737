"""The keyword step's corpus statistics (document frequencies), kept in a Faust table.

`KeywordExtractor` scores phrases against how many articles contained each
word (`DocumentFrequency`, a Counter in the worker, updated article by
article). This module makes those counts survive a restart and follow a
rebalance: the enrich agent adds each article's words to the delta of the
`articles.raw` partition it came from, and every
`processor.keyword_df_flush_articles` articles (or `keyword_df_flush_s`
seconds) folds the delta into the table `keyword-df`.

Why per partition: a table key is written to the changelog partition of the
articles it counts (`partition_of_key`), so the counts of partition p move
with p when Faust hands it to another worker and come back from the changelog
after a restart, and no two workers ever write the same key. A worker scores
against the articles of its own partitions: a uniform share of the stream,
which gives the same ratios as the whole of it. When its partitions change
it rebuilds its counts from the table (`partition_counts`, then
`DocumentFrequency.reset`).

Keys are "<partition>:<shard>": the words of a partition are spread over
`DF_SHARDS` keys so that one changelog message stays well under Kafka's
1 MB default. Each shard keeps at most `max_words // DF_SHARDS` words (the
rarest go first), so the table is bounded like the Counter it restores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from processors.shards import group_by_shard, merged_counts, stable_shard

DF_SHARDS = 16
DOCS = "docs"
WORDS = "words"


def shard_key(partition: int, word: str) -> str:
    """The table key holding a word's count for a partition."""
    return f"{partition}:{stable_shard(word, DF_SHARDS)}"


def partition_of_key(key: str) -> int | None:
    """The partition a table key belongs to; None for a key this module did not make."""
    head, sep, shard = str(key).partition(":")
    if not sep or not head.isdigit() or not shard.isdigit():
        return None
    return int(head)


class PartitionDeltas:
    """Counts not yet in the table, per partition of articles.raw. Bounded: a
    partition's delta is due once it holds `flush_articles` articles."""

    def __init__(self, flush_articles: int) -> None:
        self.flush_articles = flush_articles
        self.docs: Counter[int] = Counter()
        self.words: dict[int, Counter[str]] = {}

    def observe(self, partition: int, vocabulary: Iterable[str]) -> None:
        words = self.words.get(partition)
        if words is None:  # (setdefault would build a Counter per article)
            words = self.words[partition] = Counter()
        words.update(vocabulary)
        self.docs[partition] += 1

    def due(self, partition: int) -> bool:
        return self.docs[partition] >= self.flush_articles

    def partitions(self) -> list[int]:
        return [p for p, n in self.docs.items() if n]

    def take(self, partition: int) -> tuple[int, Counter[str]]:
        """(articles, word counts) of a partition's delta, which is then empty."""
        return self.docs.pop(partition, 0), self.words.pop(partition, Counter())

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the deltas of partitions this worker no longer holds (their next owner counts on)."""
        for partition in list(partitions):
            self.docs.pop(partition, None)
            self.words.pop(partition, None)


def _stored_words(value: object) -> object:
    """The word counts of a table value, as stored (merged_counts drops what is not a count)."""
    return value.get(WORDS) if isinstance(value, Mapping) else None


def _docs(value: object) -> int:
    docs = value.get(DOCS) if isinstance(value, Mapping) else None
    return docs if type(docs) is int and docs > 0 else 0


def merged(old: object, words: Mapping[str, int], docs: int, max_words: int) -> dict:
    """A table value with a delta added: {"docs": articles counted, "words": {word: articles}},
    keeping the `max_words` most frequent words."""
    counts = Counter(merged_counts(_stored_words(old), words))
    if len(counts) > max_words:
        counts = Counter(dict(counts.most_common(max_words)))
    return {DOCS: _docs(old) + docs, WORDS: dict(counts)}


def flush_values(table: Mapping, partition: int, docs: int, words: Mapping[str, int],
                 max_words: int) -> dict[str, dict]:
    """The table values to write for one partition's delta: every shard it touches,
    and shard 0 always, which also holds the partition's article count."""
    per_shard = max(1, max_words // DF_SHARDS)
    first = f"{partition}:0"
    grouped = group_by_shard(words, lambda word: shard_key(partition, word))
    grouped.setdefault(first, {})
    return {key: merged(table.get(key), shard_words, docs if key == first else 0, per_shard)
            for key, shard_words in grouped.items()}


def partition_counts(items: Iterable[tuple[object, object]], partitions: set[int]) -> tuple[int, list[dict[str, int]]]:
    """(articles counted, word counts per key) in the table for `partitions`. `items`: the table's (key, value) pairs."""
    docs, words = 0, []
    for key, value in items:
        if partition_of_key(str(key)) in partitions:
            docs += _docs(value)
            words.append(merged_counts(_stored_words(value), {}))
    return docs, words
