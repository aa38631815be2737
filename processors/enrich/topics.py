"""Topic tagging: a weighted lexicon per topic, plus topics defined by queries.

The taxonomy is data (processors/data/taxonomy/*.yaml, one file per language
plus query-defined topics), loaded once per worker; see en.yaml for the
format. Lexicons of every language are merged into one table, so a Spanish
article is tagged with the Spanish terms without waiting for language
detection, and a mixed-language text gets both.

Scoring: each topic sums ``weight * (1 + ln(count))`` over its terms found in
the article, title words counting twice. A topic is tagged when that sum
reaches `MIN_RAW` and is at least `MIN_SHARE_OF_TOP` of the best topic's;
its score is its sum relative to the best one, damped for articles with
little evidence. Multi-label by design; each tag lists its triggering terms.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

import structlog
import yaml
from pydantic import TypeAdapter

from processors.enrich.data import data_path
from processors.enrich.native import c_function
from processors.enrich.query import Document, Query, QuerySyntaxError, parse
from processors.enrich.text import Analysis, tokenize
from wirewatch.schema import TopicTag

log = structlog.get_logger(__name__)

DEFAULT_TAXONOMY_DIR = data_path("taxonomy")
MIN_RAW = 4.0
MIN_SHARE_OF_TOP = 0.35
MAX_TAGS = 5
MAX_TERMS_PER_TAG = 8
TITLE_WEIGHT = 2
EVIDENCE_SCALE = 8.0      # raw sum at which the top topic's score reaches ~0.63
MAX_TAXONOMY_FILE_BYTES = 2_000_000
DEFAULT_QUERY_SCORE = 0.8
_TOPIC_TAGS = TypeAdapter(list[TopicTag])  # validates a list in one call, ~3x faster than TopicTag() each


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used; the message names the file and key."""


@dataclass
class TopicDef:
    name: str
    label: str = ""
    iptc: str = ""
    terms: dict[str, float] = field(default_factory=dict)   # term as written -> weight
    query: Query | None = None
    query_score: float = DEFAULT_QUERY_SCORE


def parse_term(entry: object, where: str) -> tuple[str, float]:
    """'election^3' -> ('election', 3.0)."""
    if not isinstance(entry, (str, int, float)):
        raise TaxonomyError(f"{where}: a term must be text, not {type(entry).__name__}")
    text = str(entry).strip()
    weight = 1.0
    if "^" in text:
        text, _, raw_weight = text.rpartition("^")
        try:
            weight = float(raw_weight)
        except ValueError:
            raise TaxonomyError(f"{where}: weight of {entry!r} is not a number") from None
        if not 0 < weight <= 100:
            raise TaxonomyError(f"{where}: weight of {entry!r} must be in (0, 100]")
    if not tokenize(text.rstrip("*")):
        raise TaxonomyError(f"{where}: term {entry!r} has no letters or digits")
    return text.strip(), weight


