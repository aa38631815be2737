"""`wirewatch stack` itself: a second stack on free ports, in a state directory of
its own (the jar cache is shared with the main one, so nothing is downloaded)."""

from __future__ import annotations

import os
import socket

import pytest

from wirewatch import stack
from wirewatch.settings import StackSettings

pytestmark = pytest.mark.integration
MAIN_CACHE = stack.REPO_ROOT / ".wirewatch" / "cache"


def _free_port_pair() -> int:
    """A port p such that p, p+1 and p+100 are free (Kafka's controller, ES transport)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 60000 and not any(stack.port_open("127.0.0.1", p) for p in (port, port + 1, port + 100)):
            return port
    raise RuntimeError("no free ports")


@pytest.fixture
def second_stack(settings, tmp_path):
    s = StackSettings(state_dir=tmp_path / "state", cache_dir=MAIN_CACHE if MAIN_CACHE.is_dir() else None,
                      kafka_port=_free_port_pair(), es_port=_free_port_pair(),
                      kafka_heap="256m", es_heap="512m", start_timeout_s=180)
    yield s
    stack.down(s)


def _our_processes(settings: StackSettings) -> list[int]:
    """Processes that run from this stack's state (the node names its config dir in its environment)."""
    layout = stack.layout_for(settings)
    marks = (str(layout.state), str(layout.es_dir))
    return [int(e) for e in os.listdir("/proc")
            if e.isdigit() and any(m in stack._proc_view(int(e)) for m in marks)]


def test_up_twice_then_down_leaves_no_process(second_stack):
    first = stack.up(second_stack, quiet=True)
    assert [s.state for s in first] == ["running", "running"]
    again = stack.up(second_stack, quiet=True)  # a no-op: same processes
    assert [s.pid for s in again] == [s.pid for s in first]
    assert stack.es_answers(f"http://127.0.0.1:{second_stack.es_port}")
    assert stack.kafka_answers(f"127.0.0.1:{second_stack.kafka_port}")
    stopped = stack.down(second_stack)
    assert all("stopped" in line for line in stopped), stopped
    assert _our_processes(second_stack) == []
    assert [s.state for s in stack.status(second_stack)] == ["stopped", "stopped"]


def test_port_taken_by_another_process_is_refused(second_stack):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", second_stack.es_port))
        squatter.listen()
        with pytest.raises(stack.StackError, match=f"{second_stack.es_port}.*already taken"):
            stack.up(second_stack, quiet=True)
    assert _our_processes(second_stack) == []


def test_service_that_dies_during_start_shows_its_log(second_stack):
    broken = second_stack.model_copy(update={"kafka_heap": "1m"})  # the JVM refuses so small a heap
    with pytest.raises(stack.StackError, match="(?i)heap"):
        stack.up(broken, quiet=True)
    # Elasticsearch had been launched first: a failed `up` leaves nothing running behind it.
    assert _our_processes(second_stack) == []
