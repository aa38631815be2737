"""CLI verbs of the enrichment area: `enrich FILE`, `eval topics DIR`, `eval dedup DIR`, `trends`.

The lead's root parser calls `register(subparsers)`; each verb stores its
handler as `func` (args -> exit code). Bad input prints a one-line reason on
stderr and returns 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from processors.enrich.evaluate import (
    EvalError,
    dedupe_exact,
    near_copies,
    read_labelled_folder,
    read_mapping,
    read_text_file,
    score_classes,
    split_title,
)
from processors.enrich.story import DEFAULT_THRESHOLD, StoryIndex, signature
from processors.enrich.text import Analysis
from processors.enrich.topics import TaxonomyError, TopicTagger, load_taxonomy

MAX_INPUT_BYTES = 5_000_000


def register(subparsers) -> None:
    """Add `enrich` and `eval {topics,dedup}` to the root CLI."""
    enrich = subparsers.add_parser("enrich", help="print the enrichment of a text file (first line = title) as JSON")
    enrich.add_argument("file", type=Path, help="UTF-8 text file; its first line is the title")
    enrich.add_argument("--language", default=None, help="language the feed would declare (used for short texts)")
    enrich.add_argument("--taxonomy-dir", type=Path, default=None, help="extra or replacement taxonomy files")
    enrich.set_defaults(func=cmd_enrich)

    evaluate = subparsers.add_parser("eval", help="measure enrichment quality on a folder of articles")
    register_eval(evaluate.add_subparsers(dest="eval_command", required=True))

    trends = subparsers.add_parser("trends", help="terms mentioned more than usual, from the running worker")
    trends.add_argument("--window", choices=("5m", "1h"), default="5m", help="current window to score (default 5m)")
    trends.add_argument("--kind", choices=("keyword", "entity", "topic"), default=None, help="only this kind of term")
    trends.add_argument("--limit", type=int, default=20, help="most terms to print (1-500)")
    trends.add_argument("--json", action="store_true", help="print the worker's JSON answer")
    trends.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the worker")
    trends.set_defaults(func=cmd_trends)


def register_eval(eval_subparsers) -> None:
    """`eval topics` and `eval dedup`, for a root CLI whose `eval` verb is shared."""
    topics = eval_subparsers.add_parser("topics", help="per-class precision/recall/F1 of topic tags; last line macro_f1=")
    topics.add_argument("dir", type=Path, help="folder of class sub-folders of .txt articles")
    topics.add_argument("--mapping", type=Path, default=None, help="YAML 'classes:' class folder -> topic (default: processors/data/eval/bbc-topics.yaml)")
    topics.add_argument("--taxonomy-dir", type=Path, default=None, help="extra or replacement taxonomy files")
    topics.set_defaults(func=cmd_eval_topics)

    dedup = eval_subparsers.add_parser("dedup", help="story clustering precision/recall on exact duplicates plus synthetic near-copies")
    dedup.add_argument("dir", type=Path, help="folder of .txt articles (searched recursively)")
    dedup.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="similarity to join a story")
    dedup.add_argument("--copies-of", type=float, default=1.0, help="share of articles that get synthetic near-copies")
    dedup.add_argument("--seed", type=int, default=7, help="random seed of the synthetic copies and the arrival order")
    dedup.add_argument("--show-merges", type=int, default=0, metavar="N",
                       help="list N stories that joined different truth groups (real near-duplicates show up here)")
    dedup.set_defaults(func=cmd_eval_dedup)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------- trends

def fetch_trends(port: int, window: str, kind: str | None, limit: int, timeout_s: float) -> dict:
    """GET /trends from the worker on 127.0.0.1:port; TrendsUnavailable with the reason."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    query = {"window": window, "limit": str(limit)}
    if kind:
        query["kind"] = kind
    url = f"http://127.0.0.1:{port}/trends?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body = response.read(MAX_INPUT_BYTES)
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read(MAX_INPUT_BYTES)).get("error") or exc.reason
        except (ValueError, AttributeError):
            reason = exc.reason
        raise TrendsUnavailable(f"the worker at 127.0.0.1:{port} answered {exc.code}: {reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrendsUnavailable(f"no worker answers on 127.0.0.1:{port} ({reason}); "
                                "start one with `wirewatch worker` (processor.web_port must be > 0)") from None
    try:
        report = json.loads(body)
    except ValueError:
        raise TrendsUnavailable(f"the answer of 127.0.0.1:{port}/trends is not JSON") from None
    if not isinstance(report, dict) or not isinstance(report.get("trends"), list):
        raise TrendsUnavailable(f"the answer of 127.0.0.1:{port}/trends has no trends list")
    return report


