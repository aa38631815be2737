"""The boolean query syntax of alert subscriptions and user topics.

    venezuela AND (maduro OR "armed forces") NOT colombia*

- Terms match whole words after folding (case and Latin accents ignored:
  ``lopez`` matches "López"). A trailing ``*`` matches any word starting
  with the prefix (``militar*``). A term that the tokeniser splits
  (``covid-19``) is a phrase.
- ``"quoted words"`` match consecutive words.
- ``AND``, ``OR``, ``NOT`` (upper case, as in Lucene and Elasticsearch; lower
  case words are ordinary terms), parentheses. Words side by side without an
  operator are ANDed. ``NOT`` binds tightest, then ``AND``, then ``OR``.
- A leading ``-`` or ``!`` is ``NOT`` (``maduro -colombia``); ``&&`` and ``||``
  are ``AND`` and ``OR``; a leading ``+`` is accepted (terms are required
  anyway); ``"a b"~N`` is read as the exact phrase; ``title:`` and ``text:``
  are accepted and mean the whole article. This is the subset of the alert
  subscription syntax (processors/query_validation.py) that makes sense
  against one article's words.

`parse(text)` returns a `Query`; malformed input raises `QuerySyntaxError`
whose message names the problem and the character position (0-based).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Iterable, Union

from processors.enrich.text import fold, tokenize

MAX_QUERY_CHARS = 4000
MAX_TERMS = 256
MAX_DEPTH = 32
MIN_PREFIX_CHARS = 2


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; `.position` is the 0-based character offset."""

    def __init__(self, message: str, position: int, query: str = ""):
        self.position = position
        self.reason = message
        super().__init__(f"{message} at position {position}" + (f": {_pointer(query, position)}" if query else ""))


def _pointer(query: str, position: int) -> str:
    start = max(0, position - 20)
    return f"...{query[start:position]}>>>{query[position:position + 20]}..." if start else f"{query[:position]}>>>{query[position:position + 20]}"


# ---------------------------------------------------------------- documents

class Document:
    """The folded words of one text, indexed for term, prefix and phrase tests."""

    __slots__ = ("tokens", "vocabulary", "_sorted", "_positions")

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.vocabulary = frozenset(tokens)
        self._sorted: list[str] | None = None
        self._positions: dict[str, list[int]] | None = None

    @classmethod
    def of_text(cls, text: str) -> "Document":
        return cls(tokenize(text))

    def has_prefix(self, prefix: str) -> str | None:
        """One word starting with prefix, or None."""
        if self._sorted is None:
            self._sorted = sorted(self.vocabulary)
        i = bisect.bisect_left(self._sorted, prefix)
        if i < len(self._sorted) and self._sorted[i].startswith(prefix):
            return self._sorted[i]
        return None

    def has_phrase(self, words: tuple[str, ...]) -> bool:
        if any(w not in self.vocabulary for w in words):
            return False
        if self._positions is None:
            positions: dict[str, list[int]] = {}
            for i, tok in enumerate(self.tokens):
                positions.setdefault(tok, []).append(i)
            self._positions = positions
        n = len(words)
        tokens = self.tokens
        for start in self._positions[words[0]]:
            if tuple(tokens[start:start + n]) == words:
                return True
        return False


# ---------------------------------------------------------------- the tree

@dataclass(frozen=True)
class Term:
    word: str            # folded
    prefix: bool = False
    text: str = ""       # as the user wrote it

    def evaluate(self, doc: Document, hits: list[str] | None) -> bool:
        if self.prefix:
            found = doc.has_prefix(self.word)
            if found and hits is not None:
                hits.append(found)
            return found is not None
        ok = self.word in doc.vocabulary
        if ok and hits is not None:
            hits.append(self.word)
        return ok


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]
    text: str = ""

    def evaluate(self, doc: Document, hits: list[str] | None) -> bool:
        ok = doc.has_phrase(self.words)
        if ok and hits is not None:
            hits.append(" ".join(self.words))
        return ok