def read_taxonomy_file(path: Path) -> dict:
    if path.stat().st_size > MAX_TAXONOMY_FILE_BYTES:
        raise TaxonomyError(f"{path}: larger than {MAX_TAXONOMY_FILE_BYTES} bytes")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TaxonomyError(f"{path}: not valid YAML: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict) or not isinstance(doc.get("topics", {}), dict):
        raise TaxonomyError(f"{path}: expected a mapping with a 'topics:' mapping")
    return doc


def merge_file(topics: dict[str, TopicDef], path: Path) -> None:
    """Add one file's topics to `topics` (extending or replacing same-named ones)."""
    doc = read_taxonomy_file(path)
    for name, spec in (doc.get("topics") or {}).items():
        where = f"{path}: topics.{name}"
        if not isinstance(spec, dict):
            raise TaxonomyError(f"{where}: expected a mapping (label, terms, query)")
        unknown = set(spec) - {"label", "iptc", "terms", "query", "score", "replace"}
        if unknown:
            raise TaxonomyError(f"{where}: unknown key(s) {sorted(unknown)}")
        topic = topics.get(name)
        if topic is None or spec.get("replace"):
            topic = topics[name] = TopicDef(name=str(name))
        topic.label = str(spec.get("label") or topic.label or name)
        topic.iptc = str(spec.get("iptc") or topic.iptc)
        terms = spec.get("terms") or []
        if not isinstance(terms, list):
            raise TaxonomyError(f"{where}.terms: expected a list")
        for i, entry in enumerate(terms):
            term, weight = parse_term(entry, f"{where}.terms[{i}]")
            topic.terms[term] = max(weight, topic.terms.get(term, 0.0))
        if "query" in spec:
            try:
                topic.query = parse(str(spec["query"]))
            except QuerySyntaxError as exc:
                raise TaxonomyError(f"{where}.query: {exc}") from None
            topic.query_score = float(spec.get("score", DEFAULT_QUERY_SCORE))


def load_taxonomy(extra_dir: Path | None = None, include_defaults: bool = True) -> dict[str, TopicDef]:
    """Default files, then the user's folder (a file with `replace_defaults: true` drops the defaults)."""
    user_files = sorted(Path(extra_dir).glob("*.yaml")) + sorted(Path(extra_dir).glob("*.yml")) if extra_dir else []
    if extra_dir and not Path(extra_dir).is_dir():
        raise TaxonomyError(f"taxonomy_dir {extra_dir}: no such folder")
    if any(read_taxonomy_file(p).get("replace_defaults") for p in user_files):
        include_defaults = False
    topics: dict[str, TopicDef] = {}
    files = (sorted(DEFAULT_TAXONOMY_DIR.glob("*.yaml")) if include_defaults else []) + user_files
    for path in files:
        merge_file(topics, path)
    return topics


class _Entry(NamedTuple):
    """One term of one topic (a tuple: hashed in C, it is a dict key per term found)."""

    topic: str
    weight: float
    term: str


class _Phrase(NamedTuple):
    """A multi-word term, found from its first word."""

    words: tuple[str, ...]
    later_words: frozenset[str]   # all must occur in the article, or the phrase cannot
    entry: _Entry


class Lexicon:
    """Every term of every topic, indexed for one pass over an article's words."""

    def __init__(self, topics: dict[str, TopicDef]):
        words: dict[str, list[_Entry]] = {}
        phrases: dict[str, list[_Phrase]] = {}
        self.prefixes: dict[str, list[_Entry]] = {}
        for topic in topics.values():
            for term, weight in topic.terms.items():
                self._add(term, _Entry(topic.name, weight, term), words, phrases)
        self.prefix_lengths = sorted({len(p) for p in self.prefixes})
        # First word -> (its one-word entries, the phrases it starts): one lookup per word.
        self.by_first_word: dict[str, tuple[tuple[_Entry, ...], tuple[_Phrase, ...]]] = {
            word: (tuple(words.get(word, ())), tuple(phrases.get(word, ()))) for word in words.keys() | phrases.keys()}
        # Every word of every term: the only tokens worth counting (phrases need
        # their later words too, to skip a phrase whose words are not all there).
        self.term_words = frozenset(self.by_first_word).union(
            *(phrase.words for entries in phrases.values() for phrase in entries))

    def _add(self, term: str, entry: _Entry, words: dict, phrases: dict) -> None:
        if term.endswith("*"):
            prefix = tokenize(term[:-1])
            if len(prefix) == 1:
                self.prefixes.setdefault(prefix[0], []).append(entry)
                return
        term_words = tokenize(term)
        if len(term_words) == 1:
            words.setdefault(term_words[0], []).append(entry)
        elif term_words:
            phrase = _Phrase(tuple(term_words), frozenset(term_words[1:]), entry)
            phrases.setdefault(term_words[0], []).append(phrase)

    def words_in(self, vocabulary: AbstractSet[str]) -> frozenset[str]:
        """The term words among an article's distinct words: each looked up in the lexicon once."""
        return self.term_words.intersection(vocabulary)

    def hits(self, tokens: list[str], term_words: frozenset[str] | None = None) -> dict[_Entry, int]:
        """entry -> occurrences in tokens. `term_words`: `words_in` of a set holding every
        word of `tokens` (default: every term word)."""
        found = word_hits(tokens, self.term_words if term_words is None else term_words, self.by_first_word)
        if self.prefix_lengths:
            self._prefix_hits(tokens, found)
        return found

    def _prefix_hits(self, tokens: list[str], found: dict[_Entry, int]) -> None:
        """Add the hits of prefix terms ("militar*"): every distinct word is a candidate."""
        prefixes = self.prefixes
        for tok, n in Counter(filter(None, tokens)).items():
            for length in self.prefix_lengths:
                if len(tok) > length:
                    for entry in prefixes.get(tok[:length], ()):
                        found[entry] = found.get(entry, 0) + n


def _word_hits_python(tokens: list[str], term_words: frozenset[str],
                      by_first_word: dict[str, tuple[tuple[_Entry, ...], tuple[_Phrase, ...]]]) -> dict[_Entry, int]:
    """entry -> occurrences in tokens of the one-word and phrase terms (Lexicon.by_first_word)
    whose words are among term_words. `word_hits` is this in C (_ctext.c) when it was built:
    there the tokens are counted in a table of the article's term words, small enough to
    stay in the CPU cache, with no Python call per token and no dict update per hit."""
    found: dict[_Entry, int] = {}
    # Most of an article's words are in no term: filter them out in C (a set's
    # __contains__ as the predicate) before counting, so that the loop below only
    # sees the few dozen words that are.
    counts = Counter(filter(term_words.__contains__, tokens))
    present = counts.keys()
    for tok, n in counts.items():
        index = by_first_word.get(tok)
        if index is None:
            continue  # a later word of a phrase only
        entries, phrases = index
        for entry in entries:
            found[entry] = n  # one-word entries are distinct per word
        for phrase in phrases:
            if present >= phrase.later_words:  # a C-level subset test
                c = _phrase_count(tokens, phrase.words, n)
                if c:
                    found[phrase.entry] = c
    return found


def _phrase_count(tokens: list[str], phrase: tuple[str, ...], first_count: int) -> int:
    """Occurrences of a phrase (overlapping ones too: "bye bye" twice in "bye bye bye")
    whose first word occurs first_count times, found with list.index (a C loop) from
    its first word."""
    first, rest = phrase[0], list(phrase[1:])
    n, found, i = len(phrase), 0, -1
    for _ in range(first_count):
        i = tokens.index(first, i + 1)
        if tokens[i + 1:i + n] == rest:
            found += 1
    return found


word_hits_c = c_function("word_hits")
word_hits = word_hits_c or _word_hits_python


# 1 + ln(n): how much n occurrences of a term weigh (small n looked up).
_COUNT_GAINS = [0.0] + [1 + math.log(n) for n in range(1, 65)]


def _contributions_python(found: dict[_Entry, int], gains: list[float]) -> dict[str, tuple[list[float], list[str]]]:
    """topic -> (values, terms): each term found n times adds weight * gain(n) to its
    topic, gain(n) = gains[n] or, past the table, 1 + ln(n). By value, then term (both
    descending): one sort of every part, a topic's parts keeping their order.
    `term_contributions` is this in C (_ctext.c) when it was built."""
    table = len(gains)
    parts = sorted([(weight * (gains[n] if n < table else 1 + math.log(n)), term, topic)
                    for (topic, weight, term), n in found.items()], reverse=True)
    by_topic: dict[str, tuple[list[float], list[str]]] = {}
    for value, term, topic in parts:
        values_terms = by_topic.get(topic)
        if values_terms is None:
            by_topic[topic] = ([value], [term])
        else:
            values_terms[0].append(value)
            values_terms[1].append(term)
    return by_topic


term_contributions_c = c_function("term_contributions")
term_contributions = term_contributions_c or _contributions_python


class TopicTagger:
    """Built once per worker from a taxonomy; `tag(analysis)` is pure."""

    def __init__(self, topics: dict[str, TopicDef]):
        self.topics = topics
        self.lexicon = Lexicon(topics)
        self.queries = [(t.name, t.query, t.query_score) for t in topics.values() if t.query is not None]

    @classmethod
    def from_dir(cls, extra_dir: Path | None = None) -> "TopicTagger":
        return cls(load_taxonomy(extra_dir))

    def raw_scores(self, analysis: Analysis) -> dict[str, tuple[float, list[str]]]:
        """topic -> (evidence sum, triggering terms by contribution)."""
        term_words = self.lexicon.words_in(analysis.vocabulary)
        found = self.lexicon.hits(analysis.body_tokens, term_words)
        for entry, n in self.lexicon.hits(analysis.title_tokens, term_words).items():
            found[entry] = found.get(entry, 0) + n * TITLE_WEIGHT
        # sum() in Python, whichever builds the parts: its float rounding is the reference
        return {topic: (sum(values), terms)
                for topic, (values, terms) in term_contributions(found, _COUNT_GAINS).items()}

    def tag(self, analysis: Analysis) -> list[TopicTag]:
        tags = self._lexicon_tags(self.raw_scores(analysis)) + self._query_tags(analysis)
        return _TOPIC_TAGS.validate_python(tags) if tags else []

    def _lexicon_tags(self, raw: dict[str, tuple[float, list[str]]]) -> list[dict]:
        if not raw:
            return []
        top = max(value for value, _ in raw.values())
        if top < MIN_RAW:
            return []
        evidence = 1 - math.exp(-top / EVIDENCE_SCALE)
        # Ties go by name, so that the same article gets the same tags in every process.
        ranked = sorted(raw.items(), key=lambda kv: (-kv[1][0], kv[0]))
        tags = []
        for name, (value, terms) in ranked[:MAX_TAGS]:
            if value < MIN_RAW or value < MIN_SHARE_OF_TOP * top:
                break
            score = round(value / top * evidence, 3)
            tags.append({"name": name, "score": score, "terms": terms[:MAX_TERMS_PER_TAG]})
        return tags

    def _query_tags(self, analysis: Analysis) -> list[dict]:
        if not self.queries:
            return []
        doc = Document(analysis.tokens)
        tags = []
        for name, query, score in self.queries:
            terms = query.matched_terms(doc)
            if terms:
                tags.append({"name": name, "score": score, "terms": terms[:MAX_TERMS_PER_TAG]})
        return tags

    def primary(self, analysis: Analysis, among: Iterable[str] | None = None) -> str | None:
        """The best-scoring lexicon topic (optionally among some topics), for evaluation."""
        raw = self.raw_scores(analysis)
        allowed = set(among) if among is not None else None
        best = [(v, name) for name, (v, _) in raw.items() if allowed is None or name in allowed]
        if not best:
            return None
        value, name = max(best)
        return name if value >= MIN_RAW else None
