"""People, organisations and places, offline, from capitalisation and data.

No model: a capitalised-sequence finder (accented letters, hyphens, name
particles such as "de", "del", "van", "of the") followed by rules, so it
costs well under a millisecond per article and works the same in English
and Spanish:

- titles ("President", "First Sergeant", "Minister of Defense") are cut off
  and make the rest a person;
- org cues ("Guard", "Party", "Ministry", "Fuerzas") make an organisation,
  a demonym in it gives its country ("Venezuelan Armed Forces" -> VE);
- places come from a gazetteer shipped as data (ISO 3166 country names in six
  languages, GeoNames cities over 250,000 people, aliases and regions);
- "Expansion (ACR)" and "ACR (Expansion)" link an acronym to its name;
- a sentence's first word is dropped when it is a common word ("The", "In");
  lone common words ("Father", "Republic") are not entities;
- later partial mentions ("López", "Flores Ortiz") count for the full name.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass
from operator import attrgetter

from pydantic import TypeAdapter

from processors.enrich.data import read_background, read_table, read_word_list, stopwords
from processors.enrich.native import c_function
from processors.enrich.text import fold, fold_word
from wirewatch.schema import Entity

MAX_ENTITIES = 30
COMMON_ZIPF = 4.3          # a word at least this frequent is "common" (Zipf scale)
VERY_COMMON_ZIPF = 4.8     # a multi-word name of only such words is not a person
CITY_COMMON_WORD_ZIPF = 4.0
BIG_CITY_POPULATION = 1_000_000   # a city this big keeps its name even if it is a common word
MAX_ACRONYM = 8
DECISION_CACHE_SIZE = 100_000   # sequences ("The", "Mr Blair", "BBC") repeat across articles

# Uppercase letters of Latin, Greek and Cyrillic: Python's re has no \p{Lu}.
_UPPER = "".join(ch for ch in map(chr, range(0x41, 0x530)) if ch.isupper() and ch.isalpha())
_LETTER = r"[^\W\d_]"
_BLANK = r"[ \t\u00a0]"
_PARTICLES = r"of the|of|de la|de los|de las|del|de|da|do|dos|das|van der|van|von|der|bin|ibn|al|el|la|le|du|des|y"
_SENTENCE_END = ".!?:;\n\"“”«»—–-•|(["


def _name_pattern(letter: str, capital: str, blank: str) -> tuple[str, str]:
    """(the rest of a name word after its capital, the name words that may follow it),
    for these character classes.

    Every repeat is possessive (*+, ++): what follows a run of letters, blanks or
    name words can never start with another of them, so giving some back cannot
    make a match, and re need not keep track of them. The lookahead skips the
    particle alternatives unless the next word can start one or be a name."""
    word_rest = rf"{letter}*+(?:[-'’]{capital}{letter}*+)*+"
    initials = re.escape("".join(sorted({p[0] for p in _PARTICLES.split("|")})))
    more_words = rf"(?:{blank}++(?=[{initials}]|{capital})(?:(?:{_PARTICLES}){blank}++)?{capital}{word_rest})*+"
    return word_rest, more_words


_CAPITAL = rf"[{re.escape(_UPPER)}]"
_NAME_WORD_REST, _MORE_NAME_WORDS = _name_pattern(_LETTER, _CAPITAL, _BLANK)
SEQUENCE_RE = re.compile(rf"{_CAPITAL}{_NAME_WORD_REST}{_MORE_NAME_WORDS}")
_ACRONYM = rf"[{re.escape(_UPPER)}][{re.escape(_UPPER)}&]{{1,{MAX_ACRONYM - 1}}}"
ACRONYM_WINDOW = 160
_ACRONYM_RE = re.compile(_ACRONYM)
_PAREN_RE = re.compile(r"\(([^()\n]{2,120})\)")
_TRAILING_SEQUENCE_RE = re.compile(rf"({SEQUENCE_RE.pattern})[ \t]*$")
_NAME_CHARS_RE = re.compile(r"(?:[^\W\d_]|[ \t\u00a0'’-])*")   # what a capitalised sequence is made of
_TRAILING_ACRONYM_RE = re.compile(rf"\b({_ACRONYM})[ \t]*$")
_PARTICLE_WORDS = frozenset(_PARTICLES.replace(" ", "|").split("|"))


def _mention_re(uppers: str, letter: str, blank: str, sentence_end: str) -> re.Pattern:
    """A match is a capitalised sequence, preceded by the sentence-ending character
    and blanks before it when there are some: ". Maduro" starts a sentence, "Maduro"
    does not.

    _mentions_python finds mentions by one findall (C) and counts them with a
    Counter, so that Python handles each distinct mention once (_ctext.c
    mention_counts walks the same grammar, faster still). No groups: findall
    then returns plain strings, cheaper to build and count than tuples. The pattern starts
    with one character class, so that re's search skips in C to the next
    capital or punctuation mark (a leading optional group would make it try
    every position)."""
    capital = f"[{re.escape(uppers)}]"
    word_rest, more_words = _name_pattern(letter, capital, blank)
    end = f"[{re.escape(sentence_end)}]"
    return re.compile(rf"[{re.escape(sentence_end + uppers)}]"
                      rf"(?:(?<={end}){blank}*+{capital}{word_rest}{more_words}|(?<={capital}){word_rest}{more_words})")


_MENTION_RE = _mention_re(_UPPER, _LETTER, _BLANK, _SENTENCE_END)
# The same for ASCII text, where these plain classes match exactly what the
# Unicode ones do, but are tested from a bitmap instead of Unicode tables:
# about a fifth faster, and most English news is ASCII.
_ASCII_MENTION_RE = _mention_re(string.ascii_uppercase, "[a-zA-Z]", "[ \t]",
                                "".join(ch for ch in _SENTENCE_END if ch.isascii()))
# _MENTION_RE with what surrounds a mention, for articles with acronyms (whose
# "(GNB)" after "Bolivarian National Guard" is not a mention of its own):
# (the first character, the blanks after it, the sequence after a sentence end,
# or else the rest of it after the capital, a ")" right after it or "").
_SENTENCE_END_CLASS = f"[{re.escape(_SENTENCE_END)}]"
_MENTION_IN_CONTEXT_RE = re.compile(
    rf"([{re.escape(_SENTENCE_END + _UPPER)}])(?:(?<={_SENTENCE_END_CLASS})({_BLANK}*)({SEQUENCE_RE.pattern})"
    rf"|(?<={_CAPITAL})({_NAME_WORD_REST}{_MORE_NAME_WORDS}))(?=([ \t]{{0,2}}\))?)")


# Validating the article's entities as one list costs about half of building
# them one by one (pydantic-core loops over the list in Rust).
_ENTITY_LIST = TypeAdapter(list[Entity])


@dataclass(slots=True)
class _Found:
    text: str
    key: tuple[str, ...]
    type: str
    country: str | None
    count: int
    first: int


class Gazetteer:
    """Folded place name -> ISO 3166-1 alpha-2 code; demonyms separately."""

    def __init__(self) -> None:
        background = read_background("en")
        self.places: dict[str, str] = {}
        for code, name, *_ in read_table("gazetteer/countries.tsv"):
            self.places.setdefault(fold(name), code)
        for code, name in (row[:2] for row in read_table("gazetteer/aliases.tsv")):
            self.places.setdefault(fold(name), code)
        for code, name, *rest in read_table("gazetteer/cities.tsv"):
            key = fold(name)
            population = int(rest[0]) if rest and rest[0].isdigit() else 0
            # "Reading", "Nice", "Mobile": smaller cities named like common words stay out.
            if background.get(key, 0.0) < CITY_COMMON_WORD_ZIPF or population >= BIG_CITY_POPULATION:
                self.places.setdefault(key, code)
        self.demonyms = {fold(name): code for name, code in read_table("gazetteer/demonyms.tsv")}

    def place(self, folded_name: str) -> str | None:
        return self.places.get(folded_name)


class EntityExtractor:
    """Built once per worker (loads the gazetteer); `extract(title, body)` is pure."""

    def __init__(self, gazetteer: Gazetteer | None = None):
        self.gazetteer = gazetteer or Gazetteer()
        self.titles = read_word_list("entities/titles.txt")
        self.org_cues = read_word_list("entities/org_cues.txt")
        self.never = read_word_list("entities/not_entities.txt")
        # English frequencies only: Spanish lists rank surnames (López, Flores)
        # as common words; Spanish function words come from the stopword list.
        self.common = {w: z for w, z in read_background("en").items() if z >= COMMON_ZIPF}
        self.very_common = frozenset(w for w, z in self.common.items() if z >= VERY_COMMON_ZIPF)
        self.stop = stopwords("en") | stopwords("es")
        self._decided: dict[str, tuple] = {}   # _MENTION_RE match -> _decide

    # ------------------------------------------------------------ public

    def extract(self, title: str, body: str) -> list[Entity]:
        text = f"{title}.\n{body}" if title else body
        acronyms = self._acronyms(text) if "(" in text else {}
        found: dict[tuple[str, ...], _Found] = {}
        decided = self._decided
        # Distinct mentions come in order of first occurrence: their rank orders
        # names by first mention, as a character offset would.
        for rank, (mention, count) in enumerate(_mentions(text, acronyms).items()):
            decision = decided.get(mention) or self._decide_once(mention)
            entity = self._with_acronyms(decision, acronyms) if acronyms else decision[0]
            if entity is None:
                continue
            name, key, etype, country, titled = entity
            entry = found.get(key)
            if entry is None:
                entry = found[key] = _Found(name, key, etype, country, 0, rank)
            entry.count += count
            if titled and entry.type == "other":  # "President Smith" after "Smith"
                entry.type = "person"
        _merge_partial_names(found)
        # Most mentioned first, then first mentioned: two stable C-keyed sorts.
        ranked = sorted(found.values(), key=attrgetter("first"))
        ranked.sort(key=attrgetter("count"), reverse=True)
        return _ENTITY_LIST.validate_python(
            [{"text": f.text, "type": f.type, "country": f.country, "count": f.count}
             for f in ranked[:MAX_ENTITIES] if f.count > 0])

    # ------------------------------------------------------------ steps

    def _acronyms(self, text: str) -> dict[str, str]:
        """Acronym -> its expansion, from "Name (ACR)" and "ACR (Name)"."""
        links: dict[str, str] = {}
        for paren in _PAREN_RE.finditer(text):
            inside = paren.group(1).strip()
            before = text[max(0, paren.start() - ACRONYM_WINDOW):paren.start()]
            if _ACRONYM_RE.fullmatch(inside):
                tail = _trailing_sequence(before)
                name = self._clean_name(tail.group(1)) if tail else ""
                if name and _acronym_fits(inside, name):
                    links[inside] = name
            elif SEQUENCE_RE.fullmatch(inside):  # tested first: the search below tries every position
                head = _TRAILING_ACRONYM_RE.search(before)
                if head:
                    name = self._clean_name(inside)
                    if name and _acronym_fits(head.group(1), name):
                        links[head.group(1)] = name
        return links

    def _clean_name(self, name: str) -> str:
        words = name.split()
        while words and (fold_word(words[0]) in self.stop or fold_word(words[0]) in self.titles):
            words.pop(0)
        return " ".join(words)

    def _decide_once(self, mention: str) -> tuple:
        """_decide of a mention, remembered across articles ("The", "Mr Blair" and
        "BBC" repeat). ". Maduro" and "\nMaduro" share one decision, kept under the
        form "\nMaduro" too. The cache is bounded: cleared when full."""
        decided = self._decided
        if len(decided) >= DECISION_CACHE_SIZE:
            decided.clear()
        raw, sentence_start = _sequence(mention)
        canonical = "\n" + raw if sentence_start else raw
        decision = decided.get(canonical)
        if decision is None:
            decision = decided[canonical] = self._decide(raw, sentence_start)
        decided[mention] = decision
        return decision

    def _decide(self, raw: str, sentence_start: bool) -> tuple:
        """What a sequence is, independent of the article: (its entity as (display
        name, folded key, type, country, titled) or None; the details it is made of)."""
        words = raw.split()
        words, titled = self._strip_leading(words, sentence_start)
        while words and fold_word(words[-1]) in _PARTICLE_WORDS:
            words.pop()
        if not words:
            return None, ("", (), (), titled, None, None)
        name = " ".join(words)
        etype, country = self._classify(words, titled)
        if etype == "place" and name.isupper() and len(name) > 3:
            name = name.title()  # a "CARACAS -" dateline
        key = tuple(map(fold_word, words))
        entity = (name, key, etype, country, titled) if etype is not None else None
        # Tuples of strings only: the garbage collector stops tracking them, which
        # keeps a full cache from slowing down every collection.
        return entity, (name, tuple(words), key, titled, etype, country)

    def _with_acronyms(self, decision: tuple, acronyms: dict[str, str]) -> tuple | None:
        """The entity of a decided sequence in an article whose acronyms are known
        ("GNB" -> "Bolivarian National Guard"), or None."""
        entity, (name, words, key, titled, etype, country) = decision
        if not name or not (name in acronyms or name in acronyms.values()):
            return entity
        if name in acronyms:  # "GNB" alone: a mention of its expansion
            name = acronyms[name]
            words = name.split()
            key = tuple(fold_word(w) for w in words)
            etype, country = self._classify(words, titled)
        acronym = next((a for a, n in acronyms.items() if n == name), None)
        if etype is not None and acronym:
            etype = "organization" if etype in ("other", "person") else etype
            return f"{name} ({acronym})", key, etype, country, titled
        if etype is None:
            return None
        return name, key, etype, country, titled

    def _strip_leading(self, words: list[str], sentence_start: bool) -> tuple[list[str], bool]:
        """Cut sentence-initial common words and titles; say whether a title was cut."""
        titled = False
        first = True
        while words:
            head = fold_word(words[0].rstrip("."))
            if head in self.titles and len(words) > 1:
                titled = True
                words = words[1:]
                # "Minister of Defense Vladimir ...": the portfolio goes with the title.
                if len(words) > 2 and fold_word(words[0]) in ("of", "de", "del", "for"):
                    words = words[1:]
                    while len(words) > 1 and fold_word(words[0]) in self.common:
                        words = words[1:]
            elif head in self.stop or (first and sentence_start and head in self.common and words[0].isascii()):
                words = words[1:]
            elif head in ("the", "la", "el", "los", "las"):
                words = words[1:]
            else:
                break
            first = False
        return words, titled

    def _classify(self, words: list[str], titled: bool) -> tuple[str | None, str | None]:
        folded = [fold_word(w.rstrip(".")) for w in words]
        joined = " ".join(folded)
        if len(words) == 1 and (joined in self.never or len(joined) < 2):
            return None, None
        place = self.gazetteer.place(joined)
        if place:
            return "place", place
        demonyms = self.gazetteer.demonyms
        if len(words) == 1 and (joined in demonyms or joined.rstrip("s") in demonyms):
            return None, None  # an adjective or people: "Venezuelan", "Venezuelans"
        # Set tests (isdisjoint, issuperset) run in C: this runs for every new name.
        country = None if demonyms.keys().isdisjoint(folded) else next(demonyms[f] for f in folded if f in demonyms)
        if not self.org_cues.isdisjoint(folded):
            if country is None:
                country = self._country_after_particle(folded)
            return "organization", country
        if len(words) >= 3 and folded[-2] in ("of", "de") and self.gazetteer.place(folded[-1]) and folded[0] in (
            "republic", "kingdom", "state", "republica", "reino", "estado"
        ):
            return "place", self.gazetteer.place(folded[-1])
        if titled:
            return "person", None
        if "of" in folded:
            return "other", None  # "Constitution of the Republic": a name, not a person
        if len(words) == 1:
            if words[0].isupper() and 2 <= len(words[0]) <= MAX_ACRONYM:
                return "organization", None
            if joined in self.common:
                return None, None  # "Father", "Republic": a capitalised common word
            return "other", None
        content = [f for f in folded if f not in _PARTICLE_WORDS]
        if self.very_common.issuperset(content):
            return "other", None  # "Popular Will": words, not a person's name
        if any(w.isupper() and len(w) > 1 for w in words):
            return "other", None
        if len(content) <= 4:
            return "person", None
        return "other", None

    def _country_after_particle(self, folded: list[str]) -> str | None:
        for i, word in enumerate(folded[:-1]):
            if word in ("of", "de", "del"):
                return self.gazetteer.place(" ".join(folded[i + 1:]))
        return None


def _mentions_python(text: str, acronyms: dict[str, str]) -> dict[str, int]:
    """_MENTION_RE match -> how many times, in order of first occurrence; acronyms in
    parentheses right after their expansion ("Guard (GNB)") left out.

    `_mentions` is the same in C (_ctext.c mention_counts, one walk over the
    characters instead of a findall and a Counter) when it was built."""
    text = "\n" + text  # the text's first word starts a sentence
    if not acronyms:
        return Counter((_ASCII_MENTION_RE if text.isascii() else _MENTION_RE).findall(text))
    expansions = set(acronyms.values())
    mentions: dict[str, int] = {}
    for (lead, blanks, after_end, rest, closing), count in Counter(_MENTION_IN_CONTEXT_RE.findall(text)).items():
        raw = after_end or lead + rest
        if (raw in acronyms or raw in expansions) and _in_parentheses(lead, blanks, closing):
            continue
        mention = lead + blanks + after_end if after_end else lead + rest  # as _MENTION_RE matches it
        mentions[mention] = mentions.get(mention, 0) + count
    return mentions


_mention_counts = c_function("mention_counts")
_NOTHING_SKIPPED: frozenset[str] = frozenset()

if _mention_counts is not None:
    def mentions_c(text: str, acronyms: dict[str, str]) -> dict[str, int]:
        # Acronyms and expansions are left out where they are in parentheses.
        skipped = {*acronyms, *acronyms.values()} if acronyms else _NOTHING_SKIPPED
        return _mention_counts("\n" + text, skipped)  # the first word starts a sentence
else:
    mentions_c = None
_mentions = mentions_c or _mentions_python


def _sequence(mention: str) -> tuple[str, bool]:
    """(the capitalised sequence, whether a sentence starts with it) of a _MENTION_RE match."""
    if mention[0] in _SENTENCE_END:
        return mention[1:].lstrip(" \t\u00a0"), True
    return mention, False


def _trailing_sequence(before: str) -> re.Match | None:
    """_TRAILING_SEQUENCE_RE.search(before), faster: the search starts where the run of
    letters, blanks, hyphens and apostrophes at the end of `before` starts, since a
    sequence reaching the end cannot start earlier (a plain search tries every capital)."""
    end = len(before) - 1 if before.endswith("\n") else len(before)  # "$" matches before a last newline
    run = _NAME_CHARS_RE.match(before[:end][::-1]).end()
    return _TRAILING_SEQUENCE_RE.search(before, end - run)


def _in_parentheses(end_char: str, blanks: str, closing: str) -> bool:
    """A mention right inside "(" and ")" (up to two spaces or tabs on each side)."""
    return end_char == "(" and bool(closing) and len(blanks) <= 2 and "\u00a0" not in blanks


def _acronym_fits(acronym: str, name: str) -> bool:
    """Every letter of the acronym is the initial of a word of the name (any order: GNB)."""
    initials = [w[0].upper() for w in name.split() if w[:1].isupper()]
    letters = [ch for ch in acronym.upper() if ch.isalpha()]
    if len(letters) < 2 or len(initials) < 2:
        return False
    pool = list(initials)
    for ch in letters:
        if ch not in pool:
            return False
        pool.remove(ch)
    return True


def _merge_partial_names(found: dict[tuple[str, ...], _Found]) -> None:
    """"López" / "Flores Ortiz" / "Nicolás Maduro Moros" count for one full name."""
    people = [f for f in found.values() if f.type == "person" and len(f.key) > 1]
    if not people:
        return
    by_word: dict[str, list[_Found]] = {}
    for person in people:
        for word in set(person.key):
            by_word.setdefault(word, []).append(person)
    # Shortest names first; only people and "other" names shorter than the
    # longest person's name and sharing their first word with a person's name.
    longest = max(len(p.key) for p in people)
    candidates = [f for f in found.values()
                  if len(f.key) < longest and f.type in ("person", "other") and f.key[0] in by_word]
    candidates.sort(key=lambda f: len(f.key))
    for short in candidates:
        if short.count == 0:
            continue
        size = len(short.key)
        # A one-word name is in every name of its by_word list: no _contains call.
        longer = [p for p in by_word[short.key[0]]
                  if len(p.key) > size and p.count > 0 and (size == 1 or _contains(p.key, short.key))]
        if not longer:
            continue
        target = max(longer, key=lambda p: (p.count, -p.first))
        given_name_first = target.key[:size] == short.key
        if size > 1 and short.type == "person" and given_name_first and short.count >= target.count:
            short.count += target.count  # "Nicolás Maduro" absorbs "Nicolás Maduro Moros"
            short.first = min(short.first, target.first)
            target.count = 0
        else:
            target.count += short.count
            short.count = 0


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))