@dataclass(frozen=True)
class Not:
    child: "Node"

    def evaluate(self, doc: Document, hits: list[str] | None) -> bool:
        return not self.child.evaluate(doc, None)


@dataclass(frozen=True)
class And:
    children: tuple["Node", ...]

    def evaluate(self, doc: Document, hits: list[str] | None) -> bool:
        local: list[str] | None = [] if hits is not None else None
        for child in self.children:
            if not child.evaluate(doc, local):
                return False
        if hits is not None and local:
            hits.extend(local)
        return True


@dataclass(frozen=True)
class Or:
    children: tuple["Node", ...]

    def evaluate(self, doc: Document, hits: list[str] | None) -> bool:
        matched = False
        for child in self.children:
            # Keep going after the first hit only to collect every matching term.
            if child.evaluate(doc, hits):
                matched = True
                if hits is None:
                    return True
        return matched


Node = Union[Term, Phrase, Not, And, Or]


@dataclass(frozen=True)
class Query:
    text: str
    root: Node
    terms: tuple[str, ...] = field(default=())

    def matches(self, doc: Document) -> bool:
        return self.root.evaluate(doc, None)

    def matched_terms(self, doc: Document) -> list[str]:
        """The positive terms that made the query match; [] when it does not."""
        hits: list[str] = []
        if not self.root.evaluate(doc, hits):
            return []
        return list(dict.fromkeys(hits))


# ---------------------------------------------------------------- lexer

@dataclass(frozen=True)
class _Token:
    kind: str   # WORD PHRASE AND OR NOT LPAREN RPAREN MINUS END
    value: str
    pos: int


_OPERATORS = {"AND": "AND", "OR": "OR", "NOT": "NOT", "&&": "AND", "||": "OR"}
_SLOP_RE = re.compile(r"~\d{1,3}")
# Fields of the alert syntax that a topic query can honour: both mean "the article's words".
_TEXT_FIELDS = ("title:", "text:")
_WORD_END = set(' \t\r\n()"')


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            tokens.append(_Token("LPAREN", ch, i)); i += 1
        elif ch == ")":
            tokens.append(_Token("RPAREN", ch, i)); i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError("unterminated quoted phrase", i, text)
            tokens.append(_Token("PHRASE", text[i + 1:end], i)); i = end + 1
            slop = _SLOP_RE.match(text, i)
            if slop:  # '"a b"~3' (proximity): treated as the exact phrase, a stricter test
                i = slop.end()
        elif ch in "-!" and (i + 1 < n and text[i + 1] not in " \t\r\n)"):
            tokens.append(_Token("MINUS", ch, i)); i += 1
        elif ch == "+" and (i + 1 < n and text[i + 1] not in " \t\r\n)"):
            i += 1  # "+term": required, which every ANDed term already is
        else:
            start = i
            while i < n and text[i] not in _WORD_END:
                i += 1
            word = text[start:i]
            field = word.lower()
            if field in _TEXT_FIELDS:
                continue  # "title:maduro" / 'text:"armed forces"': the field is the whole article here
            if ":" in word[1:] and word.split(":", 1)[0].isalpha() and not word.endswith(":"):
                name = word.split(":", 1)[0]
                if name.lower() + ":" in _TEXT_FIELDS:
                    tokens.append(_Token("WORD", word.split(":", 1)[1], start + len(name) + 1))
                    continue
                raise QuerySyntaxError(f"field {name!r} cannot be used in a topic query (only title: and text:)", start, text)
            kind = _OPERATORS.get(word, "WORD")
            tokens.append(_Token(kind, word, start))
    tokens.append(_Token("END", "", n))
    return tokens


# ---------------------------------------------------------------- parser

