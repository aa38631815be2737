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
  background counts.

Multi-word phrases get a bonus; a name's partial mentions ("López") count
for its longest form ("Leopoldo López").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import MutableMapping
from typing import Iterable

from processors.enrich.data import read_background, stopwords
from processors.enrich.text import Analysis, fold_tokens, words
from wirewatch.schema import Keyword

TOP_N = 10
MAX_PHRASE_WORDS = 4
MAX_LOWERCASE_PHRASE_WORDS = 3
MIN_DOCS_FOR_CORPUS = 50
ZIPF_CEILING = 7.5            # "the" is ~7.7: anything this common has no specificity
UNKNOWN_WORD_SPECIFICITY = 0.9
MULTIWORD_BONUS = 0.35        # per extra word
NAME_BONUS = 1.15
TITLE_EXTRA_COUNT = 2
BACKGROUND_CACHE_SIZE = 200_000
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

    @property
    def n_docs(self) -> int:
        return int(self.store.get(_DOCS_KEY, 0))

    def df(self, word: str) -> int:
        return int(self.store.get(word, 0))

    def observe(self, words: Iterable[str]) -> None:
        """Count one article's distinct words."""
        store = self.store
        if isinstance(store, Counter):
            store.update(set(words))  # counted in C
        else:
            for word in set(words):
                store[word] = store.get(word, 0) + 1
        store[_DOCS_KEY] = self.n_docs + 1
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


# A candidate is a list [count, surface as first written, capitalised], keyed by
# its folded word (one word) or tuple of folded words: cheaper than objects
# in the loop that sees every word.
COUNT, SURFACE, CAPITALISED = 0, 1, 2


def key_words(key: str | tuple[str, ...]) -> tuple[str, ...]:
    return (key,) if isinstance(key, str) else key


class KeywordExtractor:
    """Built once per worker; `extract(analysis, language, names)` reads only its arguments
    (and the document frequencies, which the caller updates)."""

    def __init__(self, df: DocumentFrequency | None = None, top_n: int = TOP_N):
        self.df = df if df is not None else DocumentFrequency()
        self.top_n = top_n
        self._english_stop = stopwords("en")
        self._english_background = read_background("en")
        self._common_words: dict[str, frozenset[str]] = {}
        self._bg_cache: dict[int, dict[str, float]] = {}
        self._name_keys: dict[str, str | tuple[str, ...] | None] = {}
        self._stop_sets: dict[str, frozenset[str]] = {}

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

    def background_specificity(self, word: str, background: dict[str, float]) -> float:
        """0 (as common as "the") .. 1 (not in the list), cached per background list."""
        cache = self._bg_cache.get(id(background))
        if cache is None or len(cache) > BACKGROUND_CACHE_SIZE:
            cache = self._bg_cache[id(background)] = {}
        spec = cache.get(word)
        if spec is None:
            zipf = background.get(word)
            if zipf is None:
                zipf = self._english_background.get(word)
            spec = UNKNOWN_WORD_SPECIFICITY if zipf is None else max(0.0, (ZIPF_CEILING - zipf) / ZIPF_CEILING)
            cache[word] = spec
        return spec

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
        stop = self._stop(language)
        background = self._background(language)
        skip_capitalised = names is not None
        cands: dict = {}
        common = self._common(language)
        collect(cands, analysis.body_surfaces, analysis.body_tokens, stop, skip_capitalised, 1, common)
        collect(cands, analysis.title_surfaces, analysis.title_tokens, stop, skip_capitalised, TITLE_EXTRA_COUNT + 1, common)
        if names is None:
            _fold_partial_names(cands)
        else:
            for name, count in names:
                key = self._name_key(name)
                if key is None or count <= 0:
                    continue
                cand = cands.get(key)
                if cand is None:
                    cands[key] = [count, name, True]
                else:
                    cand[COUNT] += count
                    cand[CAPITALISED] = True
        return self._rank(cands, background)

    def _name_key(self, name: str) -> str | tuple[str, ...] | None:
        """Folded key of an entity name, cached: names repeat from article to article."""
        if name in self._name_keys:
            return self._name_keys[name]
        folded = fold_tokens(words(name))
        key: str | tuple[str, ...] | None = None if not folded else folded[0] if len(folded) == 1 else tuple(folded)
        if len(self._name_keys) >= BACKGROUND_CACHE_SIZE:
            self._name_keys.clear()
        self._name_keys[name] = key
        return key

    def _specificities(self, cands: dict, background: dict[str, float]) -> dict[str, float]:
        """Specificity of every word of the candidates, in one pass."""
        needed: set[str] = set()
        for key in cands:
            if isinstance(key, str):
                needed.add(key)
            else:
                needed.update(key)
        cache = self._bg_cache.get(id(background))
        if cache is None or len(cache) > BACKGROUND_CACHE_SIZE:
            cache = self._bg_cache[id(background)] = {}
        bg = {w: cache[w] if w in cache else self.background_specificity(w, background) for w in needed}
        n_docs = self.df.n_docs
        if n_docs < MIN_DOCS_FOR_CORPUS:
            return bg
        store_get, log, log_n = self.df.store.get, math.log, math.log(n_docs + 1)
        return {w: 0.5 * b + 0.5 * log((n_docs + 1) / (store_get(w, 0) + 1)) / log_n for w, b in bg.items()}

    def _rank(self, cands: dict, background: dict[str, float]) -> list[Keyword]:
        spec = self._specificities(cands, background)
        scored = []
        log = math.log
        for key, (count, surface, cap) in cands.items():
            if count <= 0:
                continue
            if isinstance(key, str):
                score = (1 + log(count)) * spec[key]
            else:
                total = sum([spec[w] for w in key])
                # A phrase seen once is often just adjacent words: only repeated or
                # capitalised phrases earn the full multi-word bonus.
                bonus = MULTIWORD_BONUS if count > 1 or cap else MULTIWORD_BONUS / 3
                score = (1 + log(count)) * (total / len(key)) * (1 + bonus * (len(key) - 1))
            if cap:
                score *= NAME_BONUS
            scored.append((score, surface, cap))
        scored.sort(key=lambda item: -item[0])
        top = _with_name_quota(scored, self.top_n)
        if not top:
            return []
        best = top[0][0] or 1.0
        return [Keyword(phrase=surface, score=round(score / best, 3)) for score, surface, _ in top]


