"""Story clustering: near-duplicate signatures and a bounded story index.

Signature
    MinHash over 4-word shingles of the folded body (the headline is left
    out: syndicated copies often rewrite it). One hash per shingle, split
    into `NUM_HASHES` bins by its low bits ("one permutation hashing"),
    the minimum kept per bin; empty bins of short texts borrow from the next
    full bin (rotation densification). A shingle hashes as a polynomial over
    the UTF-8 bytes of its words, mixed by a fixed 64-bit finaliser
    (`_shingle_hashes`): plain integer arithmetic, so every worker, on any
    Python version, computes the same signature for the same text. All
    shingles of an article are hashed and binned at once with numpy over
    one buffer of its words (`Analysis.folded_body`): per-word and
    per-shingle Python work cost ~4x more. The estimated Jaccard similarity
    of two texts is the share of equal bins. `signatures()` gives the same
    signatures for a batch of articles, in a few numpy passes over all of them.

LSH
    `BANDS` bands of `ROWS` bins: two texts sharing a band become candidates;
    a candidate joins the story when its estimated similarity to the story's
    first article is at least `threshold` (0.5 by default: a copy with a new
    headline, reordered paragraphs or added boilerplate stays far above it;
    different articles on the same subject stay far below), or when most of
    the smaller text is contained in the larger (a trimmed copy: Jaccard
    similarity can drop to 0.3 when the long last paragraphs are cut, so
    containment, estimated from Jaccard and the shingle counts, decides).

Story ids, across workers
    A new story's id is derived from the smallest shingle hash of its first
    article (`st-<hex>`), not from a counter or a random value: the chance
    that two near-copies have the same smallest shingle is their Jaccard
    similarity, so copies that two workers see at the same moment usually get
    the same id even before any state is shared. What makes it exact is one
    owner of the index: the enrich workers compute `signature()` (the costly,
    parallel part) and the story agent (processors/agents/story.py),
    consuming `articles.signed`, where every message has the same key (so one
    partition, one consumer at a time, in order), calls
    `StoryIndex.assign_signature` (~tens of microseconds, far above the
    stream's rate). Sharding the index by band key instead would need one
    message per band per article, which costs more than it saves here.

Persistence (as built in processors/agents/story.py)
    The story agent gives the index a `journal` (`StoryJournal`): story
    changes and article ids are written to changelogged Faust tables, one
    record per story (`_Story.record()`, which names its first article) and
    one entry per later article id, and every eviction deletes them, so the
    tables stay as bounded as the index. A new story costs one write, a copy
    one or two (its id; the record when it brings a new source), and a
    record is not rewritten for a later last_seen alone until that has moved
    by `LAST_SEEN_PERSIST_SHARE` of the age bound. After a restart or a
    rebalance the new owner recovers the tables and calls
    `StoryIndex.restore`, which rebuilds the band keys from the stored
    signatures (one write per article instead of 32 band writes per story).

Updates
    An article id seen before is an update: same story, not counted again.
    `sources` counts the distinct sources (domain, else feed URL) that
    carried the story so far.
"""

from __future__ import annotations

import operator
import struct
import time
import zlib
from collections import OrderedDict
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import repeat

import numpy as np

from processors.enrich.native import c_function
from processors.enrich.text import Analysis

SHINGLE_WORDS = 4
NUM_HASHES = 64            # power of two: bins are taken from the low bits
BANDS = 32                 # 2 rows a band: a copy sharing 30% of its shingles is a candidate 95% of the time
ROWS = NUM_HASHES // BANDS   # band_keys() is written out for ROWS == 2
_BAND_NUMBERS = range(BANDS)
MIN_SHINGLES = 3           # shorter bodies only match exact copies
DEFAULT_THRESHOLD = 0.5
CONTAINMENT_THRESHOLD = 0.8   # a trimmed copy: most of the smaller text is in the larger
MIN_JACCARD_FOR_CONTAINMENT = 0.15   # below this the containment estimate is noise
MAX_SOURCES_TRACKED = 1000
_MASK = (1 << 64) - 1
_BIN_BITS = NUM_HASHES.bit_length() - 1
_EMPTY = _MASK


MAX_SIGNATURE_WORDS = 400    # a signature reads the first words only: copies keep the start, boilerplate goes at the end
MAX_SIGNATURE_BYTES = 1 << 16   # ... and at most this much of them (UTF-8), whatever the caller passes
_HEAD_CHARS = MAX_SIGNATURE_WORDS * 40   # enough for MAX_SIGNATURE_WORDS words of usual length
_SEP = "\x01"   # joins words, as in Analysis.folded_body