class TrendsUnavailable(Exception):
    pass


def format_trends(report: dict) -> list[str]:
    lines = [f"window={report.get('window')} baseline_hours={report.get('baseline_hours')} "
             f"terms={len(report['trends'])}"]
    lines.append(f"{'score':>8} {'count':>6} {'expected':>9}  kind     term")
    for t in report["trends"]:
        lines.append(f"{t.get('score', 0):8.2f} {t.get('count', 0):6d} {t.get('expected', 0):9.2f}  "
                     f"{t.get('kind', ''):<8} {t.get('term', '')}")
    return lines


def cmd_trends(args: argparse.Namespace) -> int:
    import json

    from wirewatch.settings import ConfigError, load_settings

    if not 1 <= args.limit <= 500:
        return _fail("--limit must be from 1 to 500")
    if not 0 < args.timeout <= 120:
        return _fail("--timeout must be more than 0 and at most 120 seconds")
    try:
        port = load_settings().processor.web_port
    except ConfigError as exc:
        return _fail(str(exc))
    if port <= 0:
        return _fail("processor.web_port is 0: the worker's web server is off, so no trends can be read")
    try:
        report = fetch_trends(port, args.window, args.kind, args.limit, args.timeout)
    except TrendsUnavailable as exc:
        return _fail(str(exc))
    print(json.dumps(report, indent=2) if args.json else "\n".join(format_trends(report)))
    return 0


# ---------------------------------------------------------------- enrich

def cmd_enrich(args: argparse.Namespace) -> int:
    from processors.enrich.pipeline import Enricher
    from wirewatch.schema import Article, Source, article_id

    path: Path = args.file
    if not path.is_file():
        return _fail(f"{path}: no such file")
    if path.stat().st_size > MAX_INPUT_BYTES:
        return _fail(f"{path}: larger than {MAX_INPUT_BYTES} bytes")
    title, body = split_title(read_text_file(path))
    try:
        enricher = Enricher(taxonomy_dir=args.taxonomy_dir, update_stats=False)
    except TaxonomyError as exc:
        return _fail(str(exc))
    now = datetime.now(timezone.utc)
    url = path.resolve().as_uri()
    article = Article(id=article_id(url), url=url, title=title, text=body, language=args.language,
                      source=Source(feed_url=url), published_at=now, fetched_at=now)
    enrichment = enricher.enrich(article)
    enrichment.story_id = signature(enricher.analyse(article)).story_id()
    print(enrichment.model_dump_json(indent=2))
    return 0


# ---------------------------------------------------------------- eval topics

def cmd_eval_topics(args: argparse.Namespace) -> int:
    try:
        mapping = read_mapping(args.mapping)
        tagger = TopicTagger(load_taxonomy(args.taxonomy_dir))
        items = dedupe_exact(read_labelled_folder(args.dir))
    except (EvalError, TaxonomyError) as exc:
        return _fail(str(exc))
    unknown = sorted(set(mapping.values()) - set(tagger.topics))
    if unknown:
        return _fail(f"mapping names topics not in the taxonomy: {unknown}")
    items = [i for i in items if i.label in mapping]
    if not items:
        return _fail(f"{args.dir}: no class folder is in the mapping {sorted(mapping)}")
    topic_to_class = {topic: label for label, topic in mapping.items()}
    gold = [i.label for i in items]
    # The tagger is multi-label; a single-label collection is scored on its
    # best-scoring topic among the mapped ones (no topic = a miss).
    predicted = [topic_to_class.get(tagger.primary(Analysis.of(i.title, i.body), among=mapping.values())) for i in items]
    labels = sorted(set(gold))
    scores = score_classes(gold, predicted, labels)
    print(f"articles={len(items)} (exact duplicates removed) untagged={predicted.count(None)}")
    print(f"{'class':<16}{'topic':<28}{'support':>8}{'precision':>11}{'recall':>9}{'f1':>8}")
    for s in scores:
        print(f"{s.label:<16}{mapping[s.label]:<28}{s.support:>8}{s.precision:>11.4f}{s.recall:>9.4f}{s.f1:>8.4f}")
    macro = sum(s.f1 for s in scores) / len(scores)
    print(f"macro_f1={macro:.4f}")
    return 0


