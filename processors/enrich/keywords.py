"""Key phrases of an article, scored against corpus and background statistics.

Candidates are runs of words between stopwords and punctuation (the RAKE
idea), cut where capitalisation changes so "dictator Nicolás Maduro" yields
"Nicolás Maduro". A phrase scores by how often it occurs (title counts
extra) times how specific its words are, where specificity blends:

- a background frequency list shipped as data (wordfreq's Zipf values):
  common words ("government") score low, rare ones ("Tintori") high;
- the stream's own document frequencies (`DocumentFrequency`), which the
  caller updates article by article, so words that flood the news this week
  lose weight. Until `MIN_DOCS_FOR_CORPUS` articles were seen, only the
  background counts. A word's blend is computed once and reused until the
  corpus has grown by `SPEC_REFRESH_SHARE` (at least `SPEC_REFRESH_DOCS`, at
  most `SPEC_REFRESH_MAX_DOCS` articles, so a word that floods the news loses
  weight within that many articles): when a word's count grows with the
  corpus its specificity barely moves (10% more of both changes it by
  ~0.005). A refresh recomputes the words in use at once (numpy).

Multi-word phrases get a bonus; a name's partial mentions ("López") count
for its longest form ("Leopoldo López").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, MutableMapping
from itertools import compress, repeat
from operator import contains, gt
from typing import Callable, Iterable

import numpy as np
from pydantic import TypeAdapter

from processors.enrich.data import read_background, stopwords
from processors.enrich.native import c_function
from processors.enrich.text import BREAK, Analysis, fold_tokens, fold_word, words
from wirewatch.schema import Keyword

_KEYWORDS = TypeAdapter(list[Keyword])  # validates a list in one call, ~3x faster than Keyword() each

TOP_N = 10
MAX_PHRASE_WORDS = 4
MAX_LOWERCASE_PHRASE_WORDS = 3
MIN_DOCS_FOR_CORPUS = 50
SPEC_REFRESH_SHARE = 0.1
SPEC_REFRESH_DOCS = 200
SPEC_REFRESH_MAX_DOCS = 5_000
ZIPF_CEILING = 7.5            # "the" is ~7.7: anything this common has no specificity
UNKNOWN_WORD_SPECIFICITY = 0.9
MULTIWORD_BONUS = 0.35        # per extra word
NAME_BONUS = 1.15
TITLE_EXTRA_COUNT = 2
BACKGROUND_CACHE_SIZE = 200_000
MAX_CARRIED_WORDS = 60_000    # a refresh of the blended specificities recomputes at most this many at once
CODE_CACHE_SIZE = 200_000     # token codes per (language, mode); names' keys
MAX_CODE_MAPS = 64
COMMON_ZIPF = 4.5             # a sentence-initial capital on a word this common is not a name
MAX_NAME_SHARE = 0.6          # names may take at most this share of the slots
_DOCS_KEY = "\x00docs"


class DocumentFrequency:
    """How many articles contained each word, over the stream so far; bounded.

    `store` can be any mutable mapping of str -> int (a dict by default; the
    lead can pass a Faust table so every worker shares and persists it).
    When it holds more than `max_terms` words the rarest are dropped.
    """

    def __init__(self, store: MutableMapping[str, int] | None = None, max_terms: int = 300_000):
        self.store: MutableMapping[str, int] = store if store is not None else Counter()
        self.max_terms = max_terms
        self.generation = 0   # changes when `reset` replaced the counts: specificities built on them are stale

    @property
    def n_docs(self) -> int:
        return int(self.store.get(_DOCS_KEY, 0))

    def df(self, word: str) -> int:
        return int(self.store.get(word, 0))

    def observe(self, words: Iterable[str]) -> None:
        """Count one article's distinct words."""
        store = self.store
        distinct = words if isinstance(words, (set, frozenset)) else set(words)  # Analysis.vocabulary already is
        if isinstance(store, Counter):
            store.update(distinct)  # counted in C
        else:
            for word in distinct:
                store[word] = store.get(word, 0) + 1
        store[_DOCS_KEY] = self.n_docs + 1
        if len(store) > self.max_terms:
            self.prune()

    def reset(self, n_docs: int, word_counts: Iterable[Mapping[str, int]]) -> None:
        """Replace every count (by those restored from the table of processors/corpus.py)."""
        store = self.store
        store.clear()
        for counts in word_counts:
            if isinstance(store, Counter):
                store.update(counts)
            else:
                for word, n in counts.items():
                    store[word] = store.get(word, 0) + n
        store[_DOCS_KEY] = n_docs
        self.generation += 1
        if len(store) > self.max_terms:
            self.prune()

    def prune(self) -> None:
        """Drop the rarest words until the store is back to 3/4 of its bound."""
        target = self.max_terms * 3 // 4
        threshold = 1
        while len(self.store) > target:
            rare = [w for w, n in list(self.store.items()) if n <= threshold and w != _DOCS_KEY]
            for word in rare:
                del self.store[word]
            threshold *= 2

    def specificity(self, word: str) -> float | None:
        """0 (in every article) .. 1 (in none); None until enough articles were seen."""
        n = self.n_docs
        if n < MIN_DOCS_FOR_CORPUS:
            return None
        return math.log((n + 1) / (self.df(word) + 1)) / math.log(n + 1)


