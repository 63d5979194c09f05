"""``myocit dashboard``: start (or reuse) the local Prefect server and serve the deployments.

The server runs on 127.0.0.1 with its SQLite database in ``<home>/.prefect/`` and
analytics off; its address goes to the UI through ``PREFECT_SERVER_API_HOST`` and
``PREFECT_SERVER_API_PORT`` (not ``--port`` alone, which would leave the UI pointing at
4200). A server already answering ``/api/health`` on the port is reused. The
deployments of ``flows/deployments.py`` are served in this process.

Lifecycle: Ctrl-C (SIGINT), SIGTERM (systemd, a container stop, a job scheduler) and SIGHUP (a
closed terminal, a logout) all stop serving and terminate the server this command started (its
whole process group), with the same messages. The server is started through
:func:`myocit_omics.processes.spawn`, so it gets a parent-death signal: if this command dies
without cleaning up (``kill -9``, a crash) the kernel kills the server too. Its pid and port are
recorded in ``<home>/.prefect/server.json``; a server of this home left running by an earlier
crash is reported (with its pid) rather than doubled, and a server of another study home
answering on the port is refused, never reused with the wrong database.
For a shared installation (PostgreSQL, basic auth, another binding) see docs/dashboard.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from myocit_omics.errors import AnalysisError, InputError
from myocit_omics.processes import ServerRecord, spawn, stop_group
from myocit_omics.settings import study_home

#: The record of the server a dashboard started, in the server's PREFECT_HOME.
RECORD_NAME = "server.json"

#: Signals that stop the dashboard like Ctrl-C does (SIGINT keeps Python's own handler).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

#: Environment of the server this command starts (on top of the caller's environment).
SERVER_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PrefectServer:
    """A local Prefect server (``prefect server start``) in its own process group.

    Parameters
    ----------
    prefect_home
        ``PREFECT_HOME`` of the server: the SQLite database ``prefect.db`` and ``server.log`` go there.
    host, port
        Where it listens.
    """

    def __init__(self, *, prefect_home: Path, host: str = "127.0.0.1", port: int = 4200) -> None:
        self.prefect_home = Path(prefect_home)
        self.host = host
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The dashboard's address."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The API address (``PREFECT_API_URL`` of every client)."""
        return f"{self.url}/api"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.prefect_home / "server.log"

    def healthy(self, *, timeout: float = 2.0) -> bool:
        """Return True if ``GET /api/health`` answers 200."""
        try:
            with _NO_PROXY.open(f"{self.api_url}/health", timeout=timeout) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def port_free(self) -> bool:
        """Return True if nothing listens on the port."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((self.host, self.port))
            except OSError:
                return False
        return True

    def environment(self) -> dict[str, str]:
        """Return the environment of the server process."""
        env = dict(os.environ)
        env.pop("PREFECT_API_URL", None)          # the UI derives its API address from host and port
        env.update(SERVER_ENV)
        env.update({
            "PREFECT_HOME": str(self.prefect_home),
            "PREFECT_SERVER_API_HOST": self.host,
            "PREFECT_SERVER_API_PORT": str(self.port),
        })
        return env

    @property
    def record_path(self) -> Path:
        """The record of the server started here (pid, port, start time)."""
        return self.prefect_home / RECORD_NAME

    def start(self) -> None:
        """Start ``prefect server start`` (own group, parent-death signal), log to :attr:`log_path`."""
        self.prefect_home.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.process = spawn(
            [sys.executable, "-m", "prefect", "server", "start", "--host", self.host,
             "--port", str(self.port), "--analytics-off"],
            env=self.environment(), stdout=self._log, stderr=subprocess.STDOUT,
        )
        ServerRecord.for_process(self.process.pid, host=self.host, port=self.port).write(self.record_path)

    def home_of_running(self) -> Path | None:
        """Return the ``PREFECT_HOME`` of the server answering on the port (None if unknown)."""
        try:
            with _NO_PROXY.open(f"{self.api_url}/admin/settings", timeout=10) as resp:
                home = json.loads(resp.read().decode()).get("home")
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return Path(home) if home else None

    def log_tail(self, lines: int = 15) -> str:
        """Return the last lines of the server log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_healthy(self, *, timeout: float = 180.0) -> None:
        """Wait until the server answers; raise AnalysisError if it exits or does not answer in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return
            if self.process is not None and self.process.poll() is not None:
                msg = (f"the Prefect server exited with code {self.process.returncode} before answering on "
                       f"{self.url}; last lines of {self.log_path}:\n{self.log_tail()}")
                raise AnalysisError(msg)
            time.sleep(0.5)
        msg = f"the Prefect server did not answer on {self.url} within {timeout:.0f} s; see {self.log_path}"
        raise AnalysisError(msg)

    def stop(self, *, timeout: float = 20.0) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        if self.process is not None:
            stop_group(self.process, timeout=timeout)
            record = ServerRecord.read(self.record_path)
            if record is not None and record.pid == self.process.pid:
                with contextlib.suppress(OSError):
                    self.record_path.unlink()
        if self._log is not None:
            self._log.close()
            self._log = None


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def check_stale(prefect_home: Path, port: int) -> str | None:
    """Look for a server of this study home left by an earlier dashboard; return a note or raise.

    Raises
    ------
    InputError
        If a server this home recorded still runs on another port than ``port`` (starting a second
        one on the same database would be wrong): the message names its pid and port.

    Returns
    -------
    str or None
        A note when a record of a server that no longer runs was removed.
    """
    path = prefect_home / RECORD_NAME
    record = ServerRecord.read(path)
    if record is None:
        if path.exists():
            path.unlink()
            return f"removed an unreadable server record {path}"
        return None
    if not record.running():
        path.unlink(missing_ok=True)
        return f"removed the record of a Prefect server that is no longer running ({record.describe()})"
    if record.port == port:
        return None            # it answers on the port (reused) or is still starting/hanging (port check)
    raise InputError("a Prefect server of this study home, left running by an earlier dashboard, "
                     "still runs", file=str(path), value=record.describe(),
                     expected="no other server on this study's database",
                     rule="dashboard.stale_server",
                     fix=f"use it with --port {record.port}, or stop it with `kill {record.pid}`")


@contextlib.contextmanager
def local_server(*, prefect_home: Path, port: int, host: str = "127.0.0.1",
                 timeout: float = 180.0) -> Iterator[tuple[PrefectServer, bool]]:
    """Reuse the server answering on ``host:port``, or start one; stop it on exit if it was started here.

    Parameters
    ----------
    prefect_home
        ``PREFECT_HOME`` of a server started here.
    port, host
        Where the server listens.
    timeout
        Seconds to wait for a new server to answer.

    Yields
    ------
    tuple
        ``(server, started)``: ``started`` is False when an existing server was reused.

    Raises
    ------
    InputError
        If another program, or the server of another study home, holds the port, or a server of
        this home from an earlier crash still runs on another port.
    """
    note = check_stale(prefect_home, port)
    if note:
        print(f"Note: {note}", flush=True)
    server = PrefectServer(prefect_home=prefect_home, host=host, port=port)
    if server.healthy():
        other = server.home_of_running()
        if other is None or not _same_path(other, prefect_home):
            raise InputError("the Prefect server answering on the port belongs to another study home",
                             file="--port", value=port,
                             expected=f"a server whose database is in {prefect_home}, or a free port",
                             rule="dashboard.other_home",
                             fix=f"choose another port with --port (that server's home: "
                             f"{other if other is not None else 'unknown'})")
        yield server, False
        return
    if not server.port_free():
        raise InputError("the port is in use by a program that is not a Prefect server", file="--port",
                         value=port, expected="a free port, or the port of a running Prefect server",
                         rule="dashboard.port", fix="choose another port with --port")
    server.start()
    try:
        server.wait_healthy(timeout=timeout)
        yield server, True
    finally:
        server.stop()


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``dashboard`` subcommand."""
    p = sub.add_parser(
        "dashboard", help="Start (or reuse) the local Prefect server and serve the deployments.",
        description="Start the local Prefect server (127.0.0.1, SQLite in <home>/.prefect, analytics off) "
        "or reuse the one answering on --port, serve the deployments (ingest-batch, ingest-inbox, "
        "trial-analysis) and print the dashboard's address. Ctrl-C, SIGTERM or SIGHUP stop serving and "
        "stop the server if this command started it; if this command is killed the server goes too. "
        "Shared installation: docs/dashboard.md.",
    )
    p.add_argument("--home", default=None, help="study home (default: $MYOCIT_HOME or <repo>/data)")
    p.add_argument("--port", type=int, default=4200, help="port of the dashboard (default 4200)")
    p.add_argument("--no-serve", action="store_true",
                   help="only start (or find) the server; do not serve the deployments")
    p.add_argument("--inbox-interval", type=int, default=300, metavar="SECONDS",
                   help="seconds between two scheduled ingest-inbox runs (default 300)")
    p.add_argument("--api-url", default=None, metavar="URL",
                   help="serve against this running (shared) Prefect server instead of a local one, "
                   "e.g. http://prefect.lab:4200/api (basic auth: set PREFECT_API_AUTH_STRING)")
    p.set_defaults(func=run)


