"""Validation and translation of subscription queries.

A subscription query is a subset of the Lucene query-string syntax that
Elasticsearch's ``query_string`` understands, so that an alert catches exactly
what the same query finds in a search:

* words, ``AND`` / ``OR`` / ``NOT`` (also ``&&``, ``||``, ``!``, ``+``, ``-``),
  parentheses; juxtaposed words are ORed as in Lucene and Kibana
  (``DEFAULT_OPERATOR``): write ``AND`` or ``+word`` to require a word;
* ``"phrases"`` and proximity ``"armed forces"~3``;
* trailing wildcards (``venezuel*``), with at least ``MIN_PREFIX`` characters;
* the fields ``title:`` ``text:`` ``source:`` (site domain) ``topic:``
  ``lang:`` ``entity:`` (exact, case- and accent-insensitive: ``entity:"Nicolás Maduro"``).

Refused, with the character position of the problem (``QueryRejected``):
leading or inner wildcards and ``?`` (they scan the whole term dictionary),
regular expressions, fuzzy terms, ranges, boosts, unknown fields, unbalanced
parentheses or quotes, dangling operators, and queries beyond the size bounds.

The parser is a small tokenizer + recursive descent that follows the Lucene
classic grammar (``Query := (Conjunction? Modifier? Clause)*``); it does not
rebuild the query text: ``to_es_query_string`` only rewrites the user field
names in place, so Elasticsearch parses exactly what the user wrote.
``parse`` also returns a tiny AST the matcher uses to pre-select candidate
subscriptions (``processors.matcher.anchors``) and to highlight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import structlog

from processors.search import SEARCH_FIELDS

log = structlog.get_logger(__name__)

# User-facing field -> field of the article index (deploy/elasticsearch/:
# `topic` and `lang` are aliases there, so a query reads the same in Kibana).
FIELDS: dict[str, str] = {
    "title": "title",
    "text": "text",
    "source": "source",
    "topic": "topic",
    "lang": "lang",
    "entity": "entity",
}
# What an unfielded word searches and how words combine: the very settings of
# `wirewatch search` (processors/search.py), so that an alert catches exactly
# what the same query finds there (and in Kibana's Lucene mode: OR).
DEFAULT_FIELDS: list[str] = list(SEARCH_FIELDS)
DEFAULT_OPERATOR = "OR"

MAX_QUERY_CHARS = 2000
MAX_CLAUSES = 100
MAX_DEPTH = 16
MAX_SLOP = 50
MIN_PREFIX = 2

_OPERATORS = {"AND": "AND", "OR": "OR", "NOT": "NOT", "&&": "AND", "||": "OR"}
# Characters that end a word (Lucene's special characters, except + - which
# only count at the start of a word).
_WORD_END = set(' \t\r\n\u3000()"')
_SPECIAL_IN_WORD = {
    "~": "fuzzy terms (~) are not supported; for proximity put the words in quotes: \"a b\"~3",
    "^": "boosts (^) are not supported in subscriptions",
    "/": "regular expressions (/.../) are not supported; escape a literal slash as \\/",
    "[": "ranges ([a TO b]) are not supported",
    "]": "unexpected ']'",
    "{": "ranges ({a TO b}) are not supported",
    "}": "unexpected '}'",
    "!": "'!' inside a word: escape it as \\! or put a space before it",
    ":": "unexpected ':'",
}


class QueryRejected(ValueError):
    """A subscription query that cannot be saved; ``position`` is the 0-based
    character offset of the problem in the query text."""

    def __init__(self, message: str, position: int):
        super().__init__(message, position)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.message} (at position {self.position})"

    def pointer(self, query: str) -> str:
        """The query with a caret under the problem, for terminals."""
        line = query.replace("\n", " ").replace("\t", " ")
        return f"{line}\n{' ' * min(self.position, len(line))}^"


# --- tokens -------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str   # LPAREN RPAREN OP MOD FIELD WORD PHRASE
    text: str   # operator name, field name, word (unescaped) or phrase content
    pos: int
    end: int
    slop: int | None = None
    prefix: bool = False   # WORD ending in '*'


def tokenize(query: str) -> list[Token]:
    if len(query) > MAX_QUERY_CHARS:
        raise QueryRejected(f"query is longer than {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS)
    tokens: list[Token] = []
    i = 0
    while i < len(query):
        ch = query[i]
        if ch in " \t\r\n\u3000":
            i += 1
        elif ch == "(":
            tokens.append(Token("LPAREN", ch, i, i + 1))
            i += 1
        elif ch == ")":
            tokens.append(Token("RPAREN", ch, i, i + 1))
            i += 1
        elif ch == '"':
            token = _read_phrase(query, i)
            tokens.append(token)
            i = token.end
        elif query.startswith("&&", i) or query.startswith("||", i):
            tokens.append(Token("OP", _OPERATORS[query[i:i + 2]], i, i + 2))
            i += 2
        elif ch in "+-!":
            tokens.append(Token("MOD", {"+": "+", "-": "NOT", "!": "NOT"}[ch], i, i + 1))
            i += 1
        else:
            token = _read_word(query, i)
            tokens.append(token)
            i = token.end
    return tokens


def _read_phrase(query: str, start: int) -> Token:
    i = start + 1
    chars: list[str] = []
    while i < len(query) and query[i] != '"':
        if query[i] == "\\" and i + 1 < len(query):
            chars.append(query[i + 1])
            i += 2
            continue
        chars.append(query[i])
        i += 1
    if i >= len(query):
        raise QueryRejected("unterminated phrase: this quote is never closed", start)
    end = i + 1
    slop = None
    if end < len(query) and query[end] == "~":
        digits = re.match(r"\d+", query[end + 1:])
        if not digits:
            raise QueryRejected("proximity needs a whole number of words after '~', like \"a b\"~3", end)
        slop = int(digits.group())
        if slop > MAX_SLOP:
            raise QueryRejected(f"proximity larger than {MAX_SLOP} words", end + 1)
        end += 1 + len(digits.group())
    if end < len(query) and query[end] not in _WORD_END:
        raise QueryRejected(f"unexpected {query[end]!r} after a phrase (put a space before it)", end)
    content = "".join(chars)
    if not content.strip():
        raise QueryRejected("empty phrase", start)
    return Token("PHRASE", content, start, end, slop=slop)


def _read_word(query: str, start: int) -> Token:
    """A word, a field name (word followed by ':') or an operator."""
    if query[start] in "*?":
        raise QueryRejected("leading wildcards are not supported (they scan every word of the index)", start)
    if query[start] in "<>=":
        raise QueryRejected("ranges (<, >, =) are not supported", start)
    i = start
    chars: list[str] = []
    wildcard_at: int | None = None
    while i < len(query) and query[i] not in _WORD_END:
        ch = query[i]
        if ch == "\\":
            if i + 1 >= len(query):
                raise QueryRejected("a backslash must escape a character", i)
            chars.append(query[i + 1])
            i += 2
            continue
        if ch == ":":
            if wildcard_at is not None or not chars:
                raise QueryRejected("unexpected ':'", i)
            return _field_token(query, start, i, "".join(chars))
        if ch in _SPECIAL_IN_WORD:
            raise QueryRejected(_SPECIAL_IN_WORD[ch], i)
        if ch == "?":
            raise QueryRejected("the single-character wildcard '?' is not supported; use a trailing '*'", i)
        if ch == "*":
            if wildcard_at is not None:
                raise QueryRejected("only one wildcard, at the end of a word, is supported", i)
            wildcard_at = i
        elif wildcard_at is not None:
            raise QueryRejected("wildcards are only supported at the end of a word", wildcard_at)
        chars.append(ch)
        i += 1
    word = "".join(chars)
    if word in _OPERATORS:
        return Token("OP" if word != "NOT" else "MOD", _OPERATORS[word], start, i)
    if wildcard_at is not None:
        stem = word[:-1]
        if len(stem) < MIN_PREFIX:
            raise QueryRejected(f"a wildcard needs at least {MIN_PREFIX} characters before it", start)
        return Token("WORD", stem, start, i, prefix=True)
    return Token("WORD", word, start, i)


def _field_token(query: str, start: int, colon: int, name: str) -> Token:
    if name not in FIELDS:
        raise QueryRejected(f"unknown field {name!r}; known fields: {', '.join(FIELDS)}", start)
    after = colon + 1
    if after >= len(query) or query[after] in " \t\r\n\u3000)":
        raise QueryRejected(f"field {name}: needs a word, a phrase or a group right after the ':'", after)
    return Token("FIELD", name, start, after)


# --- syntax tree --------------------------------------------------------------------

@dataclass
class Word:
    field: str | None
    text: str
    prefix: bool = False


@dataclass
class Phrase:
    field: str | None
    text: str
    slop: int | None = None


@dataclass
class Group:
    """One parenthesis level: clauses with their modifier (None, '+', 'NOT')."""
    clauses: list[tuple[str | None, Any]] = field(default_factory=list)
    has_or: bool = False
    has_and: bool = False
    has_juxtaposition: bool = False   # two clauses with no AND/OR between them

    @property
    def all_and(self) -> bool:
        """Every clause joined by AND: Lucene makes each positive one required."""
        return not self.has_or and not self.has_juxtaposition


@dataclass
class ParsedQuery:
    source: str
    tokens: list[Token]
    root: Group
    fields_used: set[str]


def parse(query: str) -> ParsedQuery:
    """Validate ``query``; raise QueryRejected pointing at the first problem."""
    if not isinstance(query, str) or not query.strip():
        raise QueryRejected("the query is empty", 0)
    tokens = tokenize(query)
    parser = _Parser(tokens, len(query))
    root = parser.group(depth=0)
    if parser.i < len(tokens):  # a ')' with no '(' stopped the group
        raise QueryRejected("unbalanced ')': no '(' opens it", tokens[parser.i].pos)
    if parser.clauses > MAX_CLAUSES:
        raise QueryRejected(f"more than {MAX_CLAUSES} words and phrases", len(query))
    if not _has_positive(root):
        raise QueryRejected("the query only excludes words; say what it should match too", 0)
    return ParsedQuery(query, tokens, root, parser.fields_used)


class _Parser:
    def __init__(self, tokens: list[Token], length: int):
        self.tokens = tokens
        self.length = length
        self.i = 0
        self.clauses = 0
        self.fields_used: set[str] = set()

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def group(self, depth: int, opened_at: int | None = None) -> Group:
        if depth > MAX_DEPTH:
            raise QueryRejected(f"parentheses nested deeper than {MAX_DEPTH}", opened_at or 0)
        group = Group()
        pending_op: Token | None = None
        while (tok := self.peek()) is not None and tok.kind != "RPAREN":
            if tok.kind == "OP":
                if not group.clauses:
                    raise QueryRejected(f"{tok.text} needs something before it", tok.pos)
                if pending_op is not None:
                    raise QueryRejected(f"{tok.text} right after {pending_op.text}", tok.pos)
                pending_op = tok
                group.has_or |= tok.text == "OR"
                group.has_and |= tok.text == "AND"
                self.i += 1
                continue
            if group.clauses and pending_op is None:
                group.has_juxtaposition = True
            modifier = self.modifier()
            clause = self.clause(depth, field_name=None)
            group.clauses.append((modifier, clause))
            pending_op = None
        if pending_op is not None:
            raise QueryRejected(f"{pending_op.text} needs something after it", pending_op.pos)
        if not group.clauses:
            where = opened_at if opened_at is not None else 0
            raise QueryRejected("empty group: nothing between the parentheses" if opened_at is not None else "the query is empty", where)
        return group

    def modifier(self) -> str | None:
        tok = self.peek()
        if tok is None or tok.kind != "MOD":
            return None
        self.i += 1
        following = self.peek()
        if following is None or following.kind in ("RPAREN", "OP"):
            raise QueryRejected(f"{tok.text if tok.text != '+' else '+'} needs a word, a phrase or a group after it", tok.pos)
        if following.kind == "MOD":
            raise QueryRejected("two modifiers in a row (like NOT NOT, +-)", following.pos)
        return tok.text

    def clause(self, depth: int, field_name: str | None) -> Any:
        tok = self.peek()
        if tok is None:
            raise QueryRejected("the query ends where a word was expected", self.length)
        self.i += 1
        if tok.kind == "FIELD":
            nxt = self.peek()
            if nxt is None or nxt.kind not in ("WORD", "PHRASE", "LPAREN") or nxt.pos != tok.end:
                raise QueryRejected(f"field {tok.text}: needs a word, a phrase or a group right after the ':'", tok.end)
            self.fields_used.add(tok.text)
            return self.clause(depth, field_name=tok.text)
        if tok.kind == "WORD":
            self.clauses += 1
            return Word(field_name, tok.text, tok.prefix)
        if tok.kind == "PHRASE":
            self.clauses += 1
            return Phrase(field_name, tok.text, tok.slop)
        if tok.kind == "LPAREN":
            inner = self.group(depth + 1, opened_at=tok.pos)
            closing = self.peek()
            if closing is None or closing.kind != "RPAREN":
                raise QueryRejected("unbalanced '(': it is never closed", tok.pos)
            self.i += 1
            if field_name is not None:
                return _with_field(inner, field_name)
            return inner
        raise QueryRejected(f"unexpected {tok.text!r}", tok.pos)  # pragma: no cover - RPAREN/OP handled by callers


def _with_field(group: Group, field_name: str) -> Group:
    """Lucene applies ``f:(a b)`` to the inner words that have no field of their own."""
    for _, clause in group.clauses:
        if isinstance(clause, (Word, Phrase)) and clause.field is None:
            clause.field = field_name
        elif isinstance(clause, Group):
            _with_field(clause, field_name)
    return group


def _has_positive(group: Group) -> bool:
    return any(mod != "NOT" and (not isinstance(c, Group) or _has_positive(c)) for mod, c in group.clauses)


# --- uses --------------------------------------------------------------------------

def validate(query: str, es: Any = None, index: str | None = None) -> ParsedQuery:
    """Check ``query``; with a sync Elasticsearch client, also ask the server
    (``indices.validate_query``) to parse it against ``index``."""
    parsed = parse(query)
    if es is not None and index is not None:
        _validate_on_server(es, index, parsed)
    return parsed


def _validate_on_server(es: Any, index: str, parsed: ParsedQuery) -> None:
    from elasticsearch import NotFoundError

    try:
        answer = es.indices.validate_query(index=index, query=query_string_clause(parsed), explain=True)
    except NotFoundError:
        log.info("query_validation.no_index", index=index)  # nothing indexed yet: the local check stands
        return
    if answer.get("valid"):
        return
    explanations = answer.get("explanations") or [{}]
    reason = explanations[0].get("error") or "Elasticsearch refused the query"
    raise QueryRejected(f"Elasticsearch refused the query: {reason[:300]}", 0)


def to_es_query_string(parsed: ParsedQuery | str) -> str:
    """The query text with user field names replaced by index field names."""
    if isinstance(parsed, str):
        parsed = parse(parsed)
    out: list[str] = []
    last = 0
    for tok in parsed.tokens:
        if tok.kind == "FIELD":
            out.append(parsed.source[last:tok.pos])
            out.append(FIELDS[tok.text].replace("*", "\\*") + ":")
            last = tok.end
    out.append(parsed.source[last:])
    return "".join(out)


def query_string_clause(parsed: ParsedQuery | str, fields: Sequence[str] | None = None) -> dict:
    """The Elasticsearch ``query_string`` clause for a subscription query: the
    matcher, `subs test` and the equivalence tests all build it here.
    ``fields`` narrows DEFAULT_FIELDS (the matcher drops the fields no document
    of its batch has: they cannot match, and each one costs query time)."""
    return {
        "query_string": {
            "query": to_es_query_string(parsed),
            "fields": list(DEFAULT_FIELDS if fields is None else fields),
            "default_operator": DEFAULT_OPERATOR,
            "allow_leading_wildcard": False,
            "lenient": False,
        }
    }