# ---------------------------------------------------------------- eval dedup

def cmd_eval_dedup(args: argparse.Namespace) -> int:
    folder: Path = args.dir
    if not folder.is_dir():
        return _fail(f"{folder}: no such folder")
    if not 0 < args.threshold <= 1:
        return _fail("--threshold must be in (0, 1]")
    files = sorted(folder.rglob("*.txt"))
    if not files:
        return _fail(f"{folder}: no .txt files")
    rng = random.Random(args.seed)
    docs, groups = build_dedup_set(files, rng, args.copies_of)
    rng.shuffle(docs)
    index = StoryIndex(threshold=args.threshold)
    story_of: dict[str, str] = {}
    for doc_id, title, body in docs:
        analysis = Analysis.of(title, body)
        story_of[doc_id] = index.assign_signature(doc_id, doc_id, signature(analysis)).story_id
    report = pair_scores(story_of, groups)
    kinds = Counter(doc_id.rsplit("#", 1)[1] if "#" in doc_id else "original" for doc_id, _, _ in docs)
    print(f"documents={len(docs)} " + " ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
    print(f"true_pairs={report['true']} found_pairs={report['found']} correct_pairs={report['correct']}")
    print(f"stories={len(set(story_of.values()))} groups={len(set(groups.values()))}")
    for line in merged_groups(story_of, groups)[: args.show_merges]:
        print(f"merged: {line}")
    print(f"precision={report['precision']:.4f} recall={report['recall']:.4f}")
    return 0


def merged_groups(story_of: dict[str, str], groups: dict[str, str]) -> list[str]:
    """Stories holding more than one truth group: "group | group | ..."."""
    members: dict[str, set[str]] = {}
    for doc_id, story in story_of.items():
        members.setdefault(story, set()).add(groups[doc_id])
    return [" | ".join(sorted(g)) for g in members.values() if len(g) > 1]


def build_dedup_set(files: list[Path], rng: random.Random, copies_of: float):
    """Documents (id, title, body) and id -> truth group (exact duplicates share a group)."""
    docs: list[tuple[str, str, str]] = []
    groups: dict[str, str] = {}
    group_of_text: dict[str, str] = {}
    for path in files:
        doc_id = str(path)
        title, body = split_title(read_text_file(path))
        group = group_of_text.setdefault(f"{title}\n{body}", doc_id)
        docs.append((doc_id, title, body))
        groups[doc_id] = group
        if rng.random() < copies_of:
            for kind, c_title, c_body in near_copies(title, body, rng):
                copy_id = f"{doc_id}#{kind}"
                docs.append((copy_id, c_title, c_body))
                groups[copy_id] = group
    return docs, groups


def pair_scores(story_of: dict[str, str], groups: dict[str, str]) -> dict:
    """Pairwise precision/recall of a clustering against truth groups, without listing pairs."""
    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    found = sum(pairs(n) for n in Counter(story_of.values()).values())
    true = sum(pairs(n) for n in Counter(groups.values()).values())
    correct = sum(pairs(n) for n in Counter((story_of[d], groups[d]) for d in story_of).values())
    return {
        "found": found, "true": true, "correct": correct,
        "precision": correct / found if found else 1.0,
        "recall": correct / true if true else 1.0,
    }


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (the lead's `wirewatch` wires `register` instead)."""
    parser = argparse.ArgumentParser(prog="wirewatch-enrich")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["register", "register_eval", "main"]
