"""Helpers of the multi-process tests: a shared installation, process workers, an authenticated REST helper.

Everything started here binds free loopback ports, runs in its own process group and is
stopped on every path (fixture finalisers), killing only the pids started here.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
_SUPPORT = REPO / "tests" / "browser" / "dashboard_support.py"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def dashboard_support():
    """The shared dashboard test helpers (free_port, wait_for, cli_env, child_pids, alive)."""
    name = "myocit_dashboard_support"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _SUPPORT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass
class Api:
    """The REST API of the shared server, with (or without) the basic-auth header."""

    base: str
    auth_string: str | None

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.auth_string:
            h["Authorization"] = "Basic " + base64.b64encode(self.auth_string.encode()).decode()
        return h

    def status(self, path: str, body: Any = None, *, method: str | None = None) -> tuple[int, str]:
        """Call ``/api<path>``; return ``(HTTP status, body)`` without raising on 4xx/5xx."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}/api{path}", data=data, headers=self.headers(),
                                     method=method or ("GET" if body is None else "POST"))
        try:
            with _OPENER.open(req, timeout=60) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def __call__(self, path: str, body: Any = None, *, method: str | None = None) -> Any:
        code, text = self.status(path, body, method=method)
        if code >= 300:
            msg = f"{method or ('GET' if body is None else 'POST')} {path} -> HTTP {code}: {text[:500]}"
            raise AssertionError(msg)
        return json.loads(text) if text else None


def state_dir() -> Path:
    """A fresh directory the ``postgres`` user can enter (tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="myocit-pg-test-"))
    os.chmod(d, 0o711)
    return d


@contextlib.contextmanager
def running_installation():
    """PostgreSQL + Prefect server with basic auth in a fresh directory; skip if PostgreSQL is absent."""
    from myocit_omics.errors import AnalysisError
    from myocit_omics.postgres import pg_bindir
    from myocit_omics.shared_server import shared_installation

    try:
        pg_bindir()
    except AnalysisError as exc:
        pytest.skip(f"PostgreSQL is not installed: {exc}")
    root = state_dir()
    try:
        with shared_installation(root, auth_string="lab:test-" + os.urandom(6).hex()) as inst:
            yield inst
    finally:
        shutil.rmtree(root, ignore_errors=True)



def client_env(installation, **extra: str) -> dict[str, str]:
    """Environment of a client process (dashboard, worker, CLI) of the installation."""
    env = dashboard_support().cli_env(**installation.client_env())
    env.update({"PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_WORKER_PREFETCH_SECONDS": "2"})
    env.update(extra)
    return env


def descendants(pid: int) -> list[int]:
    """All descendants of ``pid`` (children first found through /proc)."""
    support = dashboard_support()
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = support.child_pids(todo.pop())
        out.extend(kids)
        todo.extend(kids)
    return out


class Worker:
    """``prefect worker start --pool P`` in its own process group, logging to a file."""

    def __init__(self, installation, pool: str, name: str, workdir: Path, **env: str) -> None:
        self.name = name
        self.log = workdir / f"worker-{name}.log"
        fh = open(self.log, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process",
             "--name", name, "--limit", "1"],
            cwd=workdir, env=client_env(installation, **env), stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            # stop() sends SIGINT as Prefect asks: give the worker its default disposition even
            # when this suite runs as a script's background job (SIGINT ignored by inheritance)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        fh.close()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill_hard(self) -> list[int]:
        """SIGKILL the worker and everything it started (as if its machine were lost); return the pids."""
        pids = [self.process.pid, *descendants(self.process.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        return pids

    def stop(self) -> None:
        """SIGINT (twice, as Prefect asks), then SIGKILL of its process group and of its descendants."""
        proc = self.process
        rest = descendants(proc.pid) if proc.poll() is None else []
        for _ in range(2):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in rest:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def wait_run(api: Api, run_id: str, *, timeout: float,
             states=("COMPLETED", "FAILED", "CRASHED", "CANCELLED")):
    """Wait until flow run ``run_id`` is in one of ``states``; return it."""
    support = dashboard_support()

    def done():
        fr = api(f"/flow_runs/{run_id}")
        return fr if fr["state_type"] in states else None

    return support.wait_for(done, timeout=timeout, what=f"flow run {run_id} in {states}", interval=2)


def run_logs(api: Api, run_id: str) -> str:
    """The flow run's log lines (for failure messages)."""
    logs = api("/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200})
    return "\n".join(row["message"] for row in logs)[-4000:]
