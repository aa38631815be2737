"""`wirewatch feeds ...` verbs through their argparse registration."""

from __future__ import annotations

import argparse
import json

import pytest

from producers.cli import register

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>Hello</title><link>http://a.example/1?utm_source=x</link></item></channel></rss>'


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wirewatch")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_feeds_parse_prints_entries(tmp_path, capsys):
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS)
    assert run(["feeds", "parse", str(path), "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["url"] == "http://a.example/1"
    assert run(["feeds", "parse", str(path)]) == 0
    assert "Hello" in capsys.readouterr().out


@pytest.mark.parametrize("content, reason", [(b'<!DOCTYPE r [<!ENTITY a "b">]><rss/>', "entities"), (b"<html><p>hi</p></html>", "not a feed"), (None, "cannot be read")])
def test_feeds_parse_refusals_are_one_line(tmp_path, capsys, content, reason):
    path = tmp_path / "feed.xml"
    if content is not None:
        path.write_bytes(content)
    assert run(["feeds", "parse", str(path)]) != 0
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_catalogue_verbs(tmp_path, capsys):
    catalogue = tmp_path / "feeds.yaml"
    assert run(["feeds", "add", "https://a.example/rss", "--name", "A", "--tag", "world", "--file", str(catalogue)]) == 0
    assert run(["feeds", "add", "https://a.example/rss", "--file", str(catalogue)]) != 0
    assert run(["feeds", "add", "gopher://a.example/", "--file", str(catalogue)]) != 0
    opml = tmp_path / "out.opml"
    assert run(["feeds", "export-opml", str(opml), "--file", str(catalogue)]) == 0
    other = tmp_path / "other.yaml"
    assert run(["feeds", "import-opml", str(opml), "--file", str(other)]) == 0
    capsys.readouterr()
    assert run(["feeds", "list", "--json", "--file", str(other)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["name"] == "A" and json.loads(line)["tags"] == ["world"]
    assert run(["feeds", "remove", "https://a.example/rss", "--file", str(catalogue)]) == 0
    assert run(["feeds", "remove", "https://a.example/rss", "--file", str(catalogue)]) != 0


def test_broken_catalogue_is_one_line(tmp_path, capsys):
    catalogue = tmp_path / "feeds.yaml"
    catalogue.write_text("feeds:\n  - url: https://a.example/\n    min_interval: -5\n")
    assert run(["feeds", "list", "--file", str(catalogue)]) != 0
    err = capsys.readouterr().err
    assert "feeds.yaml:3: feeds[0].min_interval" in err
