"""Language detection: Unicode script first, then function words, then lingua.

Speed matters (the whole chain must run at >= 1,000 articles/s on one core)
and lingua costs about 1 ms per 300 characters of Latin text even restricted
to a few dozen languages. So detection goes in three steps, cheapest first:

1. The script of the letters. Hangul, kana, Thai, Myanmar, Greek, ... each
   name one language; Arabic, Cyrillic and Devanagari narrow the candidates.
2. For Latin script, the share of the text's words that are the most common
   function words of each language (lists shipped in processors/data). A clear
   winner (a large share, far ahead of the runner-up) is accepted; this
   covers most real news in the languages we ship lists for.
3. Otherwise lingua (its models ship inside the package, nothing is fetched)
   restricted to the languages of that script, on a bounded sample, in its
   low-accuracy mode by default: the high-accuracy models of the 39 Latin
   languages take 1.1 GB of memory and ~25 s to load (the worker budget is
   1 GB), low accuracy takes ~100 MB and ~1 s, and on the multilingual corpus
   it scores 463/475 feed items against 465/475 (all 15 articles either way).

Texts too short to judge fall back to the language the feed declared.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, islice

import structlog

from processors.enrich.data import background_languages, read_background, stopwords
from processors.enrich.native import c_function
from processors.enrich.text import Analysis

log = structlog.get_logger(__name__)

MIN_WORDS = 4            # fewer words than this: trust the feed's declaration
MIN_SCRIPT_CHARS = 12    # fewer letters than this: trust the feed's declaration
SCRIPT_SAMPLE_CHARS = 1000  # the script is judged on this many characters
SAMPLE_WORDS = 300       # function-word vote looks at this many words
SAMPLE_CHARS = 400       # lingua looks at this many characters
FUNCTION_WORDS_PER_LANGUAGE = 120
FAST_MIN_SHARE = 0.22    # winner's function words must be this share of the words
FAST_MIN_MARGIN = 2.0    # ... and this many times the runner-up's
LINGUA_MIN_CONFIDENCE = 0.5

# Script ranges (start, end, script); sorted by start for bisect.
_SCRIPTS = sorted([
    (0x0370, 0x03FF, "greek"), (0x0400, 0x052F, "cyrillic"), (0x0530, 0x058F, "armenian"),
    (0x0590, 0x05FF, "hebrew"), (0x0600, 0x06FF, "arabic"), (0x0750, 0x077F, "arabic"),
    (0x0900, 0x097F, "devanagari"), (0x0980, 0x09FF, "bengali"), (0x0A00, 0x0A7F, "gurmukhi"),
    (0x0A80, 0x0AFF, "gujarati"), (0x0B00, 0x0B7F, "oriya"), (0x0B80, 0x0BFF, "tamil"),
    (0x0C00, 0x0C7F, "telugu"), (0x0C80, 0x0CFF, "kannada"), (0x0D00, 0x0D7F, "malayalam"),
    (0x0D80, 0x0DFF, "sinhala"), (0x0E00, 0x0E7F, "thai"), (0x0E80, 0x0EFF, "lao"),
    (0x1000, 0x109F, "myanmar"), (0x10A0, 0x10FF, "georgian"), (0x1100, 0x11FF, "hangul"),
    (0x1200, 0x139F, "ethiopic"), (0x1780, 0x17FF, "khmer"), (0x3040, 0x309F, "kana"),
    (0x30A0, 0x30FF, "kana"), (0x3400, 0x4DBF, "han"), (0x4E00, 0x9FFF, "han"),
    (0xAC00, 0xD7AF, "hangul"), (0xF900, 0xFAFF, "han"), (0xFB50, 0xFDFF, "arabic"),
    (0xFE70, 0xFEFF, "arabic"),
])
_SCRIPT_STARTS = [s[0] for s in _SCRIPTS]

# A script that names one language outright.
_SINGLE_LANGUAGE_SCRIPT = {
    "greek": "el", "armenian": "hy", "hebrew": "he", "bengali": "bn", "gurmukhi": "pa",
    "gujarati": "gu", "oriya": "or", "tamil": "ta", "telugu": "te", "kannada": "kn",
    "malayalam": "ml", "sinhala": "si", "thai": "th", "lao": "lo", "myanmar": "my",
    "georgian": "ka", "hangul": "ko", "ethiopic": "am", "khmer": "km", "kana": "ja", "han": "zh",
}
# Scripts shared by several languages: lingua decides among these.
_SCRIPT_CANDIDATES = {
    "arabic": ["ar", "fa", "ur"],
    "cyrillic": ["ru", "uk", "bg", "sr", "mk", "be", "kk", "mn"],
    "devanagari": ["hi", "mr"],
    "latin": ["en", "es", "fr", "de", "it", "pt", "nl", "ca", "pl", "ro", "sv", "da", "nb", "fi",
              "tr", "id", "ms", "af", "lv", "lt", "et", "cs", "sk", "sl", "hr", "bs", "hu", "vi",
              "tl", "sq", "eu", "ga", "cy", "is", "sw", "so", "az", "la", "eo"],
}
# Nepali and Hindi share Devanagari; lingua has no Nepali, these words tell them apart.
_NEPALI_MARKERS = frozenset("छ छन् छौं हो गरेको भएको पनि लागि गर्न तथा थियो रहेको".split())
_HINDI_MARKERS = frozenset("है हैं था थे की का के में और से लिए".split())
_FAST_PATH_LANGUAGES = frozenset(background_languages())
_LATIN_LETTER_RE = re.compile(r"[a-zA-Z\u00c0-\u024f\u1e00-\u1eff]")
_NON_LATIN_RE = re.compile(r"[^\W\d_a-zA-Z\u00c0-\u024f\u1e00-\u1eff]")
# Letter counting is the hot part of dominant_script. ASCII letters are counted by
# deleting every other byte (bytes.translate, one C pass); the rare accented
# Latin letters by a plain range regex, much cheaper than the \W-based ones.
_ASCII_NON_LETTERS = bytes(c for c in range(128) if not chr(c).isalpha())
# Latin-1 bytes that are not Latin letters by _LATIN_LETTER_RE's ranges (a-z, A-Z, U+00C0-U+00FF).
_LATIN1_NON_LETTERS = bytes(c for c in range(256) if not _LATIN_LETTER_RE.match(chr(c)))
_NON_ASCII_LATIN_LETTER_RE = re.compile(r"[\u00c0-\u024f\u1e00-\u1eff]")
# Below U+0370 (where Greek, the first script of _SCRIPTS, starts) a text can only be Latin.
_FROM_FIRST_SCRIPT_RE = re.compile(r"[^\x00-\u036f]")


@dataclass(frozen=True)
class LanguageGuess:
    language: str | None
    confidence: float
    method: str  # script | function-words | lingua | declared | none


def normalise_code(code: str | None) -> str | None:
    """'en-US' / 'EN_gb' / 'es' -> 'en' / 'en' / 'es'; junk -> None."""
    if not code:
        return None
    base = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return base if base.isalpha() and 2 <= len(base) <= 3 else None


def dominant_script(text: str) -> tuple[str, int]:
    """The script most of the letters are written in, and how many letters were seen."""
    sample = text[:SCRIPT_SAMPLE_CHARS]
    if sample.isascii():
        return "latin", _ascii_letters(sample)
    latin1 = _latin1(sample)
    if latin1 is not None:  # "£", "é", "ß": still Latin only
        return "latin", len(latin1.translate(None, _LATIN1_NON_LETTERS))
    # Latin letters counted without a list of every letter: ASCII ones in C, the few others by regex.
    latin_letters = _ascii_letters(sample) + len(_NON_ASCII_LATIN_LETTER_RE.findall(sample))
    if _FROM_FIRST_SCRIPT_RE.search(sample) is None:  # "ő": still Latin only
        return "latin", latin_letters
    non_latin = _NON_LATIN_RE.findall(sample)  # none in English with curly quotes or dashes ("’", "—")
    if not non_latin:
        return "latin", latin_letters
    counts: dict[str, int] = {}
    for ch in non_latin:
        i = bisect.bisect_right(_SCRIPT_STARTS, ord(ch)) - 1
        if i >= 0 and ord(ch) <= _SCRIPTS[i][1]:
            script = _SCRIPTS[i][2]
            counts[script] = counts.get(script, 0) + 1
    if "kana" in counts:  # Japanese mixes kanji with kana
        counts["kana"] += counts.pop("han", 0)
    best = max(counts.items(), key=lambda kv: kv[1], default=("latin", 0))
    if latin_letters >= best[1]:
        return "latin", latin_letters
    return best


def _latin1(text: str) -> bytes | None:
    """The text in Latin-1 (one C copy), or None when it has a character above U+00FF."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return None