class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _lex(text)
        self.i = 0
        self.depth = 0
        self.terms: list[str] = []

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: _Token) -> QuerySyntaxError:
        return QuerySyntaxError(message, tok.pos, self.text)

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise self.error("empty query", self.peek())
        node = self.parse_or()
        tok = self.peek()
        if tok.kind == "RPAREN":
            raise self.error("unbalanced ')'", tok)
        if tok.kind != "END":  # pragma: no cover - every other token starts an operand
            raise self.error(f"unexpected {tok.value!r}", tok)
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.peek().kind == "OR":
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        first = self.peek()
        children = [self.parse_not()]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
                children.append(self.parse_not())
            elif kind in ("WORD", "PHRASE", "NOT", "LPAREN", "MINUS"):
                children.append(self.parse_not())  # implicit AND
            else:
                break
        if all(isinstance(c, Not) for c in children):
            raise self.error("a query cannot be only negations: add a term to match", first)
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_not(self) -> Node:
        tok = self.peek()
        if tok.kind in ("NOT", "MINUS"):
            self.take()
            return Not(self.parse_not())
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "LPAREN":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"parentheses nested deeper than {MAX_DEPTH}", tok)
            if self.peek().kind == "RPAREN":
                raise self.error("empty parentheses", self.peek())
            node = self.parse_or()
            close = self.take()
            if close.kind != "RPAREN":
                raise self.error("'(' is never closed", tok)
            self.depth -= 1
            return node
        if tok.kind == "WORD":
            return self.word(tok)
        if tok.kind == "PHRASE":
            return self.phrase(tok)
        if tok.kind == "END":
            raise self.error("query ends where a term was expected", tok)
        if tok.kind == "RPAREN":
            raise self.error("')' where a term was expected", tok)
        raise self.error(f"operator {tok.value} where a term was expected", tok)

    def count_term(self, tok: _Token) -> None:
        self.terms.append(tok.value)
        if len(self.terms) > MAX_TERMS:
            raise self.error(f"more than {MAX_TERMS} terms", tok)

    def word(self, tok: _Token) -> Node:
        self.count_term(tok)
        raw = tok.value
        prefix = raw.endswith("*")
        body = raw.rstrip("*") if prefix else raw
        if "*" in body or "?" in body:
            raise self.error("wildcards are only allowed at the end of a word", tok)
        words = tokenize(body)
        if not words:
            raise self.error(f"{raw!r} has no letters or digits to match", tok)
        if prefix:
            if len(words) != 1:
                raise self.error(f"a wildcard needs one plain word before '*', not {body!r}", tok)
            if len(words[0]) < MIN_PREFIX_CHARS:
                raise self.error(f"a wildcard needs at least {MIN_PREFIX_CHARS} characters before '*'", tok)
            return Term(words[0], prefix=True, text=raw)
        if len(words) == 1:
            return Term(words[0], text=raw)
        return Phrase(tuple(words), text=raw)

    def phrase(self, tok: _Token) -> Node:
        self.count_term(tok)
        words = tokenize(tok.value)
        if not words:
            raise self.error("empty quoted phrase", tok)
        if len(words) == 1:
            return Term(words[0], text=tok.value)
        return Phrase(tuple(words), text=tok.value)


def parse(text: str) -> Query:
    """Parse a query; raise QuerySyntaxError (with a position) when it is malformed."""
    if not isinstance(text, str):
        raise QuerySyntaxError("a query must be text", 0)
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"query longer than {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS)
    parser = _Parser(text)
    root = parser.parse()
    return Query(text=text, root=root, terms=tuple(parser.terms))


def matches(query: str | Query, text_or_tokens: str | Iterable[str]) -> bool:
    """Convenience: does a query (text or parsed) match a text or folded tokens?"""
    q = parse(query) if isinstance(query, str) else query
    doc = Document.of_text(text_or_tokens) if isinstance(text_or_tokens, str) else Document(list(text_or_tokens))
    return q.matches(doc)


__all__ = ["Document", "Query", "QuerySyntaxError", "fold", "matches", "parse"]
