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
from dataclasses import dataclass

from processors.enrich.data import read_background, read_table, read_word_list, stopwords
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
_NAME_WORD = rf"[{re.escape(_UPPER)}]{_LETTER}*(?:[-'’][{re.escape(_UPPER)}]{_LETTER}*)*"
_PARTICLES = r"of the|of|de la|de los|de las|del|de|da|do|dos|das|van der|van|von|der|bin|ibn|al|el|la|le|du|des|y"
_GAP = r"[ \t\u00a0]+"
SEQUENCE_RE = re.compile(rf"{_NAME_WORD}(?:(?:{_GAP}(?:{_PARTICLES}){_GAP}|{_GAP}){_NAME_WORD})*")
_ACRONYM = rf"[{re.escape(_UPPER)}][{re.escape(_UPPER)}&]{{1,{MAX_ACRONYM - 1}}}"
ACRONYM_WINDOW = 160
_ACRONYM_RE = re.compile(_ACRONYM)
_PAREN_RE = re.compile(r"\(([^()\n]{2,120})\)")
_TRAILING_SEQUENCE_RE = re.compile(rf"({SEQUENCE_RE.pattern})[ \t]*$")
_TRAILING_ACRONYM_RE = re.compile(rf"\b({_ACRONYM})[ \t]*$")
_SENTENCE_END = set(".!?:;\n\"“”«»—–-•|([")
_PARTICLE_WORDS = frozenset(_PARTICLES.replace(" ", "|").split("|"))


