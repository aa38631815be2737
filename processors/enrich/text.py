"""Text helpers shared by the enrichment steps: one tokenisation, one folding.

Every step sees the same tokens so that a topic term, a query term and a
keyword agree on what a "word" is. Folding lowercases and strips Latin
diacritics ("López" -> "lopez") but keeps other scripts intact: removing
every combining mark would break Devanagari or Thai words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from processors.enrich.native import c_function

# Bounds: enrichment never looks past this many characters of one article.
MAX_TEXT_CHARS = 60_000

# Letters and digits, plus the combining marks that Python's \w leaves out but
# that sit inside words of Indic, Thai, Myanmar, Hebrew and Arabic text.
_MARKS = "\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0670\u0900-\u0963\u0966-\u0dff\u0e00-\u0eff\u1000-\u109f"
WORD_RE = re.compile(rf"(?:[^\W_]|[{_MARKS}])+", re.UNICODE)
_LATIN_MARKS_RE = re.compile(r"[\u0300-\u036f]")
# Control characters and other junk that binary payloads bring along.
_JUNK_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd\ud800-\udfff]")
_SEP = "\x01"   # joins tokens: no token from scan() holds it (not a word character)


_JUNK_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])   # the ASCII part of _JUNK_RE


def clean(text: str) -> str:
    """Drop control characters and lone surrogates; cap the length."""
    if not text:
        return ""
    text = text[:MAX_TEXT_CHARS]
    return text if _is_clean(text) else _JUNK_RE.sub(" ", text)


def _is_clean(text: str) -> bool:
    """No match of _JUNK_RE, checked by C loops over bytes (~4x faster than the regex)."""
    if "\ufffd" in text:
        return False
    try:
        data = text.encode("utf-8")  # a lone surrogate refuses to encode
    except UnicodeEncodeError:
        return False
    # UTF-8 encodes every non-ASCII character with bytes >= 0x80 only.
    return len(data.translate(None, _JUNK_BYTES)) == len(data)


def fold(text: str) -> str:
    """Lowercase and strip Latin diacritics; other scripts unchanged."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    stripped = _LATIN_MARKS_RE.sub("", unicodedata.normalize("NFD", lowered))
    return unicodedata.normalize("NFC", stripped)


# Punctuation that ends a phrase: a key phrase or a quoted query phrase never spans it.
_BREAK_CHARS = ".,;:!?()[]{}\"“”„«»|/\\•·—–…"
_PIECE_RE = re.compile(rf"([\w{_MARKS}]+)|([{re.escape(_BREAK_CHARS)}]|['’](?=[sS]$))")
BREAK = ""
_BREAK_SET = frozenset(_BREAK_CHARS)
_EDGE_CHARS = _BREAK_CHARS + "'’‘`*#@&%+=<>~^$€£-_"


def words(text: str) -> list[str]:
    """Surface word tokens (letters and digits runs) in order."""
    return WORD_RE.findall(text)


def scan_python(text: str) -> list[str]:
    """Surface words in order, with BREAK ("") where punctuation or a line ends a phrase.

    `scan` is this loop compiled (_ctext.c, ~3x faster) when it was built, else this.
    Splitting on whitespace first and running the regex only on tokens that
    are not plain alphanumerics is about as fast as one regex pass and
    gives the phrase breaks for free.
    """
    out: list[str] = []
    append = out.append
    pieces_of = _PIECES.__getitem__
    for line in text.split("\n"):
        for tok in line.split():
            if tok.isalnum():
                append(tok)
                continue
            core = tok.strip(_EDGE_CHARS)
            if core.isalnum():  # "forces," / "(GNB)" / "“You": punctuation only at the edges
                if tok[0] in _BREAK_SET and out and out[-1]:
                    append(BREAK)
                append(core)
                if tok[-1] in _BREAK_SET:
                    append(BREAK)
                continue
            for word in pieces_of(tok) if len(tok) <= _MAX_CACHED_TOKEN else _pieces(tok):
                if word or (out and out[-1]):
                    append(word)  # "" marks a break
        if out and out[-1]:
            append(BREAK)
    return out


def _pieces(tok: str) -> tuple[str, ...]:
    """Words of a token with punctuation inside ("U.S.", "López’s", "-"), "" for each break."""
    return tuple(word for word, _punct in _PIECE_RE.findall(tok))


