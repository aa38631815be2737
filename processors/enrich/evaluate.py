"""Evaluation of topic tagging and story clustering on folders of articles.

A labelled folder has one sub-folder per class, each holding ``.txt`` files
whose first line is the headline (the BBC News collection's format).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path

import yaml

from processors.enrich.data import data_path

MAX_FILE_BYTES = 1_000_000
DEFAULT_MAPPING = data_path("eval", "bbc-topics.yaml")


class EvalError(ValueError):
    """An evaluation folder or mapping file that cannot be used."""


@dataclass(frozen=True)
class LabelledText:
    label: str
    name: str
    title: str
    body: str


def read_text_file(path: Path) -> str:
    """UTF-8, else Latin-1 (one BBC file is Latin-1); size-capped."""
    raw = path.read_bytes()[:MAX_FILE_BYTES]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def split_title(text: str) -> tuple[str, str]:
    """First line is the title, the rest the body."""
    title, _, body = text.strip().partition("\n")
    return title.strip(), body.strip()


def read_labelled_folder(folder: Path) -> list[LabelledText]:
    folder = Path(folder)
    if not folder.is_dir():
        raise EvalError(f"{folder}: no such folder")
    items = []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(class_dir.glob("*.txt")):
            title, body = split_title(read_text_file(path))
            items.append(LabelledText(class_dir.name, f"{class_dir.name}/{path.name}", title, body))
    if not items:
        raise EvalError(f"{folder}: no class sub-folders with .txt files")
    return items


def read_mapping(path: Path | None = None) -> dict[str, str]:
    path = Path(path) if path else DEFAULT_MAPPING
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise EvalError(f"{path}: cannot read the class mapping: {exc}") from None
    classes = doc.get("classes") if isinstance(doc, dict) else None
    if not isinstance(classes, dict) or not classes:
        raise EvalError(f"{path}: expected 'classes:' mapping class folder -> topic")
    return {str(k): str(v) for k, v in classes.items()}


def dedupe_exact(items: list[LabelledText]) -> list[LabelledText]:
    """Drop exact duplicates (the BBC set has some) before scoring topics."""
    seen: set[str] = set()
    unique = []
    for item in items:
        key = item.title + "\n" + item.body
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


@dataclass(frozen=True)
class ClassScore:
    label: str
    support: int
    precision: float
    recall: float
    f1: float


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score_classes(gold: list[str], predicted: list[str | None], labels: list[str]) -> list[ClassScore]:
    scores = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, predicted) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, predicted) if g == label and p != label)
        scores.append(ClassScore(label, tp + fn, *prf(tp, fp, fn)))
    return scores


# ---------------------------------------------------------------- dedup

BOILERPLATE = [
    "Sign up for our newsletter to get the latest headlines in your inbox every morning.",
    "This story was originally published by a partner agency and is republished with permission.",
    "Copyright 2024. All rights reserved. This material may not be published, broadcast, rewritten or redistributed.",
    "Follow us on Facebook and Twitter for more news and updates.",
]


def near_copies(title: str, body: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """Synthetic near-duplicates of one article: (kind, title, body)."""
    paragraphs = [p for p in body.split("\n") if p.strip()]
    copies = [("headline", "UPDATED: " + _rewrite_headline(title), body)]
    if len(paragraphs) >= 3:
        shuffled = paragraphs[:]
        i = rng.randrange(len(shuffled) - 1)
        shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
        copies.append(("reordered", title, "\n".join(shuffled)))
        keep = max(2, int(len(paragraphs) * 0.7))
        copies.append(("trimmed", title, "\n".join(paragraphs[:keep])))
    copies.append(("boilerplate", title, body + "\n" + " ".join(rng.sample(BOILERPLATE, 2))))
    return copies


def _rewrite_headline(title: str) -> str:
    words = title.split()
    return " ".join(words[len(words) // 2:] + words[: len(words) // 2]) or "Untitled"


def true_pairs(groups: dict[str, list[str]]) -> set[frozenset[str]]:
    pairs: set[frozenset[str]] = set()
    for members in groups.values():
        for a, b in itertools.combinations(sorted(set(members)), 2):
            pairs.add(frozenset((a, b)))
    return pairs
