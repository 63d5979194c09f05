"""The session-end guard of tests/conftest.py: a process the suite starts and leaves alive fails the run.

The guard finds the suite's processes by the MYOCIT_TEST_SESSION marker in /proc/<pid>/environ
(which survives re-parenting to init) and by descent from the pytest process, never by name.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().with_name("conftest.py")
GUARD = Path(__file__).resolve().with_name("process_guard.py")

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")


def _guard():
    import importlib.util

    spec = importlib.util.spec_from_file_location("myocit_guard_under_test", GUARD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_planted_child_reparented_to_init_is_found_by_its_marker_until_it_is_stopped():
    guard = _guard()
    marker = uuid.uuid4().hex
    env = {**os.environ, guard.MARKER_VAR: f"outer,{marker}"}
    # `sleep &` in a shell that exits at once: the sleep is re-parented, only the marker ties it to us
    out = subprocess.run(["sh", "-c", "sleep 120 > /dev/null 2>&1 & echo $!"], env=env, capture_output=True,
                         text=True, check=True, stdin=subprocess.DEVNULL)
    pid = int(out.stdout.strip())
    try:
        # by marker only (root -1): this session's own live children, if any, are not the planted one
        found = guard.left_behind(marker, grace=1, root=-1)
        assert [p for p, _ in found] == [pid]
        assert "sleep 120" in found[0][1]
        assert guard.session_processes(uuid.uuid4().hex, root=pid) == []     # another marker: not ours
    finally:
        os.kill(pid, signal.SIGKILL)
    assert guard.left_behind(marker, grace=10, root=-1) == []


LEAKY_TEST = '''
import subprocess

def test_leaks_a_child():
    subprocess.Popen(["sleep", "300"], start_new_session=True, stdin=subprocess.DEVNULL)
'''

NESTED_CONFTEST = f'''
import importlib.util
spec = importlib.util.spec_from_file_location("myocit_repo_conftest", {str(CONFTEST)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
pytest_sessionfinish = module.pytest_sessionfinish
'''


def test_a_session_that_leaks_a_child_fails_and_lists_it(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(textwrap.dedent(NESTED_CONFTEST))
    (tmp_path / "test_leak.py").write_text(textwrap.dedent(LEAKY_TEST))
    env = {**os.environ, "MYOCIT_GUARD_GRACE": "1"}
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_leak.py"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL, check=False)
    output = res.stdout + res.stderr
    assert "1 passed" in output                       # the test itself passed ...
    assert res.returncode == pytest.ExitCode.TESTS_FAILED, output   # ... the guard failed the run
    match = re.search(r"pid (\d+): sleep 300", output)
    assert match, output
    assert "still alive" in output
    pid = int(match.group(1))
    state = Path(f"/proc/{pid}/stat")
    assert not state.exists() or state.read_text().rsplit(")", 1)[1].split()[0] == "Z"   # and killed it