# How runs are found. Each token is looked up, through a bounded cache, to a
# "code": its folded word followed by _SEP when it can be part of a phrase, or
# _CUT when it cannot. Joining the codes and splitting at whitespace then gives
# every run as its candidate key, in order, with C loops only (str.join,
# str.replace, str.split, map): Python code runs per distinct candidate, not
# per word or per run. Codes only hold alphabetic words, so the characters
# below never clash with a word.
_CUT = " "        # str.split() drops the empty runs between cuts
_BREAK = " \n"    # the code of a BREAK token: a cut that starts a sentence
_SEP = "\x04"     # ends each word of a code; joins the words of a key: "political\x04prisoners"
_CAP_SEP = "\x05"  # ends each word of a capitalised code, when capitalised runs are wanted
_MAYBE = "\x06"   # before a capitalised common word: lowercase where it starts a sentence
# A word whose key is not how it is written (folding changed it, or it is
# capitalised) is coded _ALTERED + written + _FOLD + folded: the few runs that
# hold one give both their key and their surface without a second pass.
_ALTERED = "\x07"
_FOLD = "\x08"
_KEY_RE = re.compile(r"\x07[^\x08]*\x08")
_WRITTEN_RE = re.compile(r"\x07|\x08[^\x04]*")
# "the Prime Minister": a capitalised common word that does not start a sentence is a capital.
_MAYBE_CAPITAL_RE = re.compile(r"\x06([^\s\x04]*)\x04")
# Runs of one case, when capitalised runs are wanted too: a change of case cuts a run.
_CASE_RUN_RE = re.compile(r"(?:[^\s\x04\x05]+\x04)+|(?:[^\s\x04\x05]+\x05)+")