def _with_name_quota(scored: list[tuple[float, str, bool]], top_n: int) -> list[tuple[float, str, bool]]:
    """Best phrases, names taking at most MAX_NAME_SHARE of the slots when other phrases exist."""
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


_RUN_RE = re.compile(r"c+")
_KIND_CACHE_SIZE = 200_000


class _WordKinds(dict):
    """folded word -> " " (cannot be part of a phrase) or "c" (content word); fills itself."""

    def __init__(self, stop: frozenset[str]):
        super().__init__({"": " "})
        self.stop = stop

    def __missing__(self, word: str) -> str:
        if len(self) > _KIND_CACHE_SIZE:
            self.clear()
            self[""] = " "
        kind = self[word] = " " if (word in self.stop or len(word) < 2 or not word.isalpha()) else "c"
        return kind


_kinds_by_stoplist: dict[frozenset[str], _WordKinds] = {}


def _word_kinds(stop: frozenset[str]) -> _WordKinds:
    kinds = _kinds_by_stoplist.get(stop)  # a frozenset caches its hash
    if kinds is None:
        if len(_kinds_by_stoplist) > 64:
            _kinds_by_stoplist.clear()
        kinds = _kinds_by_stoplist[stop] = _WordKinds(stop)
    return kinds


def collect(cands: dict, surfaces: list[str], folded: list[str], stop: frozenset[str],
            skip_capitalised: bool, weight: int, common: frozenset[str] = frozenset()) -> None:
    """Add the runs of content words of one token stream to `cands`.

    A run is cut at stopwords, numbers, 1-letter words, punctuation breaks
    and where capitalisation changes. Per-word work is done by C loops (a
    cached word -> kind map through `map`, `str.islower` through `map`, a
    regex over the one-letter-per-word kind string); Python code runs per run.
    A common word capitalised because it starts a sentence ("Political
    prisoners are...") counts as lowercase.
    """
    kinds = "".join(map(_word_kinds(stop).__getitem__, folded))
    lower = list(map(str.islower, surfaces))
    for run in _RUN_RE.finditer(kinds):
        i, j = run.span()
        start = i
        cap = not lower[i] and not ((i == 0 or not folded[i - 1]) and folded[i] in common)
        for t in range(i + 1, j):
            if lower[t] == cap:  # capitalisation changes
                _add(cands, surfaces, folded, start, t, cap, skip_capitalised, weight)
                start, cap = t, not cap
        _add(cands, surfaces, folded, start, j, cap, skip_capitalised, weight)


def _add(cands: dict, surfaces: list[str], folded: list[str], i: int, j: int, cap: bool,
         skip_capitalised: bool, weight: int) -> None:
    if cap and skip_capitalised:
        return
    limit = MAX_PHRASE_WORDS if cap else MAX_LOWERCASE_PHRASE_WORDS
    if j - i <= limit:
        pieces: Iterable[tuple[int, int]] = ((i, j),)
    else:
        pieces = [(a, a + k) for k in (3, 2) for a in range(i, j - k + 1)]
    for a, b in pieces:
        key = tuple(folded[a:b]) if b - a > 1 else folded[a]
        cand = cands.get(key)
        if cand is None:
            cands[key] = [weight, " ".join(surfaces[a:b]) if b - a > 1 else surfaces[a], cap]
        else:
            cand[COUNT] += weight


def _fold_partial_names(cands: dict) -> None:
    """Move the count of "López" / "Flores Ortiz" to the most frequent longer name containing it."""
    names = [(key, c) for key, c in cands.items() if c[CAPITALISED] and not isinstance(key, str)]
    if not names:
        return
    by_word: dict[str, list[tuple[tuple[str, ...], list]]] = {}
    for key, cand in names:
        for w in set(key):
            by_word.setdefault(w, []).append((key, cand))
    for key, cand in list(cands.items()):
        if not cand[CAPITALISED] or cand[COUNT] <= 0:
            continue
        words_ = key_words(key)
        longer = [c for k, c in by_word.get(words_[0], ()) if len(k) > len(words_) and _contains(k, words_)]
        if longer:
            target = max(longer, key=lambda c: c[COUNT])
            target[COUNT] += cand[COUNT]
            cand[COUNT] = 0


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))