@dataclass(frozen=True)
class Signature:
    values: tuple[int, ...]          # NUM_HASHES minimums, or () for texts too short
    min_hash: int                    # smallest shingle hash: the seed of a new story's id
    exact: str                       # hash of the folded words, only for texts too short to shingle
    size: int = 0                    # distinct shingles

    def similarity(self, other: "Signature") -> float:
        if not self.values or not other.values:
            return 1.0 if self.exact == other.exact else 0.0
        return sum(map(operator.eq, self.values, other.values)) / NUM_HASHES

    def containment(self, other: "Signature", jaccard: float | None = None) -> float:
        """Estimated share of the smaller text's shingles found in the larger one."""
        j = self.similarity(other) if jaccard is None else jaccard
        if not self.values or not other.values:
            return j
        if j < MIN_JACCARD_FOR_CONTAINMENT:
            return 0.0
        intersection = j * (self.size + other.size) / (1 + j)
        return min(1.0, intersection / max(1, min(self.size, other.size)))

    def same_story(self, other: "Signature", threshold: float = DEFAULT_THRESHOLD, jaccard: float | None = None) -> float:
        """A match strength >= threshold when the texts are near-duplicates, else 0.
        `jaccard`: self.similarity(other), when the caller computed it already."""
        j = self.similarity(other) if jaccard is None else jaccard
        if j >= threshold:
            return j
        c = self.containment(other, j)
        return c * threshold if c >= CONTAINMENT_THRESHOLD else 0.0

    @cached_property
    def packed(self) -> bytes | None:
        """`values` as NUM_HASHES little-endian uint64, to compare many signatures in one call
        (equal words, equal values); None when they are not NUM_HASHES values of 64 bits."""
        if len(self.values) != NUM_HASHES:
            return None
        try:
            return _PACKED.pack(*self.values)
        except struct.error:
            return None

    def band_keys(self) -> list[int]:
        """One int per LSH band: its two values and the band number side by side.

        Exact (two different bands never share a key) and the same in every
        process; str() them for a table with text keys."""
        if not self.values:
            return [int(self.exact, 16)]
        v = self.values
        return [first << (64 + _BIN_BITS) | second << _BIN_BITS | band
                for band, first, second in zip(_BAND_NUMBERS, v[0::ROWS], v[1::ROWS])]

    def story_id(self) -> str:
        return f"st-{self.min_hash:016x}" if self.values else f"st-x{self.exact[:16]}"


def signature_of_words(words: list[str]) -> Signature:
    """Signature of folded words (breaks and empty strings ignored)."""
    return _signature_of_joined(_SEP.join(words[: MAX_SIGNATURE_WORDS * 2]))


def signature(analysis: Analysis) -> Signature:
    """Near-duplicate signature of an article's body (its title when the body is empty)."""
    if not any(analysis.body_tokens):
        return signature_of_words(analysis.title_tokens)
    joined = analysis.folded_body  # the same words in one string (see Analysis), unless rebuilt since
    if joined and joined.count(_SEP) + 1 == len(analysis.body_tokens):
        return _signature_of_joined(joined)
    return signature_of_words(analysis.body_tokens)


def _signature_of_joined(joined: str) -> Signature:
    """Signature of words joined by _SEP, empty words (breaks) included."""
    data = _word_bytes(joined)
    ends = (np.frombuffer(data, dtype=np.uint8) == _SEP_BYTE).nonzero()[0][: MAX_SIGNATURE_WORDS + 1]
    if len(ends) - 1 < SHINGLE_WORDS + MIN_SHINGLES - 1:
        return _exact_signature(joined)
    hashes = _shingle_hashes(data, ends)
    hashes.sort()
    distinct = int(np.count_nonzero(hashes[1:] != hashes[:-1])) + 1
    return Signature(_densify(_bin_minimums(hashes)), int(hashes[0]), "", distinct)


def _word_bytes(joined: str) -> bytes:
    """The first words as UTF-8, each one preceded and followed by one _SEP.

    One buffer for numpy to work on: per-word Python work (a dict of word
    hashes, a tuple per shingle) costs several times more."""
    text = joined.strip(_SEP)
    if len(text) > _HEAD_CHARS and text.count(_SEP, 0, _HEAD_CHARS) > MAX_SIGNATURE_WORDS * 2:
        text = text[:_HEAD_CHARS]  # a long article: its start holds the words we read
    while _SEP + _SEP in text:  # a break between words; scan() never puts two in a row
        text = text.replace(_SEP + _SEP, _SEP)
    return f"{_SEP}{text}{_SEP}".encode("utf-8", "surrogatepass")[:MAX_SIGNATURE_BYTES]


