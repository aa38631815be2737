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
from collections.abc import MutableMapping
from dataclasses import dataclass
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
        self.store: MutableMapping[str, int] = store if store is not None else {}
        self.max_terms = max_terms

    @property
    def n_docs(self) -> int:
        return int(self.store.get(_DOCS_KEY, 0))

    def df(self, word: str) -> int:
        return int(self.store.get(word, 0))

    def observe(self, words: Iterable[str]) -> None:
        """Count one article's distinct words."""
        store = self.store
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


@dataclass
class _Candidate:
    words: tuple[str, ...]
    surface: str          # as first written
    count: int = 0
    capitalised: bool = False


class KeywordExtractor:
    """Built once per worker; `extract(analysis, language, names)` reads only its arguments
    (and the document frequencies, which the caller updates)."""

    def __init__(self, df: DocumentFrequency | None = None, top_n: int = TOP_N):
        self.df = df if df is not None else DocumentFrequency()
        self.top_n = top_n
        self._english_stop = stopwords("en")
        self._english_background = read_background("en")
        self._common_words: dict[str, frozenset[str]] = {}

    def _stop(self, language: str | None) -> frozenset[str]:
        if language and language != "en":
            own = stopwords(language)
            if own:
                return own | self._english_stop
        return self._english_stop

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

    def word_specificity(self, word: str, background: dict[str, float], corpus: tuple[int, float] | None = None) -> float:
        """0 (as common as "the") .. 1 (never seen): background, blended with the stream's counts."""
        zipf = background.get(word)
        if zipf is None:
            zipf = self._english_background.get(word)
        bg = UNKNOWN_WORD_SPECIFICITY if zipf is None else max(0.0, (ZIPF_CEILING - zipf) / ZIPF_CEILING)
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
        cands: dict[tuple[str, ...], _Candidate] = {}
        common = self._common(language)
        collect(cands, analysis.body_surfaces, analysis.body_tokens, stop, skip_capitalised, 1, common)
        collect(cands, analysis.title_surfaces, analysis.title_tokens, stop, skip_capitalised, TITLE_EXTRA_COUNT + 1, common)
        if names is None:
            _fold_partial_names(cands)
        else:
            for name, count in names:
                key = tuple(fold_tokens(words(name)))
                if key and count > 0:
                    cand = cands.get(key)
                    if cand is None:
                        cands[key] = _Candidate(key, name, count, True)
                    else:
                        cand.count += count
        return self._rank(cands, background)

    def _rank(self, cands: dict[tuple[str, ...], _Candidate], background: dict[str, float]) -> list[Keyword]:
        scored = []
        spec_cache: dict[str, float] = {}
        n_docs = self.df.n_docs
        corpus = (n_docs, math.log(n_docs + 1)) if n_docs >= MIN_DOCS_FOR_CORPUS else None
        for key, cand in cands.items():
            if cand.count <= 0:
                continue
            total = 0.0
            for w in key:
                spec = spec_cache.get(w)
                if spec is None:
                    spec = spec_cache[w] = self.word_specificity(w, background, corpus)
                total += spec
            # A phrase seen once is often just adjacent words: only repeated or
            # capitalised phrases earn the multi-word bonus.
            bonus = MULTIWORD_BONUS if cand.count > 1 or cand.capitalised else MULTIWORD_BONUS / 3
            score = (1 + math.log(cand.count)) * (total / len(key)) * (1 + bonus * (len(key) - 1))
            if cand.capitalised:
                score *= NAME_BONUS
            scored.append((score, cand))
        scored.sort(key=lambda sc: -sc[0])
        top = _with_name_quota(scored, self.top_n)
        if not top:
            return []
        best = top[0][0] or 1.0
        return [Keyword(phrase=c.surface, score=round(sc / best, 3)) for sc, c in top]


def _with_name_quota(scored: list[tuple[float, _Candidate]], top_n: int) -> list[tuple[float, _Candidate]]:
    """Best phrases, names taking at most MAX_NAME_SHARE of the slots when other phrases exist."""
    max_names = max(1, int(top_n * MAX_NAME_SHARE))
    top, names = [], 0
    for item in scored:
        if item[1].capitalised:
            if names >= max_names:
                continue
            names += 1
        top.append(item)
        if len(top) == top_n:
            break
    if len(top) < top_n:  # not enough other phrases: fill with the remaining names
        chosen = {id(item[1]) for item in top}
        rest = [item for item in scored if id(item[1]) not in chosen]
        top = sorted(top + rest[: top_n - len(top)], key=lambda sc: -sc[0])
    return top


def collect(cands: dict, surfaces: list[str], folded: list[str], stop: frozenset[str],
            skip_capitalised: bool, weight: int, common: frozenset[str] = frozenset()) -> None:
    """Add the runs of content words of one token stream to `cands`.

    A run is cut at stopwords, numbers, 1-letter words, punctuation breaks
    and where capitalisation changes. Written as list comprehensions and
    slices: this loop sees every word of every article.
    """
    content = [len(w) > 1 and w.isalpha() and w not in stop for w in folded]
    caps = [c and s[:1].isupper() for s, c in zip(surfaces, content)]
    # A common word capitalised because it starts a sentence ("Political
    # prisoners are...") is an ordinary word, not the start of a name.
    for i, cap in enumerate(caps):
        if cap and (i == 0 or not folded[i - 1]) and folded[i] in common:
            caps[i] = False
    n = len(folded)
    i = 0
    while i < n:
        if not content[i]:
            i += 1
            continue
        cap = caps[i]
        j = i + 1
        while j < n and content[j] and caps[j] == cap:
            j += 1
        if not (cap and skip_capitalised):
            _add_run(cands, surfaces, folded, i, j, cap, weight)
        i = j


def _add_run(cands: dict, surfaces: list[str], folded: list[str], start: int, end: int, cap: bool, weight: int) -> None:
    n = end - start
    limit = MAX_PHRASE_WORDS if cap else MAX_LOWERCASE_PHRASE_WORDS
    if n <= limit:
        pieces = ((start, end),)
    else:
        pieces = tuple((a, a + k) for k in (3, 2) for a in range(start, end - k + 1))
    for a, b in pieces:
        key = tuple(folded[a:b])
        cand = cands.get(key)
        if cand is None:
            cands[key] = _Candidate(key, " ".join(surfaces[a:b]), weight, cap)
        else:
            cand.count += weight


def _fold_partial_names(cands: dict[tuple[str, ...], _Candidate]) -> None:
    """Move the count of "López" / "Flores Ortiz" to the most frequent longer name containing it."""
    names = [c for c in cands.values() if c.capitalised and len(c.words) > 1]
    if not names:
        return
    by_word: dict[str, list[_Candidate]] = {}
    for name in names:
        for w in set(name.words):
            by_word.setdefault(w, []).append(name)
    for key, cand in list(cands.items()):
        if not cand.capitalised or cand.count <= 0:
            continue
        longer = [n for n in by_word.get(key[0], ()) if len(n.words) > len(key) and _contains(n.words, key)]
        if longer:
            target = max(longer, key=lambda n: n.count)
            target.count += cand.count
            cand.count = 0


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))
