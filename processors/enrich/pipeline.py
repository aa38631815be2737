"""The whole enrichment of one article: language, topics, keywords, entities.

`Enricher` is built once per worker (it loads the taxonomy, gazetteer and
frequency lists) and its `enrich(article)` is what the enrich agent calls for
each article. It never raises on odd text: each step is guarded, and a step
that fails leaves its field empty and logs why. Story fields are left to the
story step (`processors.enrich.story.StoryIndex`), which needs shared state.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from processors.enrich.entities import EntityExtractor
from processors.enrich.keywords import DocumentFrequency, KeywordExtractor
from processors.enrich.language import LanguageDetector, LanguageGuess
from processors.enrich.story import Signature, signature, signatures
from processors.enrich.text import Analysis
from processors.enrich.topics import TopicTagger, load_taxonomy
from wirewatch.schema import Article, Enrichment, utcnow

log = structlog.get_logger(__name__)

_ACRONYM_SUFFIX_RE = re.compile(r"\s*\([^()]*\)$")


def _name_without_acronym(text: str) -> str:
    """"Bolivarian National Guard (GNB)" -> "Bolivarian National Guard"; the regex only
    for the few names that end with ")"."""
    return _ACRONYM_SUFFIX_RE.sub("", text) if text.endswith(")") else text


@dataclass
class Enriched:
    """One article through the chain: its tokens, what the steps add, its near-duplicate signature."""

    analysis: Analysis
    enrichment: Enrichment
    signature: Signature


@dataclass
class StepTimes:
    """CPU seconds spent per step, summed over calls (for the benchmark)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, step: str, elapsed: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + elapsed


class Enricher:
    def __init__(self, taxonomy_dir: Path | None = None, df: DocumentFrequency | None = None,
                 update_stats: bool = True, lingua_low_accuracy: bool = True):
        self.language = LanguageDetector(lingua_low_accuracy=lingua_low_accuracy)
        self.topics = TopicTagger(load_taxonomy(taxonomy_dir))
        self.df = df if df is not None else DocumentFrequency()
        self.keywords = KeywordExtractor(self.df)
        self.entities = EntityExtractor()
        self.update_stats = update_stats
        self.times: StepTimes | None = None

    @classmethod
    def from_settings(cls, settings, df: DocumentFrequency | None = None) -> "Enricher":
        """From a wirewatch.settings.Settings (its processor.taxonomy_dir)."""
        return cls(taxonomy_dir=settings.processor.taxonomy_dir, df=df)

    def analyse(self, article: Article) -> Analysis:
        return Analysis.of(article.title, article.text or article.summary, article.language)

    def enrich(self, article: Article) -> Enrichment:
        """Language, topics, keywords and entities of one article; never raises."""
        try:
            analysis = self._timed("tokenize", self.analyse, article)
        except Exception as exc:  # pragma: no cover - Analysis.of is total on str input
            log.warning("enrich_failed", article_id=getattr(article, "id", None), step="tokenize", error=repr(exc))
            return Enrichment(language=article.language, enriched_at=utcnow())
        return self.enrich_analysis(analysis, article_id=article.id)

    def enrich_analysis(self, analysis: Analysis, article_id: str = "") -> Enrichment:
        return self._finish(analysis, article_id, self._language(analysis, article_id),
                            self._topics(analysis, article_id), self._entities(analysis, article_id))

    def enrich_batch(self, articles: list[Article]) -> list[Enriched]:
        """The whole chain over a batch, as the enrich agent runs it, one step at a time over
        every article: each step's tables (stopwords, lexicon, gazetteer, caches) stay in the
        CPU caches instead of being evicted by the next step's, article after article. Then
        every signature in one numpy pass (its fixed costs are paid once per batch).
        Each article's keywords still see the counts of the articles before it."""
        analyses = [self._timed("tokenize", self.analyse, article) for article in articles]
        ids = [article.id for article in articles]
        guesses = list(map(self._language, analyses, ids))
        topics = list(map(self._topics, analyses, ids))
        entities = list(map(self._entities, analyses, ids))
        enrichments = list(map(self._finish, analyses, ids, guesses, topics, entities))
        try:
            sigs = self._timed("story", signatures, analyses)
        except Exception as exc:  # never lose a batch to one odd text: each article alone
            log.warning("enrich_step_failed", step="story", batch=len(articles), error=repr(exc))
            sigs = [self._timed("story", signature, analysis) for analysis in analyses]
        return [Enriched(*parts) for parts in zip(analyses, enrichments, sigs)]

    def _language(self, analysis: Analysis, article_id: str) -> LanguageGuess:
        guess = self._guarded("language", article_id, self.language.detect, analysis)
        return guess if guess is not None else LanguageGuess(analysis.declared_language, 0.0, "none")

    def _topics(self, analysis: Analysis, article_id: str) -> list:
        return self._guarded("topics", article_id, self.topics.tag, analysis) or []

    def _entities(self, analysis: Analysis, article_id: str) -> list:
        return self._guarded("entities", article_id, self.entities.extract, analysis.title, analysis.body) or []

    def _finish(self, analysis: Analysis, article_id: str, guess: LanguageGuess, topics: list,
                entities: list) -> Enrichment:
        """Keywords (they read the entities and the language), this article's counts, the Enrichment."""
        names = [(_name_without_acronym(e.text), e.count) for e in entities]
        keywords = self._guarded("keywords", article_id, self.keywords.extract, analysis, guess.language, names) or []
        if self.update_stats:
            self._guarded("stats", article_id, self.df.observe, analysis.vocabulary)
        return Enrichment(
            language=guess.language,
            language_confidence=guess.confidence,
            topics=topics,
            keywords=keywords,
            entities=entities,
            enriched_at=utcnow(),
        )

    def _guarded(self, step: str, article_id: str, fn, *args):
        try:
            return self._timed(step, fn, *args)
        except Exception as exc:  # one step's bug must not lose the article
            log.warning("enrich_step_failed", article_id=article_id, step=step, error=repr(exc))
            return None

    def _timed(self, step: str, fn, *args):
        if self.times is None:
            return fn(*args)
        # CPU time of this process: on a shared machine wall time measures the neighbours.
        start = time.process_time()
        try:
            return fn(*args)
        finally:
            self.times.add(step, time.process_time() - start)