def _exact_signature(joined: str) -> Signature:
    """Texts too short to shingle: a hash of the words, so only exact copies match."""
    content = list(filter(None, joined.split(_SEP)))[:MAX_SIGNATURE_WORDS]
    exact = f"{zlib.crc32(' '.join(content).encode('utf-8', 'surrogatepass')):08x}{len(content):08x}"
    return Signature((), 0, exact)


# numpy scalars: mixing them with Python ints would make numpy convert on every operation.
_U64 = np.uint64
_SEP_BYTE = np.uint8(ord(_SEP))
_BASE = 0x9E3779B97F4A7C15   # odd, so invertible modulo 2**64
_MIX1, _MIX2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)   # splitmix64's finaliser
# Any fixed seed gives a valid MinHash, but `eval dedup` recall moves by about +-0.004
# from one seed to another (which copies land near the threshold): 2 is the first of
# 0..5 above 0.97 for --seed 7..10. Changing it changes every signature and story id.
_HASH_SEED = _U64(2)
_BIN_MASK, _BIN_SHIFT = _U64(NUM_HASHES - 1), _U64(_BIN_BITS)
_EMPTY_BINS = np.full(NUM_HASHES, _EMPTY, dtype=_U64)


def _powers(base: int, n: int) -> np.ndarray:
    """base**0 .. base**(n-1) modulo 2**64 (uint64 products wrap)."""
    out = np.ones(n, dtype=_U64)
    np.cumprod(np.full(n - 1, base, dtype=_U64), out=out[1:])
    return out


# Every byte offset of MAX_SIGNATURE_BYTES: 2 x 512 KiB, computed once at import (<1 ms).
_POWERS = _powers(_BASE, MAX_SIGNATURE_BYTES)
_INVERSE_POWERS = _powers(pow(_BASE, -1, 1 << 64), MAX_SIGNATURE_BYTES)


