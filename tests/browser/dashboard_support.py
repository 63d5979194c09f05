"""One `myocit dashboard` on a free port, with the demo study ingested and analysed through its deployment.

Shared by tests/browser/ and tests/flows/test_dashboard_server.py (both load it by path
under one module name, so they share one session): the first test that asks starts it,
every later one reuses it, and it is stopped (SIGTERM, as systemd would) when the pytest
session ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RUN_ID = "e2e"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """Return a TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api(base: str, path: str, body: Any = None, *, method: str | None = None, attempts: int = 6) -> Any:
    """Call the Prefect REST API: POST ``body`` as JSON (GET when None); return the decoded JSON.

    A busy SQLite server answers 503 now and then: such calls are retried a few times.
    """
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(attempts):
        req = urllib.request.Request(f"{base}/api{path}", data=data,
                                     method=method or ("GET" if body is None else "POST"),
                                     headers={"Content-Type": "application/json"})
        try:
            with _OPENER.open(req, timeout=60) as resp:
                text = resp.read().decode()
            return json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == attempts - 1:
                raise
        time.sleep(2 * (attempt + 1))
    return None


def api_status(base: str, path: str, body: Any) -> tuple[int, str]:
    """POST and return ``(HTTP status, body text)`` without raising on 4xx."""
    req = urllib.request.Request(f"{base}/api{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with _OPENER.open(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(check, *, timeout: float, what: str, interval: float = 1.0) -> Any:
    """Call ``check()`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_exc, value = exc, None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_exc})")


def child_pids(pid: int) -> list[int]:
    """Return the pids of the direct children of ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    """Return True if a (non-zombie) process ``pid`` exists."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for a `myocit` subprocess: no inherited Prefect API or home, quick runner polling."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env.update({"PREFECT_RUNNER_POLL_FREQUENCY": "2", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def start_dashboard(home: Path, port: int, *args: str,
                    ignore_sigint: bool = False) -> tuple[subprocess.Popen[bytes], Path]:
    """Start `myocit dashboard --home H --port P [args]` in its own session; return it and its output file.

    SIGINT is set to its default in the dashboard whatever this process inherited (a suite started
    in the background of a script ignores it), or ignored with ``ignore_sigint`` (as `cmd &` does).
    """
    out = home.parent / f"dashboard-{port}.out"
    disposition = signal.SIG_IGN if ignore_sigint else signal.SIG_DFL

    def preexec() -> None:
        signal.signal(signal.SIGINT, disposition)

    fh = open(out, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "myocit_omics.cli", "dashboard", "--home", str(home),
                             "--port", str(port), *args], cwd=REPO, env=cli_env(), stdout=fh,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=preexec)
    fh.close()
    return proc, out


def stop_dashboard(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 90) -> int:
    """Send ``sig`` (SIGTERM: it cannot be ignored by inheritance) and wait; return the exit code.

    If the dashboard hangs it is killed (SIGKILL to its group; its server dies of the parent-death
    signal) and -9 is returned.
    """
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            return -9
    return int(proc.returncode)


def server_pids(dashboard_pid: int) -> list[int]:
    """Return the pids of the `prefect server start` children of a dashboard."""
    out = []
    for pid in child_pids(dashboard_pid):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"prefect" in argv and b"server" in argv:
                out.append(pid)
    return out


def group_members(pgid: int) -> list[int]:
    """Return the live (non-zombie) processes of process group ``pgid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(stat.parent.name))
    return out


@dataclass
class DashboardSession:
    """The running dashboard and the trial-analysis run made through it."""

    base: str
    home: Path
    process: subprocess.Popen[bytes]
    output: Path
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    flow_run: dict[str, Any] = field(default_factory=dict)
    ingest_run: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    stopped: bool = False

    def log(self) -> str:
        """The dashboard's output so far (for failure messages)."""
        return self.output.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        """Stop the dashboard (SIGTERM); return its exit code."""
        self.stopped = True
        return stop_dashboard(self.process)


def _ingest_demo(home: Path) -> None:
    cmd = [sys.executable, "-m", "myocit_omics.cli", "demo", "--home", str(home), "--no-analysis"]
    res = subprocess.run(cmd, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=600,
                         check=False)
    if res.returncode != 0:
        msg = f"myocit demo --no-analysis failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
        raise RuntimeError(msg)


def _wait_run(base: str, run_id: str, timeout: float) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        fr = api(base, f"/flow_runs/{run_id}")
        return fr if fr["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

    return wait_for(done, timeout=timeout, what=f"flow run {run_id} to finish", interval=2)


def start_session(workdir: Path) -> DashboardSession:
    """Ingest the demo, start `myocit dashboard`, run trial-analysis and ingest-batch via the deployments."""
    home = workdir / "home"
    home.mkdir(parents=True)
    _ingest_demo(home)
    port = free_port()
    proc, out = start_dashboard(home, port)
    s = DashboardSession(base=f"http://127.0.0.1:{port}", home=home, process=proc, output=out)
    try:
        def deployments() -> dict[str, dict[str, Any]] | None:
            if proc.poll() is not None:
                raise RuntimeError(f"myocit dashboard exited ({proc.returncode}):\n{s.log()}")
            deps = {d["name"]: d for d in api(s.base, "/deployments/filter", {})}
            return deps if {"trial-analysis", "ingest-batch", "ingest-inbox"} <= set(deps) else None

        s.deployments = wait_for(deployments, timeout=300, what="the three deployments to be served",
                                 interval=2)
        trial = api(s.base, f"/deployments/{s.deployments['trial-analysis']['id']}/create_flow_run",
                    {"parameters": {"run_id": RUN_ID}})
        batch = sorted(p for p in (REPO / "data" / "demo" / "batches").iterdir() if p.is_dir())[0]
        ingest = api(s.base, f"/deployments/{s.deployments['ingest-batch']['id']}/create_flow_run",
                     {"parameters": {"batch_path": str(batch), "submitted_by": "browser-test"}})
        s.ingest_run = _wait_run(s.base, ingest["id"], 300)
        s.flow_run = _wait_run(s.base, trial["id"], 900)
        s.run_dir = home / "results" / RUN_ID
    except BaseException:
        s.stop()
        raise
    return s


_SESSION: dict[str, Any] = {}


def session(tmp_path_factory: Any) -> DashboardSession:
    """Return the shared session, starting it on first use (a failed start is not retried)."""
    if "error" in _SESSION:
        raise RuntimeError(f"the shared dashboard session failed to start: {_SESSION['error']}")
    if "s" not in _SESSION or _SESSION["s"].stopped:
        try:
            _SESSION["s"] = start_session(tmp_path_factory.mktemp("dashboard-e2e"))
        except Exception as exc:
            _SESSION["error"] = f"{type(exc).__name__}: {exc}"
            raise
    return _SESSION["s"]


def finish() -> None:
    """Stop the shared session if it runs (called at the end of the pytest session)."""
    s = _SESSION.get("s")
    if s is not None and not s.stopped:
        s.stop()
