"""Counts kept in Faust tables by shard of their keys (trends, the keyword step's
document frequencies): one table key holds the counts of many terms, so that a
flush writes one changelog message per shard it touches, not one per term."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping


def stable_shard(key: str, shards: int) -> int:
    """The shard of a key: CRC-32, the same in every process (Python's hash is salted), so
    that a restarted worker finds the counts its changelog recovered under the same keys."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % shards


def group_by_shard(counts: Mapping[str, int], shard_key: Callable[[str], str]) -> dict[str, dict[str, int]]:
    """Increments grouped by the table key (`shard_key(term)`) that holds each term."""
    out: dict[str, dict[str, int]] = {}
    for key, n in counts.items():
        out.setdefault(shard_key(key), {})[key] = n
    return out


def merged_counts(current: object, increments: Mapping[str, int]) -> dict[str, int]:
    """A stored shard's counts plus increments, as a new dict (a table value is replaced,
    never mutated). What is not a positive count in `current` is dropped: the changelog
    is input too."""
    out = {k: v for k, v in current.items() if isinstance(k, str) and type(v) is int and v > 0} \
        if isinstance(current, Mapping) else {}
    for key, n in increments.items():
        out[key] = out.get(key, 0) + n
    return out