def _shingle_hashes(data: bytes, ends: np.ndarray) -> np.ndarray:
    """64-bit hash of the bytes of every run of 4 words (with the separator after them);
    `ends` are the offsets of the separators, the first one before the first word.

    A polynomial hash, sum(byte[j] * BASE**(j - start)) modulo 2**64, taken
    for all shingles at once from prefix sums of byte[j] * BASE**j: the
    difference of two prefix sums times BASE**-start. Any text, any process,
    any Python version gives the same numbers. Its low bits depend on the
    low bits of the bytes only, so splitmix64's finaliser mixes it before
    bins and minimums are taken from it (seeded: see _HASH_SEED)."""
    end = int(ends[-1]) + 1
    codes = np.frombuffer(data, dtype=np.uint8, count=end)
    prefix = (codes * _POWERS[:end]).cumsum()[ends]
    polynomial = (prefix[SHINGLE_WORDS:] - prefix[:-SHINGLE_WORDS]) * _INVERSE_POWERS[ends[:-SHINGLE_WORDS]]
    return _mix64(polynomial ^ _HASH_SEED)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise: a bijection in which every input bit
    flips about half of the output bits."""
    z = (z ^ (z >> _U64(30))) * _MIX1
    z = (z ^ (z >> _U64(27))) * _MIX2
    return z ^ (z >> _U64(31))


def _bin_minimums(hashes: np.ndarray) -> list[int]:
    """Per bin (the low bits of a hash), the smallest hash >> bin bits, or _EMPTY."""
    bins = _EMPTY_BINS.copy()
    np.minimum.at(bins, hashes & _BIN_MASK, hashes >> _BIN_SHIFT)
    return bins.tolist()


def _densify(bins: list[int]) -> tuple[int, ...]:
    """Fill empty bins from the next full one (circularly), offset by the distance."""
    if _EMPTY not in bins:
        return tuple(bins)
    n = len(bins)
    out = list(bins)
    for i in range(n):
        if bins[i] == _EMPTY:
            for step in range(1, n):
                j = (i + step) % n
                if bins[j] != _EMPTY:
                    out[i] = (bins[j] + step * 0x9E3779B97F4A7C15) & _MASK
                    break
    return tuple(out)


# ------------------------------------------------------------------ batches
#
# `signatures()` computes exactly what `signature()` does, for many articles in a
# few numpy passes over all of them: one buffer of every text, one prefix sum of
# its bytes (MAX_SIGNATURE_BYTES at a time), and one sort of a (texts x shingles)
# matrix for the bins, the distinct count and the densification. Each numpy call
# has a fixed cost (5-15 us when the other enrichment steps have left the caches
# cold) and `signature()` makes ~30 of them an article; the batch makes ~80 in
# all, plus 5 per 64 KiB of text. A batch of one costs ~3x `signature()`, which
# stays the path for single articles. tests/unit/enrich/test_story.py checks
# that both agree.

_ANY_COUNT = -1   # a text built here from its tokens: its word count needs no check
_BATCH = 256      # texts signed together at most: bounds the buffers (~16 MiB of text)
_BIN_TOP = _U64(64 - _BIN_BITS)   # a hash rotated by this has its bin in the top bits
_VALUE_MASK = _U64((1 << (64 - _BIN_BITS)) - 1)
_DENSIFY_STEP = _U64(0x9E3779B97F4A7C15)   # as in _densify


def signatures(analyses: list[Analysis]) -> list[Signature]:
    """`[signature(a) for a in analyses]`, computed for the whole batch at once:
    ~2.5x cheaper an article inside the enrichment chain, for takes of 200
    articles of ~3 KB (see "batches" above)."""
    texts, counts = [], []
    for analysis in analyses:
        text, count = _joined_words(analysis)
        texts.append(text)
        counts.append(count)
    out: list[Signature] = []
    for lo in range(0, len(texts), _BATCH):
        hi = lo + _BATCH
        out.extend(_batch_signatures(texts[lo:hi], counts[lo:hi], analyses[lo:hi]))
    return out


def _joined_words(analysis: Analysis) -> tuple[str, int]:
    """The words `signature()` reads joined by _SEP, and how many words that text must
    hold (checked by `_stale`) or `_ANY_COUNT` (built from the tokens here)."""
    if not any(analysis.body_tokens):
        return _SEP.join(analysis.title_tokens[: MAX_SIGNATURE_WORDS * 2]), _ANY_COUNT
    if analysis.folded_body:
        return analysis.folded_body, len(analysis.body_tokens)
    return _SEP.join(analysis.body_tokens[: MAX_SIGNATURE_WORDS * 2]), _ANY_COUNT


def _batch_signatures(texts: list[str], counts: list[int], analyses: list[Analysis]) -> list[Signature]:
    codes, seps, first = _pack(texts)
    stale = _stale(texts, counts, np.diff(first, append=len(seps)).tolist())
    if stale:  # folded_body no longer matches body_tokens: as signature(), read the tokens
        texts = list(texts)
        for i in stale:
            texts[i] = _SEP.join(analyses[i].body_tokens[: MAX_SIGNATURE_WORDS * 2])
        codes, seps, first = _pack(texts)
    codes, seps, read = _words_read(codes, seps, first, [len(text) > _HEAD_CHARS for text in texts])
    shingled = (read - 1 >= SHINGLE_WORDS + MIN_SHINGLES - 1).tolist()
    if not any(shingled):
        return [_exact_signature(text) for text in texts]
    first = np.cumsum(read) - read
    shingles = read[shingled] - SHINGLE_WORDS
    offsets = np.cumsum(shingles) - shingles
    # Shingle k of a text runs from its separator k to its separator k + SHINGLE_WORDS.
    k = np.arange(int(offsets[-1] + shingles[-1])) + np.repeat(first[shingled] - offsets, shingles)
    prefixes, inverses = _prefixes_at(codes, seps, first)
    hashes = _mix64(((prefixes[k + SHINGLE_WORDS] - prefixes[k]) * inverses[k]) ^ _HASH_SEED)
    rows, valid = _sorted_rows(hashes, shingles)
    found = zip(map(tuple, _densify_rows(_bin_minimum_rows(rows, valid)).tolist()),
                np.minimum.reduceat(hashes, offsets).tolist(), repeat(""), _distinct_counts(rows, valid).tolist())
    return [Signature(*next(found)) if ok else _exact_signature(text) for text, ok in zip(texts, shingled)]


def _stale(texts: list[str], counts: list[int], separators: list[int]) -> list[int]:
    """Indexes of the texts that do not hold the expected number of words (`counts`).

    `signature()` checks folded_body with str.count(), ~8 us an article: here the
    separators `_pack` finds are counted instead (a _SEP before and after each word)."""
    stale = []
    for i, (text, count, seps) in enumerate(zip(texts, counts, separators)):
        if count == _ANY_COUNT:
            continue
        if len(text) > _HEAD_CHARS:  # cut by _word_bytes: count here (rare)
            seps = text.count(_SEP) + 2
        if seps - 1 != count:
            stale.append(i)
    return stale


def _raw_bytes(joined: str) -> bytes:
    """`_word_bytes` of a text, but for a short text its breaks (runs of _SEP) are
    left for `_words_read` to take out, in numpy for the whole batch: replace()
    costs ~20 us an article. A short text is within MAX_SIGNATURE_BYTES (at most
    4 bytes a character) and is not cut, so nothing else differs."""
    if len(joined) <= _HEAD_CHARS:
        return f"{_SEP}{joined}{_SEP}".encode("utf-8", "surrogatepass")
    return _word_bytes(joined)


def _pack(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `_raw_bytes` of all texts in one buffer; the offsets of its separators;
    for each text the index in those of its first separator (its first byte)."""
    data = [_raw_bytes(text) for text in texts]
    codes = np.frombuffer(b"".join(data), dtype=np.uint8)
    sizes = np.fromiter(map(len, data), dtype=np.intp, count=len(data))
    seps = np.flatnonzero(codes == _SEP_BYTE)
    return codes, seps, np.searchsorted(seps, np.cumsum(sizes) - sizes)