def _serve(home: Path, api_url: str, *, inbox_interval: int) -> None:
    from flows.deployments import build_deployments
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    deployments, left_out = build_deployments(home, inbox_interval=inbox_interval)
    for name, reason in left_out.items():
        print(f"  not served: {name} ({reason})", flush=True)
    if not deployments:
        msg = "no deployment could be built; see the reasons above"
        raise AnalysisError(msg)
    print("Serving: " + ", ".join(d.name for d in deployments) + ". Press Ctrl-C to stop.", flush=True)
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        serve(*deployments, print_starting_message=False)


def api_healthy(api_url: str, *, timeout: float = 5.0) -> bool:
    """Return True if ``<api_url>/health`` answers 200 (it stays open when basic auth is on)."""
    try:
        with _NO_PROXY.open(f"{api_url.rstrip('/')}/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


@contextlib.contextmanager
def _server_for(args: argparse.Namespace,
                prefect_home: Path) -> Iterator[tuple[str, str, PrefectServer | None]]:
    """Yield ``(dashboard address, API address, server started here or None)``."""
    if args.api_url:
        api_url = args.api_url.rstrip("/")
        if not api_url.endswith("/api") or not api_healthy(api_url):
            raise InputError("no Prefect server answers at this address", file="--api-url",
                             value=args.api_url, expected="the API address of a running Prefect server, e.g. http://host:4200/api",
                             rule="dashboard.api_url")
        yield api_url.removesuffix("/api"), api_url, None
        return
    with local_server(prefect_home=prefect_home, port=args.port) as (server, started):
        yield server.url, server.api_url, server if started else None


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Make SIGTERM and SIGHUP stop this command as Ctrl-C does (restored on exit).

    SIGINT keeps Python's handler, or stays ignored when it was ignored by inheritance (a
    background job of a script): SIGTERM is the signal that always stops a dashboard.
    """
    previous = {sig: signal.signal(sig, _stop_like_ctrl_c) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(args: argparse.Namespace) -> int:
    """Start or reuse the server, serve the deployments until stopped, then stop what was started."""
    if not 1 <= args.port <= 65535:
        raise InputError("not a TCP port", file="--port", value=args.port, expected="1-65535",
                         rule="dashboard.port")
    if args.inbox_interval < 10:
        raise InputError("interval too short", file="--inbox-interval", value=args.inbox_interval,
                         expected="at least 10 seconds", rule="dashboard.interval")
    logging.getLogger("httpx").setLevel(logging.WARNING)      # one line per API call is noise here
    home = study_home(args.home)
    home.mkdir(parents=True, exist_ok=True)
    prefect_home = home / ".prefect"
    with stop_signals():
        try:
            return _run(args, home, prefect_home)
        except KeyboardInterrupt:
            # stopped while the server was starting: the server is already stopped (local_server)
            print("Stopped before the server answered; nothing left running.", flush=True)
            return 0


def _run(args: argparse.Namespace, home: Path, prefect_home: Path) -> int:
    with _server_for(args, prefect_home) as (url, api_url, started):
        # every Prefect client of this process (and the flow runs it spawns) talks to this server
        os.environ["PREFECT_API_URL"] = api_url
        os.environ["PREFECT_HOME"] = str(prefect_home)      # client side: profiles, result storage
        if started is not None:
            how = f"started (database {prefect_home / 'prefect.db'}, log {started.log_path})"
        else:
            how = "reused (already running)"
        print(f"Prefect dashboard: {url}  [{how}]", flush=True)
        print(f"Flows run from a shell show there with: export PREFECT_API_URL={api_url}", flush=True)
        try:
            if not args.no_serve:
                _serve(home, api_url, inbox_interval=args.inbox_interval)
            elif started is not None:
                print("Press Ctrl-C to stop the server.", flush=True)
                proc = started.process
                while proc is not None and proc.poll() is None:
                    time.sleep(1.0)
                if proc is not None and proc.returncode not in (0, None):
                    print(f"the Prefect server stopped by itself (code {proc.returncode}); "
                          f"see {started.log_path}", file=sys.stderr)
                    return 1
        except KeyboardInterrupt:
            pass
        except SystemExit as exc:          # Prefect's runner exits on SIGTERM when not yet started
            if exc.code not in (0, None):
                raise
        if started is not None:
            print("Stopping the Prefect server ...", flush=True)
            # a second signal while stopping must not leave the server behind
            with _ignoring(signal.SIGINT, *STOP_SIGNALS):
                started.stop()
    if started is not None:
        print("Prefect server stopped.", flush=True)
    return 0


@contextlib.contextmanager
def _ignoring(*sigs: int) -> Iterator[None]:
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