def _ascii_letters(text: str) -> int:
    """How many a-z / A-Z letters a text has (its other characters are ignored)."""
    return len(text.encode("ascii", "ignore").translate(None, _ASCII_NON_LETTERS))


# The vote adds, for each word of the sample, one to every language the word is
# a function word of. In C (_ctext.c language_votes) each word's languages are
# a bytes of their indexes; the Python reference packs them into one integer,
# one 16-bit counter per language, so that its vote is a sum of integers done
# in C (sum(map(...))) instead of a Python loop over words and languages.
_COUNTER_BITS = 16
assert SAMPLE_WORDS < 1 << _COUNTER_BITS, "a language's counter must not overflow into the next"


@dataclass(frozen=True)
class _FunctionWords:
    languages: tuple[str, ...]
    packed: dict[str, int]      # word -> its packed vote (Python reference)
    indexes: dict[str, bytes]   # word -> the indexes of its languages (C)


@lru_cache(maxsize=1)
def _function_words() -> _FunctionWords:
    """Languages, and each word's languages (those it is a most common word of)."""
    table: dict[str, frozenset[str]] = {}
    for lang in background_languages():
        table[lang] = frozenset(list(read_background(lang))[:FUNCTION_WORDS_PER_LANGUAGE])
    for lang in ("nl", "ca"):
        words = stopwords(lang)
        if words:
            table.setdefault(lang, words)
    languages = tuple(sorted(table))
    assert len(languages) <= 256, "language indexes are bytes"
    packed: dict[str, int] = {}
    indexes: dict[str, bytes] = {}
    for i, lang in enumerate(languages):
        for word in table[lang]:
            packed[word] = packed.get(word, 0) + (1 << (_COUNTER_BITS * i))
            indexes[word] = indexes.get(word, b"") + bytes([i])
    return _FunctionWords(languages, packed, indexes)