def _words_read(codes: np.ndarray, seps: np.ndarray, first: np.ndarray,
                collapsed: list[bool]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_pack`'s buffer cut to the bytes a signature reads: each run of _SEP cut to
    one _SEP, as `_word_bytes` does (but not in the texts it has already done,
    `collapsed`: a text it cut may end with a break, which stays), and each text cut
    after its (MAX_SIGNATURE_WORDS + 1)th separator. Also the offsets of the
    separators left, and how many of them each text has."""
    repeated = np.zeros(len(seps), dtype=bool)
    np.equal(seps[1:] - seps[:-1], 1, out=repeated[1:])  # right after another separator ...
    repeated[first] = False                               # ... of the same text
    if any(collapsed):
        repeated &= np.repeat(~np.array(collapsed), np.diff(first, append=len(seps)))
    kept = np.flatnonzero(~repeated)
    kept_first = np.searchsorted(kept, first)
    read = np.minimum(np.diff(kept_first, append=len(kept)), MAX_SIGNATURE_WORDS + 1)
    keep = np.ones(len(codes), dtype=bool)
    keep[seps[repeated]] = False
    ends = (seps[kept[kept_first + read - 1]] + 1).tolist()   # past the last separator read
    for end, stop in zip(ends, seps[first[1:]].tolist() + [len(codes)]):
        keep[end:stop] = False
    codes = codes[keep]
    return codes, np.flatnonzero(codes == _SEP_BYTE), read


def _prefixes_at(codes: np.ndarray, seps: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At each separator, at offset j: the sum of byte[i] * BASE**i over the bytes up
    to it, and BASE**-j, offsets counted from the start of a run of texts of at
    most MAX_SIGNATURE_BYTES (the size of the tables); a shingle's hash, as in
    `_shingle_hashes`, does not depend on where its text starts.

    Each run is computed in the same scratch buffer: a new 512 KiB array each time
    costs more than the arithmetic."""
    prefixes, inverses = np.empty(len(seps), dtype=_U64), np.empty(len(seps), dtype=_U64)
    starts = seps[first].tolist() + [len(codes)]
    bounds = first.tolist() + [len(seps)]
    scratch = np.empty(min(len(codes), MAX_SIGNATURE_BYTES), dtype=_U64)
    for lo, hi in _runs(np.diff(starts).tolist(), MAX_SIGNATURE_BYTES):
        start, end, at = starts[lo], starts[hi], slice(bounds[lo], bounds[hi])
        offsets = seps[at] - start
        terms = scratch[: end - start]
        np.multiply(codes[start:end], _POWERS[: end - start], out=terms)
        np.cumsum(terms, out=terms)
        np.take(terms, offsets, out=prefixes[at])
        np.take(_INVERSE_POWERS, offsets, out=inverses[at])
    return prefixes, inverses


def _runs(sizes: list[int], limit: int) -> list[tuple[int, int]]:
    """(start, stop) of runs of consecutive items whose sizes add up to at most `limit`
    (an item alone may be `limit`)."""
    runs, start, total = [], 0, 0
    for i, size in enumerate(sizes):
        if total + size > limit and i > start:
            runs.append((start, i))
            start, total = i, 0
        total += size
    return runs + [(start, len(sizes))]


def _sorted_rows(hashes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row per text of its hashes rotated to have the bin (low bits) on top,
    sorted, padded with _EMPTY; and the mask of the real entries.

    One sort of equal-length rows gives each text's distinct hashes and, per bin,
    its smallest hash first: cheaper than a sort per text plus `np.minimum.at`.
    The padding sorts last (a hash equal to it is equal to it), so the first
    `counts` entries of a row are the text's own."""
    valid = np.arange(int(counts.max())) < counts[:, None]
    rows = np.full(valid.shape, _EMPTY, dtype=_U64)
    rows[valid] = (hashes << _BIN_TOP) | (hashes >> _BIN_SHIFT)
    rows.sort(axis=1)
    return rows, valid


def _distinct_counts(rows: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.count_nonzero((rows[:, 1:] != rows[:, :-1]) & valid[:, 1:], axis=1) + 1


def _bin_minimum_rows(rows: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """`_bin_minimums` of each text: the first entry of each bin in its sorted row."""
    bins = (rows >> _BIN_TOP).astype(np.intp)
    first = valid.copy()
    first[:, 1:] &= bins[:, 1:] != bins[:, :-1]
    row, col = np.nonzero(first)
    out = np.full((len(rows), NUM_HASHES), _EMPTY, dtype=_U64)
    out[row, bins[row, col]] = rows[row, col] & _VALUE_MASK
    return out


def _densify_rows(bins: np.ndarray) -> np.ndarray:
    """`_densify` of each row (every row has a full bin), in place."""
    empty_rows = np.flatnonzero((bins == _EMPTY).any(axis=1))
    if not len(empty_rows):
        return bins
    twice = np.tile(bins[empty_rows], 2)  # bin i + NUM_HASHES is bin i: the circle unrolled
    at = np.where(twice != _EMPTY, np.arange(2 * NUM_HASHES), 2 * NUM_HASHES)
    next_full = np.minimum.accumulate(at[:, ::-1], axis=1)[:, ::-1][:, :NUM_HASHES]
    step = (next_full - np.arange(NUM_HASHES)).astype(_U64)  # 0 for a full bin: left as it is
    bins[empty_rows] = np.take_along_axis(twice, next_full, axis=1) + step * _DENSIFY_STEP
    return bins


_PACKED = struct.Struct(f"<{NUM_HASHES}Q")


def signature_to_record(sig: Signature) -> dict:
    """JSON-ready form of a signature (it travels between the enrich and story agents, and is
    stored in the story table). The values go as one hex string: as a list of 64 big ints
    they cost ~1.7x more to write and read as JSON."""
    return {"values": _PACKED.pack(*sig.values).hex() if sig.values else "", "min_hash": sig.min_hash,
            "exact": sig.exact, "size": sig.size}


def _record_values(values) -> tuple[int, ...]:
    """A record's values: hex of NUM_HASHES little-endian uint64 (or "" when none), or, as
    records written before, a list of ints."""
    if isinstance(values, str):
        if not values:
            return ()
        data = bytes.fromhex(values)
        if len(data) != _PACKED.size:
            raise ValueError(f"signature values must be {_PACKED.size} bytes of hex")
        return _PACKED.unpack(data)
    if not isinstance(values, list) or len(values) not in (0, NUM_HASHES) or not all(type(v) is int for v in values):
        raise ValueError(f"signature values must be a list of {NUM_HASHES} ints or empty")
    return tuple(values)


def signature_from_record(record: dict) -> Signature:
    """Inverse of `signature_to_record`; ValueError on a malformed record."""
    if not isinstance(record, dict):
        raise ValueError("signature record is not an object")
    values = _record_values(record.get("values") or [])
    min_hash, exact, size = record.get("min_hash", 0), record.get("exact", ""), record.get("size", 0)
    if type(min_hash) is not int or not isinstance(exact, str) or type(size) is not int:
        raise ValueError("signature min_hash/size must be ints and exact a string")
    if not values and not exact:
        raise ValueError("signature has neither values nor an exact hash")
    if not values and (len(exact) > 64 or any(c not in "0123456789abcdef" for c in exact)):
        raise ValueError("signature exact hash must be lowercase hex")
    return Signature(values, min_hash, exact, size)


class StoryJournal:
    """Where a StoryIndex reports its changes (a no-op here; the story agent writes tables)."""

    def story_saved(self, story_id: str, record: dict) -> None:
        pass

    def story_dropped(self, story_id: str) -> None:
        pass

    def article_saved(self, article_id: str, story_id: str) -> None:
        pass

    def article_dropped(self, article_id: str) -> None:
        pass


MAX_SOURCES_PERSISTED = 200   # beyond this a restored story may count a source it had seen again
# A story's record is written again when it changes, but a later last_seen alone only once
# it is this share of max_age_s newer than the one stored: most articles that join a story
# would otherwise rewrite its whole record. A restored story may so expire (and fall in
# the LRU order) up to max_age_s / 64 early: ~1 hour of the default 3 days.
LAST_SEEN_PERSIST_SHARE = 1 / 64


@dataclass(frozen=True)
class Assignment:
    story_id: str
    first: bool
    sources: int


def _similarities(sig: Signature, stories: list["_Story"]) -> list[float | None]:
    """sig.similarity(story.signature) of each story (None: left to same_story), all the
    candidates' min-hashes compared in one call: streams of wire copies or of shared
    paragraphs give an article dozens of candidates, and one at a time they cost ~4 us each."""
    if len(stories) < _MIN_BATCHED_CANDIDATES or sig.packed is None:
        return [None] * len(stories)
    packed = [story.signature.packed for story in stories]
    shared = iter(_shared_counts(sig.packed, [p for p in packed if p is not None]))
    return [next(shared) / NUM_HASHES if p is not None else None for p in packed]


def _shared_counts_python(packed: bytes, candidates: list[bytes]) -> list[int]:
    """How many 8-byte words each candidate shares with `packed` (`_shared_counts` is this in C when built)."""
    words = memoryview(packed).cast("Q")
    return [sum(map(operator.eq, words, memoryview(candidate).cast("Q"))) for candidate in candidates]


shared_counts_c = c_function("shared_counts")
_shared_counts = shared_counts_c or _shared_counts_python


_MIN_BATCHED_CANDIDATES = 4


@dataclass
class _Story:
    story_id: str
    signature: Signature
    first_article: str
    band_keys: list[int]
    sources: set[str] = field(default_factory=set)
    source_count: int = 0
    last_seen: float = 0.0
    first_seen: float = 0.0
    saved_last_seen: float = 0.0   # last_seen as the journal has it

    def record(self) -> dict:
        return {"story_id": self.story_id, "signature": signature_to_record(self.signature),
                "first_article": self.first_article, "sources": sorted(self.sources)[:MAX_SOURCES_PERSISTED],
                "source_count": self.source_count, "last_seen": self.last_seen, "first_seen": self.first_seen}

    @classmethod
    def from_record(cls, record: dict) -> "_Story":
        sig = signature_from_record(record["signature"])
        sources = record.get("sources") or []
        last_seen = float(record.get("last_seen", 0.0))
        return cls(str(record["story_id"]), sig, str(record["first_article"]), sig.band_keys(),
                   set(map(str, sources[:MAX_SOURCES_PERSISTED])), int(record.get("source_count", len(sources))),
                   last_seen, float(record.get("first_seen", last_seen)), last_seen)


class StoryIndex:
    """Bounded in-memory index of recent stories (LRU and age bound).

    Memory: about 6 KB per story (its signature and 32 band entries), so the
    default 30,000 stories take ~190 MB; article ids are remembered for 4x as
    many articles (for re-deliveries).

    `bands` may be any mutable mapping (int band key -> story id), e.g. a
    changelogged table, so that the index can be rebuilt after a restart.
    """

    def __init__(self, max_stories: int = 30_000, max_age_s: float = 3 * 86400,
                 threshold: float = DEFAULT_THRESHOLD, bands: MutableMapping[int, str] | None = None,
                 clock=time.time, journal: StoryJournal | None = None):
        self.journal = journal if journal is not None else StoryJournal()
        self.max_stories = max_stories
        self.max_articles = max_stories * 4
        self.max_age_s = max_age_s
        self.threshold = threshold
        self.clock = clock
        self.bands: MutableMapping[int, str] = bands if bands is not None else {}
        self.stories: OrderedDict[str, _Story] = OrderedDict()
        self.articles: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self.stories)

    def assign(self, article, analysis: Analysis | None = None) -> Assignment:
        """Story of an article (wirewatch.schema.Article)."""
        if article.id in self.articles:
            return self._update(article.id)
        if analysis is None:
            analysis = Analysis.of(article.title, article.text or article.summary)
        source = article.source.domain or article.source.feed_url
        return self.assign_signature(article.id, source, signature(analysis))

    def assign_signature(self, article_id: str, source: str, sig: Signature) -> Assignment:
        now = self.clock()
        if article_id in self.articles:
            return self._update(article_id)
        self._expire(now)
        keys = sig.band_keys()
        story = self._best_match(sig, keys)
        first = story is None
        if story is None:
            story = self._new_story(sig, keys, article_id)
        new_source = source not in story.sources
        if new_source:
            story.source_count += 1
            if len(story.sources) < MAX_SOURCES_TRACKED:
                story.sources.add(source)
        story.last_seen = now
        self.stories.move_to_end(story.story_id)
        if first or new_source or now - story.saved_last_seen > self.max_age_s * LAST_SEEN_PERSIST_SHARE:
            story.saved_last_seen = now
            self.journal.story_saved(story.story_id, story.record())
        self._remember_article(article_id, story.story_id, journaled=first)
        return Assignment(story.story_id, first, max(1, story.source_count))

    def restore(self, story_records, article_entries) -> int:
        """Rebuild from stored records (after a restart); returns the stories kept.

        `story_records`: dicts of `_Story.record()`; `article_entries`:
        (article id, story id) pairs (a story's first article is in its record
        only). Bands go to stories in the order they were first seen, as they
        did when built live; malformed records are skipped (logged by the
        caller through the count).
        """
        self.stories.clear()
        self.articles.clear()
        self.bands.clear()
        stories = []
        for record in story_records:
            try:
                stories.append(_Story.from_record(record))
            except (KeyError, TypeError, ValueError):
                continue
        for story in sorted(stories, key=lambda st: st.first_seen):
            for key in story.band_keys:
                self.bands.setdefault(key, story.story_id)
            self.articles[story.first_article] = story.story_id
        for story in sorted(stories, key=lambda st: st.last_seen):
            self.stories[story.story_id] = story
        for article_id, story_id in article_entries:
            self.articles[str(article_id)] = str(story_id)
        self._trim()
        return len(self.stories)

    def _trim(self) -> None:
        self._expire(self.clock())
        while len(self.stories) > self.max_stories:
            self._evict(next(iter(self.stories)))
        while len(self.articles) > self.max_articles:
            dropped, _ = self.articles.popitem(last=False)
            self.journal.article_dropped(dropped)

    # ------------------------------------------------------------ internals

    def _update(self, article_id: str) -> Assignment:
        story_id = self.articles[article_id]
        self.articles.move_to_end(article_id)
        story = self.stories.get(story_id)
        if story is None:  # story expired, article still remembered
            return Assignment(story_id, True, 1)
        return Assignment(story_id, story.first_article == article_id, max(1, story.source_count))

    def _best_match(self, sig: Signature, keys: list[int]) -> _Story | None:
        best, best_sim = None, 0.0
        candidates = set(filter(None, map(self.bands.get, keys)))   # story ids are never empty
        stories = [story for story in map(self.stories.get, candidates) if story is not None]
        # Below both the threshold and the containment floor, same_story says 0: most candidates
        # (one shared band of paragraphs) stop here without two method calls.
        floor = min(self.threshold, MIN_JACCARD_FOR_CONTAINMENT)
        for story, jaccard in zip(stories, _similarities(sig, stories)):
            if jaccard is not None and jaccard < floor:
                continue
            sim = sig.same_story(story.signature, self.threshold, jaccard)
            if sim > best_sim:
                best, best_sim = story, sim
        return best

    def _new_story(self, sig: Signature, keys: list[int], article_id: str) -> _Story:
        story_id = sig.story_id()
        if story_id in self.stories:  # same seed, not similar enough: keep ids distinct
            story_id = f"{story_id}-{zlib.crc32(article_id.encode()):08x}"
        story = _Story(story_id, sig, article_id, keys, first_seen=self.clock())
        self.stories[story_id] = story
        for key in keys:
            self.bands.setdefault(key, story_id)
        while len(self.stories) > self.max_stories:
            self._evict(next(iter(self.stories)))
        return story

    def _remember_article(self, article_id: str, story_id: str, journaled: bool) -> None:
        """`journaled`: the story's record already holds the article (its first)."""
        self.articles[article_id] = story_id
        if not journaled:
            self.journal.article_saved(article_id, story_id)
        while len(self.articles) > self.max_articles:
            dropped, _ = self.articles.popitem(last=False)
            self.journal.article_dropped(dropped)

    def _expire(self, now: float) -> None:
        while self.stories:
            oldest = next(iter(self.stories.values()))
            if now - oldest.last_seen <= self.max_age_s:
                break
            self._evict(oldest.story_id)

    def _evict(self, story_id: str) -> None:
        story = self.stories.pop(story_id, None)
        if story is None:
            return
        self.journal.story_dropped(story_id)
        for key in story.band_keys:
            if self.bands.get(key) == story_id:
                del self.bands[key]
