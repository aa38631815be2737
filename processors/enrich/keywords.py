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
from dataclasses import dataclass, field
from typing import Iterable

from processors.enrich.data import read_background, stopwords
from processors.enrich.text import WORD_RE, fold_tokens
from wirewatch.schema import Keyword

TOP_N = 10
MAX_PHRASE_WORDS = 4
MIN_DOCS_FOR_CORPUS = 50
ZIPF_CEILING = 7.5            # "the" is ~7.7: anything this common has no specificity
UNKNOWN_WORD_SPECIFICITY = 0.9
MULTIWORD_BONUS = 0.35        # per extra word
NAME_BONUS = 1.15
TITLE_EXTRA_COUNT = 2
_BREAK_RE = re.compile(r"[.,;:!?()\[\]{}\"“”„«»‹›|/\\\n\r\t•·—–…]+|\s-\s|['’](?:s|S)\b")
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
    surfaces: Counter = field(default_factory=Counter)
    count: int = 0
    capitalised: bool = False


class KeywordExtractor:
    """Built once per worker; `extract(title, body, language)` is pure."""

    def __init__(self, df: DocumentFrequency | None = None, top_n: int = TOP_N):
        self.df = df if df is not None else DocumentFrequency()
        self.top_n = top_n
        self._english_stop = stopwords("en")
        self._english_background = read_background("en")

    def _stop(self, language: str | None) -> frozenset[str]:
        if language and language != "en":
            own = stopwords(language)
            if own:
                return own | self._english_stop
        return self._english_stop

    def _background(self, language: str | None) -> dict[str, float]:
        if language and language != "en":
            own = read_background(language)
            if own:
                return own
        return self._english_background

    def candidates(self, text: str, stop: frozenset[str]) -> dict[tuple[str, ...], _Candidate]:
        found: dict[tuple[str, ...], _Candidate] = {}
        for chunk in _BREAK_RE.split(text):
            surfaces = WORD_RE.findall(chunk)
            if not surfaces:
                continue
            for run in _runs(surfaces, fold_tokens(surfaces), stop):
                key = tuple(f for _, f in run)
                cand = found.get(key)
                if cand is None:
                    cand = found[key] = _Candidate(key, capitalised=all(s[:1].isupper() for s, _ in run))
                cand.count += 1
                cand.surfaces[" ".join(s for s, _ in run)] += 1
        return found

    def word_specificity(self, word: str, background: dict[str, float]) -> float:
        zipf = background.get(word)
        if zipf is None:
            zipf = self._english_background.get(word)
        bg = UNKNOWN_WORD_SPECIFICITY if zipf is None else max(0.0, (ZIPF_CEILING - zipf) / ZIPF_CEILING)
        corpus = self.df.specificity(word)
        return bg if corpus is None else 0.5 * bg + 0.5 * corpus

    def extract(self, title: str, body: str, language: str | None = None) -> list[Keyword]:
        stop = self._stop(language)
        background = self._background(language)
        cands = self.candidates(body, stop)
        for key, cand in self.candidates(title, stop).items():
            mine = cands.setdefault(key, cand) if key not in cands else cands[key]
            mine.count += TITLE_EXTRA_COUNT if mine is not cand else TITLE_EXTRA_COUNT - 1
        _fold_partial_names(cands)
        scored = []
        for key, cand in cands.items():
            if cand.count <= 0:
                continue
            spec = sum(self.word_specificity(w, background) for w in key) / len(key)
            score = (1 + math.log(cand.count)) * spec * (1 + MULTIWORD_BONUS * (len(key) - 1))
            if cand.capitalised:
                score *= NAME_BONUS
            scored.append((score, cand))
        scored.sort(key=lambda sc: -sc[0])
        top = scored[: self.top_n]
        if not top:
            return []
        best = top[0][0] or 1.0
        return [Keyword(phrase=c.surfaces.most_common(1)[0][0], score=round(s / best, 3)) for s, c in top]


def _runs(surfaces: list[str], folded: list[str], stop: frozenset[str]):
    """Runs of content words; cut at stopwords, numbers, 1-letter words and case changes."""
    run: list[tuple[str, str]] = []
    for surface, word in zip(surfaces, folded):
        if word in stop or len(word) < 2 or not word.isalpha():
            yield from _emit(run)
            run = []
            continue
        if run and run[-1][0][:1].isupper() != surface[:1].isupper():
            yield from _emit(run)
            run = []
        run.append((surface, word))
    yield from _emit(run)


def _emit(run: list[tuple[str, str]]):
    if not run:
        return
    if len(run) <= MAX_PHRASE_WORDS:
        yield run
        return
    for size in (3, 2):  # a long run: its shorter pieces
        for i in range(len(run) - size + 1):
            yield run[i:i + size]


def _fold_partial_names(cands: dict[tuple[str, ...], _Candidate]) -> None:
    """Move the count of "López" / "Flores Ortiz" to the most frequent longer name containing it."""
    names = [c for c in cands.values() if c.capitalised and len(c.words) > 1]
    if not names:
        return
    for key, cand in list(cands.items()):
        if not cand.capitalised or cand.count <= 0:
            continue
        longer = [n for n in names if len(n.words) > len(key) and _contains(n.words, key)]
        if longer:
            target = max(longer, key=lambda n: n.count)
            target.count += cand.count
            cand.count = 0


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))