class KeywordExtractor:
    """Built once per worker; `extract(analysis, language, names)` reads only its arguments
    (and the document frequencies, which the caller updates)."""

    def __init__(self, df: DocumentFrequency | None = None, top_n: int = TOP_N):
        self.df = df if df is not None else DocumentFrequency()
        self.top_n = top_n
        self._english_stop = stopwords("en")
        self._english_background = read_background("en")
        self._common_words: dict[str, frozenset[str]] = {}
        self._bg_cache: dict[int, _BackgroundSpecificity] = {}
        self._blend_cache: dict[int, _BlendedSpecificity] = {}
        self._name_keys: dict[str, str | None] = {}
        self._stop_sets: dict[str, frozenset[str]] = {}
        self._codes: dict[tuple, _TokenCodes] = {}

    def _stop(self, language: str | None) -> frozenset[str]:
        """The language's stopwords plus English ones (quotes and names mix them), one object per language."""
        if not language or language == "en":
            return self._english_stop
        merged = self._stop_sets.get(language)
        if merged is None:
            own = stopwords(language)
            merged = self._stop_sets[language] = (own | self._english_stop) if own else self._english_stop
        return merged

    def _common(self, language: str | None) -> frozenset[str]:
        key = language if language and read_background(language) else "en"
        if key not in self._common_words:
            self._common_words[key] = frozenset(w for w, z in self._background(key).items() if z >= COMMON_ZIPF)
        return self._common_words[key]

    def _background(self, language: str | None) -> dict[str, float]:
        if language and language != "en":
            own = read_background(language)
            if own:
                return own
        return self._english_background

    def _token_codes(self, language: str | None, with_capitals: bool) -> _TokenCodes:
        stop, common = self._stop(language), self._common(language)
        key = (stop, common, with_capitals)  # frozensets cache their hash
        codes = self._codes.get(key)
        if codes is None:
            if len(self._codes) >= MAX_CODE_MAPS:
                self._codes.clear()
            codes = self._codes[key] = _TokenCodes(stop, common, with_capitals)
        return codes

    def _background_specificities(self, background: dict[str, float]) -> _BackgroundSpecificity:
        cache = self._bg_cache.get(id(background))
        if cache is None or cache.background is not background:
            cache = self._bg_cache[id(background)] = _BackgroundSpecificity(background, self._english_background)
        return cache

    def background_specificity(self, word: str, background: dict[str, float]) -> float:
        """0 (as common as "the") .. 1 (not in the list), cached per background list."""
        return self._background_specificities(background)[word]

    def word_specificity(self, word: str, background: dict[str, float], corpus: tuple[int, float] | None = None) -> float:
        """Background specificity, blended with the stream's counts once there are enough."""
        bg = self.background_specificity(word, background)
        if corpus is None:
            return bg
        n, log_n = corpus
        return 0.5 * bg + 0.5 * math.log((n + 1) / (self.df.df(word) + 1)) / log_n

    def extract(self, analysis: Analysis, language: str | None = None,
                names: Iterable[tuple[str, int]] | None = None) -> list[Keyword]:
        """Top key phrases. `names`: (name, mentions) from the entity step, which
        replace this step's own guess at capitalised names when given."""
        with_capitals = names is None
        codes = self._token_codes(language, with_capitals)
        # A title phrase counts extra.
        counts, written, first_capital = _counts(analysis.body_surfaces, analysis.title_surfaces, codes,
                                                 with_capitals, TITLE_EXTRA_COUNT + 1)
        name_surfaces: dict[str, str] = {}
        if with_capitals:
            capitalised = first_capital
            _fold_partial_names(counts, capitalised)
            counts = {key: n for key, n in counts.items() if n > 0}  # without the partial names folded away
        else:
            capitalised = set()
            for name, count in names:
                key = self._name_key(name)
                if key is None or count <= 0:
                    continue
                seen = counts.get(key)
                if seen is None:  # else it keeps the surface it was first seen with
                    name_surfaces[key] = name
                    counts[key] = count
                else:
                    counts[key] = seen + count
                capitalised.add(key)

        def surface(key: str) -> str:
            name = name_surfaces.get(key)
            return name if name is not None else written.get(key, key).replace(_SEP, " ")

        return self._rank(counts, capitalised, self._background(language), surface)

    def _name_key(self, name: str) -> str | None:
        """Key of an entity name, cached: names repeat from article to article."""
        if name in self._name_keys:
            return self._name_keys[name]
        key = _SEP.join(fold_tokens(words(name))) or None
        if len(self._name_keys) >= CODE_CACHE_SIZE:
            self._name_keys.clear()
        self._name_keys[name] = key
        return key

    def _specificity_source(self, background: dict[str, float]) -> dict[str, float]:
        """folded word -> specificity as scores use it now: the background's alone, or its blend with
        the corpus once there are enough articles (one object per state of the corpus)."""
        bg = self._background_specificities(background)
        n_docs = self.df.n_docs
        return bg if n_docs < MIN_DOCS_FOR_CORPUS else self._blended(bg, n_docs)

    def _blended(self, bg: "_BackgroundSpecificity", n_docs: int) -> "_BlendedSpecificity":
        cache = self._blend_cache.get(id(bg))
        store = self.df.store
        generation = self.df.generation
        same_source = cache is not None and cache.bg is bg and cache.store is store and cache.generation == generation
        if same_source and cache.n_docs <= n_docs < cache.n_docs + _refresh_interval(cache.n_docs):
            return cache
        if same_source and n_docs > cache.n_docs and len(cache) <= MAX_CARRIED_WORDS:
            cache.refresh(n_docs)
        else:
            if len(self._blend_cache) > MAX_CODE_MAPS:
                self._blend_cache.clear()
            cache = self._blend_cache[id(bg)] = _BlendedSpecificity(bg, store, n_docs, generation)
        return cache

    def _rank(self, counts: dict[str, int], capitalised: set[str], background: dict[str, float],
              surface: Callable[[str], str]) -> list[Keyword]:
        keys = list(counts)
        if not keys:
            return []
        scored = _scores(keys, list(counts.values()), capitalised, self._specificity_source(background))
        order = sorted(range(len(keys)), key=scored.__getitem__, reverse=True)  # stable: ties keep their order
        # Lazily: the quota reads the best ~top_n of ~150 candidates.
        top = _with_name_quota(((scored[i], keys[i], keys[i] in capitalised) for i in order), self.top_n)
        best = top[0][0] or 1.0
        return _KEYWORDS.validate_python([{"phrase": surface(key), "score": round(score / best, 3)}
                                          for score, key, _ in top])


