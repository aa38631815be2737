"""Corpus statistics kept in the `keyword-df` table (processors/corpus.py), without a broker."""

from collections import Counter

import pytest

from processors.corpus import DF_SHARDS, PartitionDeltas, flush_values, partition_counts, partition_of_key, shard_key
from processors.enrich.keywords import DocumentFrequency, KeywordExtractor
from processors.enrich.text import Analysis


def _flush(table: dict, deltas: PartitionDeltas, partition: int, max_words: int = 300_000) -> None:
    docs, words = deltas.take(partition)
    table.update(flush_values(table, partition, docs, words, max_words))


def test_counts_survive_in_the_table_per_partition():
    table: dict = {}
    deltas = PartitionDeltas(flush_articles=1000)
    for words in (["harbour", "cranes"], ["harbour"], ["strike"]):
        deltas.observe(0, words)
    deltas.observe(1, ["election"])
    _flush(table, deltas, 0)
    _flush(table, deltas, 1)
    deltas.observe(0, ["cranes"])
    _flush(table, deltas, 0)  # a second flush adds to what the table holds

    assert all(partition_of_key(key) in (0, 1) for key in table)
    docs, counts = partition_counts(table.items(), {0})
    merged = sum((Counter(c) for c in counts), Counter())
    assert docs == 4 and merged == Counter({"harbour": 2, "cranes": 2, "strike": 1})
    assert partition_counts(table.items(), {0, 1})[0] == 5
    assert partition_counts(table.items(), {7}) == (0, [])


def test_a_word_lives_in_one_shard_key_the_same_in_every_process():
    assert shard_key(3, "cranes") == shard_key(3, "cranes")
    assert shard_key(3, "cranes").startswith("3:")
    assert len({shard_key(0, f"word{i}") for i in range(500)}) == DF_SHARDS


def test_each_shard_keeps_only_its_most_frequent_words():
    table: dict = {}
    words = Counter({f"rare{i}": 1 for i in range(200)})
    words.update({"common": 50})
    values = flush_values(table, 0, 60, words, max_words=DF_SHARDS * 3)
    assert all(len(v["words"]) <= 3 for v in values.values())
    assert any(v["words"].get("common") == 50 for v in values.values())


def test_junk_in_the_changelog_is_ignored_not_fatal():
    table = {"0:0": {"docs": 5, "words": {"ok": 2, "neg": -1, "txt": "7", 3: 4}},
             "0:1": "not a dict", "0:2": {"docs": "many", "words": ["x"]},
             "garbage": {"docs": 100, "words": {"x": 1}}, "0:x": {"docs": 100}}
    docs, counts = partition_counts(table.items(), {0})
    assert docs == 5 and sum((Counter(c) for c in counts), Counter()) == Counter({"ok": 2})
    assert partition_of_key("garbage") is None and partition_of_key("0:x") is None
    # flushing on top of a junk value starts that key afresh
    assert flush_values(table, 0, 1, {"new": 1}, 300_000)["0:0"]["docs"] == 6


def test_a_delta_is_due_after_flush_articles():
    deltas = PartitionDeltas(flush_articles=3)
    for _ in range(2):
        deltas.observe(2, ["a"])
    assert not deltas.due(2)
    deltas.observe(2, ["a"])
    assert deltas.due(2) and deltas.partitions() == [2]
    deltas.drop([2])
    assert deltas.partitions() == [] and deltas.take(2) == (0, Counter())


def test_restored_counts_reach_the_keyword_scores_at_once():
    df = DocumentFrequency()
    extractor = KeywordExtractor(df)
    background = extractor._background("en")
    for i in range(100):
        df.observe(frozenset({f"filler{i}"}))
    before = extractor._specificity_source(background)["cranes"]  # never seen in the corpus
    df.reset(1000, [{"cranes": 900}, {"harbour": 10}])  # the table says: cranes are everywhere
    assert df.n_docs == 1000 and df.df("cranes") == 900 and df.df("filler1") == 0
    assert extractor._specificity_source(background)["cranes"] < before - 0.3
    text = Analysis.of("Harbour cranes", "The harbour cranes stood idle.")
    assert extractor.extract(text, "en")  # still scores


def test_reset_keeps_the_counts_bounded():
    df = DocumentFrequency(max_terms=100)
    df.reset(10, [{f"w{i}": 1 for i in range(300)}])
    assert len(df.store) <= 100


def test_agent_stats_flush_due_partitions_and_rebuild_when_partitions_move():
    from processors.agents.corpus import CorpusStats

    table: dict = {}
    held = {0, 1}
    df = DocumentFrequency()
    stats = CorpusStats(table, df, lambda: held, partitions=2, flush_articles=2, flush_s=60.0)
    stats.sync()
    assert df.n_docs == 0
    stats.observe(0, ["cranes"])
    assert stats.flush_due(now=stats.last_flush) == 0  # not due yet
    stats.observe(0, ["cranes", "harbour"])
    stats.observe(1, ["election"])
    assert stats.flush_due(now=stats.last_flush) == 1  # partition 0 only
    assert partition_counts(table.items(), {0})[0] == 2 and partition_counts(table.items(), {1})[0] == 0
    assert stats.flush_due(now=stats.last_flush + 60.0) == 1  # the timer flushes the rest
    assert partition_counts(table.items(), {1})[0] == 1

    stats.observe(0, ["cranes"])  # not flushed yet
    held = {0}  # partition 1 went to another worker: counts are those of partition 0 only
    stats.assigned = lambda: held
    stats.sync()
    assert df.n_docs == 3 and df.df("cranes") == 3 and df.df("election") == 0


def test_a_partition_gone_to_another_worker_is_not_written():
    from processors.agents.corpus import CorpusStats

    table: dict = {}
    held = {0, 1}
    stats = CorpusStats(table, DocumentFrequency(), lambda: held, partitions=2, flush_articles=1, flush_s=60.0)
    stats.sync()
    stats.observe(1, ["election"])
    held = {0}  # revoked before the flush (the timer may run before the next batch's sync)
    assert stats.flush_due(now=stats.last_flush) == 0
    assert partition_counts(table.items(), {1}) == (0, [])
