import os
import signal
import subprocess
import sys
import textwrap
import time


def test_worker_child_dies_with_its_parent(tmp_path):
    """A parent killed with SIGKILL (no cleanup at all) still takes its worker child down."""
    script = textwrap.dedent(f"""
        import subprocess, sys, time
        from wirewatch import harness
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 start_new_session=True, preexec_fn=harness._die_with_parent)
        open({str(tmp_path / 'pid')!r}, "w").write(str(child.pid))
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    pid_file = tmp_path / "pid"
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        # reaped by init once dead; a zombie counts as gone
        if open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the child outlived its parent")
