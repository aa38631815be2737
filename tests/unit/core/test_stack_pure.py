from pathlib import Path

import pytest

from wirewatch import stack
from wirewatch.settings import StackSettings


def test_versions_come_from_the_pom():
    versions = stack.pinned_versions()
    assert versions["kafka"].startswith("4.")
    assert versions["elasticsearch"].startswith("8.")


def test_kafka_properties_use_configured_ports(tmp_path):
    s = StackSettings(state_dir=tmp_path, kafka_port=19092)
    layout = stack.Layout(tmp_path, "4.4.0", "8.19.21")
    props = stack._kafka_properties(s, layout)
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in props
    assert "controller.quorum.voters=1@127.0.0.1:19093" in props
    assert f"log.dirs={tmp_path / 'kafka' / 'data'}" in props


def test_es_config_binds_loopback_and_port(tmp_path):
    s = StackSettings(state_dir=tmp_path, es_port=19200)
    conf = stack._es_config(s, stack.Layout(tmp_path, "4.4.0", "8.19.21"))
    assert "network.host: 127.0.0.1" in conf
    assert "http.port: 19200" in conf and "transport.port: 19300" in conf


def test_missing_java_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(stack.StackError, match="no Java found"):
        stack.find_java(StackSettings(state_dir=tmp_path))


def test_status_of_nothing_started(tmp_path):
    s = StackSettings(state_dir=tmp_path, kafka_port=1, es_port=2)  # nothing listens there
    statuses = stack.status(s)
    assert [x.state for x in statuses] == ["stopped", "stopped"]


def test_stale_pid_file_is_not_ours(tmp_path):
    layout = stack.Layout(tmp_path, "4.4.0", "8.19.21")
    layout.pid_file("kafka").write_text("999999999")
    assert stack._our_pid(layout, "kafka", stack.KAFKA_MARKER) is None


def test_heap_setting_is_validated():
    with pytest.raises(ValueError):
        StackSettings(kafka_heap="lots")


def test_log_tail_of_missing_file(tmp_path):
    assert stack.log_tail(Path(tmp_path / "none.log")) == "(no log)"


def test_cluster_id_never_starts_with_a_dash(monkeypatch):
    # uuid4 bytes whose base64 begins with "-" (0xf8...) come first: the storage tool
    # would read such an id as an option and refuse to format.
    import uuid

    ids = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(stack.uuid, "uuid4", lambda: next(ids))
    cid = stack.new_cluster_id()
    assert not cid.startswith("-")
    assert len(cid) == 22
    assert base64_decodes_to_16_bytes(cid)


def base64_decodes_to_16_bytes(cid: str) -> bool:
    import base64

    return len(base64.urlsafe_b64decode(cid + "==")) == 16
