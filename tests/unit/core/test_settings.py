import pytest

from wirewatch.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for key in list(__import__("os").environ):
        if key.startswith("WIREWATCH_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_point_at_the_local_stack():
    s = load_settings()
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert s.es.url == "http://127.0.0.1:9200"


def test_config_file_then_env_precedence(monkeypatch, tmp_path):
    (tmp_path / "wirewatch.toml").write_text('[kafka]\nbootstrap_servers = "k1:9092"\npartitions = 8\n')
    monkeypatch.setenv("WIREWATCH_KAFKA_PARTITIONS", "2")
    s = load_settings()
    assert s.kafka.bootstrap_servers == "k1:9092"  # from the file
    assert s.kafka.partitions == 2                # the environment wins


def test_invalid_value_names_section_and_key(monkeypatch):
    monkeypatch.setenv("WIREWATCH_KAFKA_PARTITIONS", "many")
    with pytest.raises(ConfigError, match=r"kafka\.partitions"):
        load_settings()


def test_unknown_key_in_file_is_refused(tmp_path):
    (tmp_path / "wirewatch.toml").write_text("[es]\nurll = 'x'\n")
    with pytest.raises(ConfigError, match=r"es\.urll"):
        load_settings()


def test_unknown_section_and_broken_toml(tmp_path):
    (tmp_path / "wirewatch.toml").write_text("[kafak]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_settings()
    (tmp_path / "wirewatch.toml").write_text("[kafka\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_missing_explicit_config_file(monkeypatch, tmp_path):
    monkeypatch.setenv("WIREWATCH_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings()


def test_to_env_round_trips(monkeypatch):
    s = load_settings()
    s = s.model_copy(update={"producer": s.producer.model_copy(update={"allow_hosts": ["127.0.0.1", "10.0.0.0/8"]})})
    for key, value in s.to_env().items():
        monkeypatch.setenv(key, value)
    again = load_settings()
    assert again.producer.allow_hosts == ["127.0.0.1", "10.0.0.0/8"]
    assert again == s
