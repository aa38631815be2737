import pytest

from wirewatch.cli import build_parser, main


def test_every_documented_verb_is_there():
    verbs = build_parser()._subparsers._group_actions[0].choices
    for verb in ["stack", "config", "demo", "produce", "feeds", "worker", "topics", "enrich", "eval", "trends",
                 "search", "es", "kibana", "subs", "alerts", "tokens", "api", "bench"]:
        assert verb in verbs, verb


def test_bad_config_is_one_line_not_a_traceback(monkeypatch, tmp_path, capsys):
    (tmp_path / "bad.toml").write_text("[kafka]\npartitions = 'many'\n")
    monkeypatch.setenv("WIREWATCH_CONFIG", str(tmp_path / "bad.toml"))
    assert main(["config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kafka.partitions" in err[0]


def test_unreachable_kafka_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("WIREWATCH_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("WIREWATCH_KAFKA_REQUEST_TIMEOUT_S", "2")
    assert main(["topics", "create"]) == 3
    assert "Kafka cannot be reached" in capsys.readouterr().err


def test_unknown_verb_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
