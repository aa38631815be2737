"""Where the shipped data files live, and small cached readers for them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from processors.enrich.text import fold

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def data_path(*parts: str) -> Path:
    return DATA_DIR.joinpath(*parts)


@lru_cache(maxsize=64)
def read_word_list(name: str) -> frozenset[str]:
    """One word a line, '#' comments; missing file -> empty set."""
    path = data_path(name)
    if not path.is_file():
        return frozenset()
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(fold(line.strip()) for line in lines if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=16)
def read_background(lang: str) -> dict[str, float]:
    """folded word -> Zipf frequency (log10 per billion words) of one language."""
    path = data_path("background", f"{lang}.tsv")
    table: dict[str, float] = {}
    if not path.is_file():
        return table
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, zipf = line.partition("\t")
        try:
            value = float(zipf)
        except ValueError:
            continue
        key = fold(word)
        if value > table.get(key, -1.0):
            table[key] = value
    return table


def background_languages() -> list[str]:
    return sorted(p.stem for p in data_path("background").glob("*.tsv"))


def stopword_languages() -> list[str]:
    return sorted(p.stem for p in data_path("stopwords").glob("*.txt"))


def stopwords(lang: str) -> frozenset[str]:
    return read_word_list(f"stopwords/{lang}.txt")


@lru_cache(maxsize=8)
def read_table(name: str) -> tuple[tuple[str, ...], ...]:
    """Tab-separated rows of a data file, '#' comments skipped."""
    path = data_path(name)
    if not path.is_file():
        return ()
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(tuple(field.strip() for field in line.split("\t")))
    return tuple(rows)