@dataclass
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
        self.stop = stopwords("en") | stopwords("es")
        self._decided: dict[tuple[str, bool], tuple] = {}

    # ------------------------------------------------------------ public

    def extract(self, title: str, body: str) -> list[Entity]:
        text = f"{title}.\n{body}" if title else body
        found: dict[tuple[str, ...], _Found] = {}
        acronyms = self._acronyms(text) if "(" in text else {}
        seen: dict[tuple[str, bool], tuple | None] = {}
        for match in SEQUENCE_RE.finditer(text):
            raw, start = match.group(0), match.start()
            if acronyms and _in_parentheses(text, start, match.end()) and (raw in acronyms or raw in acronyms.values()):
                continue  # "Guard (GNB)": the acronym in parentheses is the same mention
            # A name repeats: classify each (text, sentence-start) once per article.
            cache_key = (raw, _at_sentence_start(text, start))
            if cache_key not in seen:
                seen[cache_key] = self._interpret(raw, cache_key[1], acronyms)
            decided = seen[cache_key]
            if decided is not None:
                self._count(found, start, *decided)
        _merge_partial_names(found)
        ranked = sorted(found.values(), key=lambda f: (-f.count, f.first))
        return [Entity(text=f.text, type=f.type, country=f.country, count=f.count)
                for f in ranked[:MAX_ENTITIES] if f.count > 0]

    # ------------------------------------------------------------ steps

    def _acronyms(self, text: str) -> dict[str, str]:
        """Acronym -> its expansion, from "Name (ACR)" and "ACR (Name)"."""
        links: dict[str, str] = {}
        for paren in _PAREN_RE.finditer(text):
            inside = paren.group(1).strip()
            before = text[max(0, paren.start() - ACRONYM_WINDOW):paren.start()]
            if _ACRONYM_RE.fullmatch(inside):
                tail = _TRAILING_SEQUENCE_RE.search(before)
                name = self._clean_name(tail.group(1)) if tail else ""
                if name and _acronym_fits(inside, name):
                    links[inside] = name
            else:
                head = _TRAILING_ACRONYM_RE.search(before)
                if head and SEQUENCE_RE.fullmatch(inside):
                    name = self._clean_name(inside)
                    if name and _acronym_fits(head.group(1), name):
                        links[head.group(1)] = name
        return links

    def _clean_name(self, name: str) -> str:
        words = name.split()
        while words and (fold_word(words[0]) in self.stop or fold_word(words[0]) in self.titles):
            words.pop(0)
        return " ".join(words)

    def _interpret(self, raw: str, sentence_start: bool, acronyms: dict[str, str]) -> tuple | None:
        """(display name, folded key, type, country, titled) of one sequence, or None."""
        base = self._decided.get((raw, sentence_start))
        if base is None:
            if len(self._decided) >= DECISION_CACHE_SIZE:
                self._decided.clear()
            base = self._decided[(raw, sentence_start)] = self._decide(raw, sentence_start)
        name, words, titled, etype, country = base
        if acronyms and name and (name in acronyms or name in acronyms.values()):
            if name in acronyms:  # "GNB" alone: a mention of its expansion
                name = acronyms[name]
                words = name.split()
                etype, country = self._classify(words, titled)
            acronym = next((a for a, n in acronyms.items() if n == name), None)
            if etype is not None and acronym:
                etype = "organization" if etype in ("other", "person") else etype
                return f"{name} ({acronym})", tuple(fold_word(w) for w in words), etype, country, titled
        if etype is None:
            return None
        return name, tuple(fold_word(w) for w in words), etype, country, titled

    def _decide(self, raw: str, sentence_start: bool) -> tuple:
        """What a sequence is, independent of the article: cached across articles."""
        words = raw.split()
        words, titled = self._strip_leading(words, sentence_start)
        while words and fold_word(words[-1]) in _PARTICLE_WORDS:
            words.pop()
        if not words:
            return "", [], titled, None, None
        name = " ".join(words)
        etype, country = self._classify(words, titled)
        if etype == "place" and name.isupper() and len(name) > 3:
            name = name.title()  # a "CARACAS -" dateline
        return name, words, titled, etype, country

    @staticmethod
    def _count(found: dict, start: int, name: str, key: tuple[str, ...], etype: str, country: str | None, titled: bool) -> None:
        entry = found.get(key)
        if entry is None:
            found[key] = _Found(name, key, etype, country, 1, start)
            return
        entry.count += 1
        if titled and entry.type == "other":
            entry.type = "person"

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
        if len(words) == 1 and (joined in self.gazetteer.demonyms or joined.rstrip("s") in self.gazetteer.demonyms):
            return None, None  # an adjective or people: "Venezuelan", "Venezuelans"
        country = next((self.gazetteer.demonyms[f] for f in folded if f in self.gazetteer.demonyms), None)
        if any(f in self.org_cues for f in folded):
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
        if all(self.common.get(f, 0.0) >= VERY_COMMON_ZIPF for f in content):
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


def _at_sentence_start(text: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and text[i] in " \t\u00a0":
        i -= 1
    return i < 0 or text[i] in _SENTENCE_END


def _in_parentheses(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 3):start].rstrip(" \t")
    after = text[end:end + 3].lstrip(" \t")
    return before.endswith("(") and after.startswith(")")


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
    people = sorted((f for f in found.values() if f.type == "person" and len(f.key) > 1), key=lambda f: f.first)
    if not people:
        return
    by_word: dict[str, list[_Found]] = {}
    for person in people:
        for word in set(person.key):
            by_word.setdefault(word, []).append(person)
    for short in sorted(found.values(), key=lambda f: len(f.key)):
        if short.count == 0 or short.type not in ("person", "other") or short.key[0] not in by_word:
            continue
        longer = [p for p in by_word[short.key[0]] if p is not short and p.count > 0 and len(p.key) > len(short.key)
                  and _contains(p.key, short.key)]
        if not longer:
            continue
        target = max(longer, key=lambda p: (p.count, -p.first))
        given_name_first = target.key[: len(short.key)] == short.key
        if len(short.key) > 1 and short.type == "person" and given_name_first and short.count >= target.count:
            short.count += target.count  # "Nicolás Maduro" absorbs "Nicolás Maduro Moros"
            short.first = min(short.first, target.first)
            target.count = 0
        else:
            target.count += short.count
            short.count = 0


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))