def votes_python(sample: list[str], words: _FunctionWords) -> list[int]:
    """How many words of the sample are function words of each language (in the order of
    words.languages). `votes_c` is the same in C (_ctext.c) when it was built."""
    packed = words.packed
    votes = sum(map(packed.__getitem__, filter(packed.__contains__, sample)))
    mask = (1 << _COUNTER_BITS) - 1
    return [(votes >> (_COUNTER_BITS * i)) & mask for i in range(len(words.languages))]


_language_votes = c_function("language_votes")
if _language_votes is not None:
    def votes_c(sample: list[str], words: _FunctionWords) -> list[int]:
        return _language_votes(sample, words.indexes, len(words.languages))
else:
    votes_c = None
_votes = votes_c or votes_python


def vote_function_words(tokens: list[str]) -> tuple[str | None, float, float]:
    """(best language, its share of the words, runner-up share)."""
    sample = tokens[:SAMPLE_WORDS]
    if not sample:
        return None, 0.0, 0.0
    words = _function_words()
    ranked = sorted(zip(_votes(sample, words), words.languages), reverse=True)
    total = len(sample)
    second = ranked[1][0] / total if len(ranked) > 1 else 0.0
    return ranked[0][1], ranked[0][0] / total, second


def first_words(analysis: Analysis, limit: int) -> list[str]:
    """The first `limit` folded words of title then body (analysis.words[:limit]),
    without building the whole article's word list."""
    return list(islice(filter(None, chain(analysis.title_tokens, analysis.body_tokens)), limit))


