"""Children started through myocit_omics.processes: own group, default signals, killed with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from myocit_omics.processes import ServerRecord, is_alive, spawn, start_ticks, stop_group

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _wait_gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    return False


def _sigint_disposition(pid: int) -> bool:
    """Return True if SIGINT is ignored by ``pid`` (SigIgn mask of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    raise AssertionError("no SigIgn line")


# a parent that starts a child through spawn(), prints the child's pid and then waits to be killed
PARENT = textwrap.dedent("""
    import signal, sys, time
    from myocit_omics.processes import spawn
    child = spawn([sys.executable, "-c", "import time; time.sleep(600)"])
    print(child.pid, flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("ignore_sigint", [False, True])
def test_a_child_dies_with_its_parent_even_on_kill_9(ignore_sigint):
    def preexec():
        # explicit both ways: this suite may itself run with SIGINT ignored (a script's background job)
        signal.signal(signal.SIGINT, signal.SIG_IGN if ignore_sigint else signal.SIG_DFL)

    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=preexec)
    try:
        child = int(parent.stdout.readline())
        assert is_alive(child)
        assert _sigint_disposition(parent.pid) is ignore_sigint
        assert not _sigint_disposition(child)            # the child gets its signals back
        assert os.getpgid(child) == child != os.getpgid(parent.pid)   # its own group
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        assert _wait_gone(child), f"child {child} outlived its parent"
    finally:
        parent.stdout.close()
        stop_group(parent, timeout=5)


def test_stop_group_escalates_to_sigkill_for_a_child_that_ignores_sigterm():
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); " \
           "time.sleep(600)"
    proc = spawn([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"1"
    t0 = time.monotonic()
    assert stop_group(proc, timeout=1) == -signal.SIGKILL
    assert time.monotonic() - t0 < 20
    assert not is_alive(proc.pid)
    proc.stdout.close()
    assert stop_group(proc) == -signal.SIGKILL          # a second call does nothing (no stray killpg)


def test_a_server_record_knows_a_reused_pid_from_the_process_it_recorded(tmp_path):
    proc = spawn(["sleep", "60"])
    try:
        rec = ServerRecord.for_process(proc.pid, host="127.0.0.1", port=4242)
        rec.write(tmp_path / "server.json")
        back = ServerRecord.read(tmp_path / "server.json")
        assert back == rec and back.running()
        assert back.start_ticks == start_ticks(proc.pid)
        # same pid, another start time: a different process
        other = ServerRecord(**{**back.__dict__, "start_ticks": back.start_ticks + 1})
        assert not other.running()
    finally:
        stop_group(proc, timeout=5)
    assert not back.running()
    (tmp_path / "bad.json").write_text("{not json")
    assert ServerRecord.read(tmp_path / "bad.json") is None
    assert ServerRecord.read(tmp_path / "absent.json") is None
