import argparse
import json

import pytest

from processors.enrich import cli

from .conftest import FIXTURE_BODY, FIXTURE_TITLE, corpus_path


def run(argv, capsys):
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_enrich_file_prints_json(tmp_path, capsys):
    path = tmp_path / "a.txt"
    path.write_text(FIXTURE_TITLE + "\n" + FIXTURE_BODY, encoding="utf-8")
    code, out, _ = run(["enrich", str(path)], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["language"] == "en"
    assert doc["topics"][0]["name"] == "politics"
    assert doc["story_id"].startswith("st-")


def test_enrich_missing_file_is_a_one_line_error(tmp_path, capsys):
    code, out, err = run(["enrich", str(tmp_path / "nope.txt")], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "no such file" in err


def labelled_folder(tmp_path):
    texts = {
        "sport": ["Striker scores twice\nThe striker scored two goals as the team won the match and the league title before the fans in the stadium."],
        "politics": ["Election called\nThe prime minister called an election after parliament rejected the government's budget; opposition parties and voters react."],
        "business": ["Shares rise\nShares rose on the stock market as investors cheered company profits, and the central bank left interest rates unchanged."],
    }
    for label, docs in texts.items():
        (tmp_path / label).mkdir()
        for i, doc in enumerate(docs):
            (tmp_path / label / f"{i}.txt").write_text(doc, encoding="utf-8")
    return tmp_path


def test_eval_topics_on_a_small_folder(tmp_path, capsys):
    code, out, _ = run(["eval", "topics", str(labelled_folder(tmp_path))], capsys)
    assert code == 0
    assert out.strip().splitlines()[-1] == "macro_f1=1.0000"


def test_eval_topics_bad_mapping(tmp_path, capsys):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("classes:\n  sport: no_such_topic\n", encoding="utf-8")
    code, _, err = run(["eval", "topics", str(labelled_folder(tmp_path)), "--mapping", str(mapping)], capsys)
    assert code == 2 and "no_such_topic" in err


def test_eval_dedup_on_a_small_folder(tmp_path, capsys):
    from .test_story import OTHER_BODY

    (tmp_path / "a.txt").write_text(FIXTURE_TITLE + "\n" + FIXTURE_BODY, encoding="utf-8")
    (tmp_path / "b.txt").write_text(FIXTURE_TITLE + "\n" + FIXTURE_BODY, encoding="utf-8")  # exact duplicate
    (tmp_path / "c.txt").write_text("Council budget\n" + OTHER_BODY, encoding="utf-8")
    code, out, _ = run(["eval", "dedup", str(tmp_path)], capsys)
    assert code == 0
    assert "groups=2" in out
    last = out.strip().splitlines()[-1]
    precision, recall = (float(part.split("=")[1]) for part in last.split())
    assert precision == 1.0 and recall == 1.0


def test_eval_topics_meets_the_target_on_bbc_dev(capsys):
    folder = corpus_path("news-labeled", "bbc-dev")
    code, out, _ = run(["eval", "topics", str(folder)], capsys)
    assert code == 0
    macro = float(out.strip().splitlines()[-1].split("=")[1])
    assert macro >= 0.85  # 0.9437 measured with the shipped lexicon


def test_eval_dedup_meets_the_target_on_bbc_dev(capsys):
    folder = corpus_path("news-labeled", "bbc-dev")
    code, out, _ = run(["eval", "dedup", str(folder)], capsys)
    assert code == 0
    last = out.strip().splitlines()[-1]
    precision, recall = (float(part.split("=")[1]) for part in last.split())
    assert precision >= 0.95 and recall >= 0.90  # 0.9639 / 0.9743 measured


@pytest.mark.parametrize("argv,words", [
    (["eval", "topics", "/nonexistent/dir"], "no such folder"),
    (["eval", "dedup", "/nonexistent/dir"], "no such folder"),
])
def test_eval_bad_folder(argv, words, capsys):
    code, _, err = run(argv, capsys)
    assert code == 2 and words in err