def scores_python(keys: list[str], counts: list[int], capitalised: set[str], spec: dict[str, float]) -> list[float]:
    """Score of each key: (1 + log(count)) * its words' mean specificity * the multi-word bonus
    (* NAME_BONUS for names), for all the keys at once: a Python loop over ~100 keys per
    article, each split and summed, was a third of this step. `_scores` is the same in C
    (_ctext.c, the same floats) when it was built."""
    n = len(keys)
    key_words = _SEP.join(keys).split(_SEP)
    lengths = np.fromiter(map(str.count, keys, repeat(_SEP)), np.int64, n) + 1
    starts = np.zeros(n, np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    mean = np.add.reduceat(np.fromiter(map(spec.__getitem__, key_words), np.float64, len(key_words)), starts) / lengths
    count = np.fromiter(counts, np.float64, n)
    caps = np.fromiter(map(capitalised.__contains__, keys), bool, n) if capitalised else np.zeros(n, bool)
    # A phrase seen once is often just adjacent words: only repeated or
    # capitalised phrases earn the full multi-word bonus.
    bonus = np.where((count > 1) | caps, MULTIWORD_BONUS, MULTIWORD_BONUS / 3)
    scores = (1 + np.log(count)) * mean * (1 + bonus * (lengths - 1))
    scores[caps] *= NAME_BONUS
    return scores.tolist()


_keyword_scores = c_function("keyword_scores")
if _keyword_scores is not None:
    # log(count) as numpy computes it, for the C scores (a count beyond it uses the C library's log).
    _LOG_TABLE = np.log(np.arange(1, 1 << 16, dtype=np.float64)).tolist()

    def scores_c(keys: list[str], counts: list[int], capitalised: set[str], spec: dict[str, float]) -> list[float]:
        return _keyword_scores(keys, counts, capitalised, spec, _LOG_TABLE)
else:
    scores_c = None
_scores = scores_c or scores_python


def _refresh_interval(n_docs: int) -> float:
    """Articles after which specificities built at `n_docs` are rebuilt (see the module)."""
    return min(SPEC_REFRESH_MAX_DOCS, max(SPEC_REFRESH_DOCS, n_docs * SPEC_REFRESH_SHARE))


class _BackgroundSpecificity(dict):
    """folded word -> 0 (as common as "the") .. 1 (not in the list), for one
    background list; fills itself, so lookups through `map` stay in C. Bounded."""

    def __init__(self, background: dict[str, float], fallback: dict[str, float]):
        super().__init__()
        self.background, self.fallback = background, fallback

    def __missing__(self, word: str) -> float:
        if len(self) > BACKGROUND_CACHE_SIZE:
            self.clear()
        zipf = self.background.get(word)
        if zipf is None:
            zipf = self.fallback.get(word)
        spec = self[word] = UNKNOWN_WORD_SPECIFICITY if zipf is None else max(0.0, (ZIPF_CEILING - zipf) / ZIPF_CEILING)
        return spec


class _BlendedSpecificity(dict):
    """folded word -> half background, half corpus specificity, for one background
    list and one state of the corpus (`n_docs`); fills itself, so lookups through
    `map` stay in C. Bounded.

    `refresh(n_docs)` brings it to a grown corpus (see the module): every word it
    holds is computed again at once in numpy, in place. They are the words the
    next articles look up, and one by one, as misses, they cost ~20x more. It
    keeps its words in order of entry with their background specificities (which
    do not change), so that a refresh only reads the document frequencies.
    """

    def __init__(self, bg: _BackgroundSpecificity, store: MutableMapping[str, int], n_docs: int, generation: int = 0):
        super().__init__()
        self.bg, self.store, self.generation = bg, store, generation
        self.n_docs, self.log_n = n_docs, math.log(n_docs + 1)
        self.words: list[str] = []
        self.background = _NO_VALUES
        self.missed: list[str] = []   # words added by __missing__ since the last refresh
        self.missed_background: list[float] = []

    def refresh(self, n_docs: int) -> None:
        self.n_docs, self.log_n = n_docs, math.log(n_docs + 1)
        if self.missed:
            self.words += self.missed
            self.background = np.concatenate((self.background, np.array(self.missed_background, np.float64)))
            self.missed, self.missed_background = [], []
        if self.words:
            df = np.fromiter(map(self.store.get, self.words, repeat(0)), np.float64, len(self.words))
            spec = 0.5 * self.background + 0.5 * np.log((n_docs + 1) / (df + 1)) / self.log_n
            self.update(zip(self.words, spec.tolist()))

    def __missing__(self, word: str) -> float:
        if len(self) > BACKGROUND_CACHE_SIZE:
            self.clear()
            self.words, self.background, self.missed, self.missed_background = [], _NO_VALUES, [], []
        background = self.bg[word]
        spec = self[word] = 0.5 * background + \
            0.5 * math.log((self.n_docs + 1) / (self.store.get(word, 0) + 1)) / self.log_n
        self.missed.append(word)
        self.missed_background.append(background)
        return spec


_NO_VALUES = np.zeros(0, np.float64)


class _TokenCodes(dict):
    """surface word -> code, for one stoplist and common-word list; fills itself. Bounded.

    A lowercase content word is coded as its folded word + _SEP, a capitalised
    one as _ALTERED + word + _FOLD + folded + _CAP_SEP when `with_capitals`
    (else _CUT), a capitalised common word with _MAYBE in front instead and
    _SEP ("Political prisoners are..." starts a lowercase phrase, "the Prime
    Minister" is a name); anything else is _CUT.
    """

    def __init__(self, stop: frozenset[str], common: frozenset[str], with_capitals: bool):
        super().__init__({BREAK: _BREAK})
        self.stop, self.common, self.with_capitals = stop, common, with_capitals

    def __missing__(self, surface: str) -> str:
        if len(self) > CODE_CACHE_SIZE:
            self.clear()
            self[BREAK] = _BREAK
        code = self[surface] = self._code(surface)
        return code

    def _code(self, surface: str) -> str:
        folded = fold_word(surface)  # as Analysis folds it
        if not folded or folded in self.stop or len(folded) < 2 or not folded.isalpha():
            return _CUT  # (a word of combining marks only folds to nothing: a cut, where the tokens had a break)
        if surface.islower():
            return folded + _SEP if folded == surface else _ALTERED + surface + _FOLD + folded + _SEP
        if folded in self.common:
            return _MAYBE + surface + _FOLD + folded + _SEP
        return _ALTERED + surface + _FOLD + folded + _CAP_SEP if self.with_capitals else _CUT


def runs_python(surfaces: list[str], codes: _TokenCodes,
                with_capitals: bool) -> tuple[list[str], list[bool] | None, dict[int, str]]:
    """The runs of one stream in order (long ones cut into pieces) as keys, whether
    each is capitalised, and how the runs whose key is not their surface were written
    (counts_python's reference of the run finding)."""
    joined = _BREAK + "".join(map(codes.__getitem__, surfaces)) + _CUT  # a stream starts like a sentence
    if _MAYBE in joined:
        joined = joined.replace(_BREAK + _MAYBE, _BREAK + _ALTERED)
        joined = _MAYBE_CAPITAL_RE.sub(_ALTERED + "\\1" + _CAP_SEP if with_capitals else _CUT, joined)
    if not with_capitals:
        # Without the _SEP that ends its last word, a run is its key.
        runs, capitalised = joined.replace(_SEP + _CUT, _CUT).split(), None
    else:
        found = _CASE_RUN_RE.findall(joined)
        runs = [run[:-1].replace(_CAP_SEP, _SEP) for run in found]
        capitalised = [run.endswith(_CAP_SEP) for run in found]
    _cut_long_runs(runs, capitalised)
    written: dict[int, str] = {}
    if _ALTERED in joined:  # a few runs
        for i in compress(range(len(runs)), map(contains, runs, repeat(_ALTERED))):
            written[i] = _WRITTEN_RE.sub("", runs[i])
            runs[i] = _KEY_RE.sub("", runs[i])
    return runs, capitalised, written


def counts_python(body: list[str], title: list[str], codes: _TokenCodes, with_capitals: bool,
                  title_weight: int) -> tuple[dict[str, int], dict[str, str], set[str] | None]:
    """The candidate keys of an article counted (a title run counts `title_weight` times), in
    order of first occurrence, body before title; how the first occurrence of each key was
    written where that is not its key; with capitals, the keys first seen capitalised.
    `_counts` is the same in C (_ctext.c: no joined string, no lists of runs) when it was built."""
    counts: dict[str, int] = {}
    written: dict[str, str] = {}
    capitalised: set[str] | None = set() if with_capitals else None
    for surfaces, weight in ((body, 1), (title, title_weight)):
        runs, capitals, written_at = runs_python(surfaces, codes, with_capitals)
        for i, key in enumerate(runs):
            seen = counts.get(key)
            if seen is not None:
                counts[key] = seen + weight
                continue
            counts[key] = weight
            if i in written_at:
                written[key] = written_at[i]
            if capitals is not None and capitals[i]:
                capitalised.add(key)
    return counts, written, capitalised


counts_c = c_function("keyword_counts")
_counts = counts_c or counts_python


def _cut_long_runs(runs: list[str], capitalised: list[bool] | None) -> None:
    """Replace each run over its length limit by its 3-word then 2-word pieces, in place."""
    limit = MAX_LOWERCASE_PHRASE_WORDS - 1  # in separators
    long_runs = list(compress(range(len(runs)), map(gt, map(str.count, runs, repeat(_SEP)), repeat(limit))))
    for i in reversed(long_runs):  # from the end, so that earlier indices stay valid
        cap = capitalised is not None and capitalised[i]
        run_words = runs[i].split(_SEP)
        if cap and len(run_words) <= MAX_PHRASE_WORDS:
            continue
        pieces = [_SEP.join(run_words[a:a + k]) for k in (3, 2) for a in range(len(run_words) - k + 1)]
        runs[i:i + 1] = pieces
        if capitalised is not None:
            capitalised[i:i + 1] = [cap] * len(pieces)


def _with_name_quota(scored: Iterable[tuple[float, str, bool]], top_n: int) -> list[tuple[float, str, bool]]:
    """Best phrases (`scored` is best first), names taking at most MAX_NAME_SHARE of the slots when other phrases exist."""
    max_names = max(1, int(top_n * MAX_NAME_SHARE))
    top, skipped, names = [], [], 0
    for item in scored:
        if item[2]:
            if names >= max_names:
                skipped.append(item)
                continue
            names += 1
        top.append(item)
        if len(top) == top_n:
            break
    if len(top) < top_n and skipped:  # not enough other phrases: fill with the remaining names
        top = sorted(top + skipped[: top_n - len(top)], key=lambda item: -item[0])
    return top


def _fold_partial_names(counts: dict[str, int], capitalised: set[str]) -> None:
    """Move the count of "López" / "Flores Ortiz" to the most frequent longer name containing it."""
    names = [key for key in counts if key in capitalised and _SEP in key]
    if not names:
        return
    by_word: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for key in names:
        key_words = tuple(key.split(_SEP))
        for w in set(key_words):
            by_word.setdefault(w, []).append((key_words, key))
    for key in list(counts):
        if key not in capitalised or counts[key] <= 0:
            continue
        key_words = tuple(key.split(_SEP))
        longer = [k for ws, k in by_word.get(key_words[0], ()) if len(ws) > len(key_words) and _contains(ws, key_words)]
        if longer:
            target = max(longer, key=counts.__getitem__)
            counts[target] += counts[key]
            counts[key] = 0


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))
