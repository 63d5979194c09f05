"""`myocit dashboard` never leaves its Prefect server behind: SIGTERM, SIGHUP and SIGINT stop it as
Ctrl-C does, kill -9 takes the server down through its parent-death signal, a suite started as a
background job (SIGINT ignored by inheritance) still stops it with SIGTERM, and a server of this home
left by an earlier crash is reported, not doubled."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from myocit_omics.cli import main
from myocit_omics.processes import ServerRecord, is_alive, spawn, stop_group

SUPPORT = Path(__file__).resolve().parents[1] / "browser" / "dashboard_support.py"
GONE_WITHIN = 30.0          # seconds: the bound


def _support():
    name = "myocit_dashboard_support"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SUPPORT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def lifecycle_home(tmp_path_factory):
    """One study home for every case: the first start creates the database, later ones reuse it."""
    return tmp_path_factory.mktemp("lifecycle") / "home"


def _server_gone(support, server: int) -> bool:
    return not is_alive(server) and not support.group_members(server)


CASES = [
    pytest.param(signal.SIGTERM, False, id="SIGTERM"),
    pytest.param(signal.SIGHUP, False, id="SIGHUP"),
    pytest.param(signal.SIGINT, False, id="SIGINT"),
    pytest.param(signal.SIGKILL, False, id="SIGKILL"),
    pytest.param(signal.SIGTERM, True, id="SIGTERM-with-SIGINT-ignored-by-inheritance"),
]


@pytest.mark.slow
@pytest.mark.flow
@pytest.mark.parametrize(("sig", "ignore_sigint"), CASES)
def test_no_process_of_the_server_outlives_the_dashboard(lifecycle_home, sig, ignore_sigint):
    support = _support()
    port = support.free_port()
    proc, out = support.start_dashboard(lifecycle_home, port, "--no-serve", ignore_sigint=ignore_sigint)
    try:
        support.wait_for(lambda: "Press Ctrl-C" in out.read_text() or proc.poll() is not None, timeout=240,
                         what="the server to start")
        assert proc.poll() is None, out.read_text()
        servers = support.server_pids(proc.pid)
        assert len(servers) == 1, (servers, out.read_text())
        server = servers[0]
        record = ServerRecord.read(lifecycle_home / ".prefect" / "server.json")
        assert record is not None and record.pid == server and record.port == port and record.running()
        if ignore_sigint:
            # Ctrl-C does not reach a background job; SIGTERM (below) must still stop everything
            os.kill(proc.pid, signal.SIGINT)
            time.sleep(3)
            assert proc.poll() is None and is_alive(server), out.read_text()
        t0 = time.monotonic()
        code = support.stop_dashboard(proc, sig=sig, timeout=GONE_WITHIN)
    finally:
        if proc.poll() is None:
            support.stop_dashboard(proc, sig=signal.SIGKILL, timeout=10)
    if ignore_sigint:
        assert code == 0, out.read_text()
    gone = support.wait_for(lambda: _server_gone(support, server) or None,
                            timeout=max(1.0, GONE_WITHIN - (time.monotonic() - t0)),
                            what=f"server {server} and its group to exit", interval=0.2)
    assert gone
    with pytest.raises(OSError):
        support.api(f"http://127.0.0.1:{port}", "/health", attempts=1)
    text = out.read_text()
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        # the record of the killed server stays behind: the next start notes it and carries on
    else:
        assert code == 0, text
        assert "Stopping the Prefect server ..." in text and "Prefect server stopped." in text
        assert not (lifecycle_home / ".prefect" / "server.json").exists()


def test_a_server_of_this_home_left_by_a_crash_is_reported_not_doubled(tmp_path, capsys):
    support = _support()
    home = tmp_path / "home"
    stale = spawn(["sleep", "120"])                   # stands for a server that outlived its dashboard
    try:
        ServerRecord.for_process(stale.pid, host="127.0.0.1", port=support.free_port()).write(
            home / ".prefect" / "server.json")
        code = main(["dashboard", "--home", str(home), "--port", str(support.free_port()), "--no-serve"])
        err = capsys.readouterr().err
        assert code == 2
        assert "left running by an earlier dashboard" in err and f"kill {stale.pid}" in err
        assert not (home / ".prefect" / "prefect.db").exists()      # no second server started
    finally:
        stop_group(stale, timeout=5)


def test_the_record_of_a_server_that_is_gone_is_removed(tmp_path):
    from myocit_omics.cli.dashboard import check_stale

    gone = subprocess.Popen(["true"])
    gone.wait()
    path = tmp_path / ".prefect" / "server.json"
    ServerRecord(pid=gone.pid, start_ticks=1, host="127.0.0.1", port=1234, started_by=1,
                 started_at="2026-01-01T00:00:00Z").write(path)
    note = check_stale(tmp_path / ".prefect", 4321)
    assert note and "no longer running" in note and f"pid {gone.pid}" in note
    assert not path.exists()
    assert check_stale(tmp_path / ".prefect", 4321) is None
