"""Text helpers shared by the enrichment steps: one tokenisation, one folding.

Every step sees the same tokens so that a topic term, a query term and a
keyword agree on what a "word" is. Folding lowercases and strips Latin
diacritics ("López" -> "lopez") but keeps other scripts intact: removing
every combining mark would break Devanagari or Thai words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

# Bounds: enrichment never looks past this many characters of one article.
MAX_TEXT_CHARS = 60_000

# Letters and digits, plus the combining marks that Python's \w leaves out but
# that sit inside words of Indic, Thai, Myanmar, Hebrew and Arabic text.
_MARKS = "\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0670\u0900-\u0963\u0966-\u0dff\u0e00-\u0eff\u1000-\u109f"
WORD_RE = re.compile(rf"(?:[^\W_]|[{_MARKS}])+", re.UNICODE)
_LATIN_MARKS_RE = re.compile(r"[\u0300-\u036f]")
# Control characters and other junk that binary payloads bring along.
_JUNK_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd\ud800-\udfff]")
_SEP = "\x01"


def clean(text: str) -> str:
    """Drop control characters and lone surrogates; cap the length."""
    if not text:
        return ""
    return _JUNK_RE.sub(" ", text[:MAX_TEXT_CHARS])


def fold(text: str) -> str:
    """Lowercase and strip Latin diacritics; other scripts unchanged."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    stripped = _LATIN_MARKS_RE.sub("", unicodedata.normalize("NFD", lowered))
    return unicodedata.normalize("NFC", stripped)


def words(text: str) -> list[str]:
    """Surface word tokens (letters and digits runs) in order."""
    return WORD_RE.findall(text)


def fold_tokens(tokens: list[str]) -> list[str]:
    """Fold many tokens with one normalisation call (the separator survives NFC/NFD)."""
    if not tokens:
        return []
    folded = fold(_SEP.join(tokens)).split(_SEP)
    if len(folded) != len(tokens):  # pragma: no cover - defensive: fold per token
        return [fold(t) for t in tokens]
    return folded


def tokenize(text: str) -> list[str]:
    """Folded tokens of a text: what matching and statistics work on."""
    return fold_tokens(words(text))


@dataclass
class Analysis:
    """One article's text, tokenised once and shared by every step."""

    title: str
    body: str
    declared_language: str | None = None
    title_tokens: list[str] = field(default_factory=list)
    body_tokens: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, title: str, body: str, declared_language: str | None = None) -> "Analysis":
        title = clean(title or "")[:2000]
        body = clean(body or "")
        return cls(
            title=title,
            body=body,
            declared_language=declared_language,
            title_tokens=tokenize(title),
            body_tokens=tokenize(body),
        )

    @cached_property
    def text(self) -> str:
        return f"{self.title}\n\n{self.body}" if self.title else self.body

    @cached_property
    def tokens(self) -> list[str]:
        """Folded tokens of title then body."""
        return self.title_tokens + self.body_tokens

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.tokens)