_PIECES_CACHE_SIZE = 50_000
_MAX_CACHED_TOKEN = 64


class _Pieces(dict):
    """token -> _pieces(token), cleared when full: the same few hundred tokens
    ("-", "U.S.", "don't") come back in every article, and a dict lookup costs
    a fraction of a regex call."""

    def __missing__(self, tok: str) -> tuple[str, ...]:
        if len(self) >= _PIECES_CACHE_SIZE:
            self.clear()
        pieces = self[tok] = _pieces(tok)
        return pieces


_PIECES = _Pieces()

# In C, scan and the folding also hand out one str object per distinct word, the same
# across articles (_ctext.c, "the shared words"): the steps' dict lookups then match
# keys by identity. Equal strings either way; only faster.
scan_c = c_function("scan")
scan = scan_c or scan_python


def fold_tokens(tokens: list[str]) -> list[str]:
    """Fold many tokens: lowercase in one call, accents only where there are any."""
    return _fold_joined(tokens)[0]


def _fold_joined_python(tokens: list[str]) -> tuple[list[str], str]:
    """(fold_tokens(tokens), the same joined by _SEP): the joined form is the ASCII test.
    `_fold_joined` is the same in C (_ctext.c) when it was built."""
    lowered = list(map(str.lower, tokens))
    joined = _SEP.join(lowered)
    if joined.isascii():  # most English text: nothing to strip, no per-word work
        return lowered, joined
    folded = [w if w.isascii() else fold_word(w) for w in lowered]
    return folded, _SEP.join(folded)


def tokenize(text: str) -> list[str]:
    """Folded word tokens of a text (no breaks): what query terms are made of."""
    return fold_tokens(words(text))


@dataclass
class Analysis:
    """One article's text, tokenised once and shared by every step.

    `*_surfaces` keep the words as written, `*_tokens` are folded; both have
    BREAK ("") entries where punctuation separates phrases, at the same
    positions.

    `folded_body` is `body_tokens` joined by "\x01" (built by `of` anyway):
    the story signature reads this one string rather than hundreds of token
    objects, which by then have left the CPU cache. Empty when the Analysis
    was built another way; `body_tokens` stays the truth.
    """

    title: str
    body: str
    declared_language: str | None = None
    title_surfaces: list[str] = field(default_factory=list)
    body_surfaces: list[str] = field(default_factory=list)
    title_tokens: list[str] = field(default_factory=list)
    body_tokens: list[str] = field(default_factory=list)
    folded_body: str = field(default="", repr=False, compare=False)

    @classmethod
    def of(cls, title: str, body: str, declared_language: str | None = None) -> "Analysis":
        title = clean(title or "")[:2000]
        body = clean(body or "")
        title_surfaces, body_surfaces = scan(title), scan(body)
        body_tokens, folded_body = _fold_joined(body_surfaces)
        return cls(
            title=title,
            body=body,
            declared_language=declared_language,
            title_surfaces=title_surfaces,
            body_surfaces=body_surfaces,
            title_tokens=fold_tokens(title_surfaces),
            body_tokens=body_tokens,
            folded_body=folded_body,
        )

    @cached_property
    def text(self) -> str:
        return f"{self.title}\n\n{self.body}" if self.title else self.body

    @cached_property
    def tokens(self) -> list[str]:
        """Folded tokens of title then body (with breaks)."""
        return self.title_tokens + [BREAK] + self.body_tokens

    @cached_property
    def words(self) -> list[str]:
        """Folded tokens without breaks."""
        return list(filter(None, self.tokens))

    @cached_property
    def vocabulary(self) -> AbstractSet[str]:
        """The distinct folded words (read-only: the steps share it). One set built in place
        from the token lists: a frozenset union and difference copied it twice (~35% more)."""
        words = set(self.title_tokens)
        words.update(self.body_tokens)
        words.discard(BREAK)
        return words


@lru_cache(maxsize=65536)
def fold_word(word: str) -> str:
    """fold() of one short string, cached: names and titles repeat across articles."""
    return fold(word)


_fold_joined_in_c = c_function("fold_joined")
if _fold_joined_in_c is not None:
    def fold_joined_c(tokens: list[str]) -> tuple[list[str], str]:
        return _fold_joined_in_c(tokens, fold_word, _SEP)
else:
    fold_joined_c = None
_fold_joined = fold_joined_c or _fold_joined_python