def few_distinct(words: list[str], minimum: int) -> bool:
    """Fewer than `minimum` distinct words. A short prefix usually settles it,
    which spares building a set of the whole sample."""
    return len(set(words[:4 * minimum])) < minimum and len(set(words)) < minimum


class LanguageDetector:
    """Built once per worker; `detect(analysis)` never raises."""

    def __init__(self, lingua_low_accuracy: bool = True):
        self._low_accuracy = lingua_low_accuracy
        self._detectors: dict[str, object] = {}

    def preload(self) -> None:
        """Build every lingua detector with its models loaded now (at worker start-up:
        ~1 s and ~100 MB in low-accuracy mode), so that the first article of a new
        script does not stall the worker's event loop."""
        for script in _SCRIPT_CANDIDATES:
            self._lingua(script, preload=True)

    def _lingua(self, script: str, preload: bool = False):
        if script not in self._detectors:
            from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

            languages = []
            for code in _SCRIPT_CANDIDATES[script]:
                iso = getattr(IsoCode639_1, code.upper(), None)
                if iso is not None:
                    languages.append(Language.from_iso_code_639_1(iso))
            builder = LanguageDetectorBuilder.from_languages(*languages)
            if self._low_accuracy:
                builder = builder.with_low_accuracy_mode()
            if preload:
                builder = builder.with_preloaded_language_models()
            self._detectors[script] = builder.build()
        return self._detectors[script]

    def _ask_lingua(self, script: str, text: str) -> tuple[str | None, float]:
        values = self._lingua(script).compute_language_confidence_values(text[:SAMPLE_CHARS])
        if not values:
            return None, 0.0
        top = values[0]
        return top.language.iso_code_639_1.name.lower(), float(top.value)

    def detect(self, analysis: Analysis) -> LanguageGuess:
        declared = normalise_code(analysis.declared_language)
        try:
            return self._detect(analysis, declared)
        except Exception as exc:  # a detector bug must not lose the article
            log.warning("language_detection_failed", error=repr(exc))
            return LanguageGuess(declared, 0.0, "declared" if declared else "none")

    def _detect(self, analysis: Analysis, declared: str | None) -> LanguageGuess:
        fallback = LanguageGuess(declared, 0.0, "declared" if declared else "none")
        text = analysis.text
        script, letters = dominant_script(text)
        if letters < MIN_SCRIPT_CHARS:
            return fallback
        if script in _SINGLE_LANGUAGE_SCRIPT:
            return LanguageGuess(_SINGLE_LANGUAGE_SCRIPT[script], 0.95, "script")
        sample = first_words(analysis, SAMPLE_WORDS)
        if script == "devanagari":
            nepali = _marker_share(sample, _NEPALI_MARKERS, _HINDI_MARKERS)
            if nepali is not None:
                return LanguageGuess(nepali and "ne" or "hi", 0.8, "function-words")
        if script == "latin":
            if len(sample) < MIN_WORDS or few_distinct(sample, MIN_WORDS):
                return fallback  # too short, or junk repeating one "word"
            best, share, second = vote_function_words(sample)
            decisive = share >= FAST_MIN_SHARE and share >= FAST_MIN_MARGIN * second
            # Dutch and Catalan lists are only rivals: Afrikaans reads as Dutch, Occitan as Catalan.
            if best in _FAST_PATH_LANGUAGES and decisive:
                return LanguageGuess(best, round(min(0.99, 1 - second / share), 3), "function-words")
        if script not in _SCRIPT_CANDIDATES:
            return fallback
        lang, confidence = self._ask_lingua(script, text)
        if lang is None or (confidence < LINGUA_MIN_CONFIDENCE and declared):
            return fallback if declared else LanguageGuess(lang, confidence, "lingua")
        return LanguageGuess(lang, round(confidence, 3), "lingua")


def _marker_share(tokens: list[str], nepali: frozenset[str], hindi: frozenset[str]) -> bool | None:
    """True for Nepali, False for Hindi, None when neither set of markers shows up."""
    ne = sum(1 for t in tokens[:SAMPLE_WORDS] if t in nepali)
    hi = sum(1 for t in tokens[:SAMPLE_WORDS] if t in hindi)
    if ne == hi == 0:
        return None
    return ne > hi
