"""``myocit dashboard``: start (or reuse) the local Prefect server and serve the deployments.

The server runs on 127.0.0.1 with its SQLite database in ``<home>/.prefect/`` and
analytics off; its address goes to the UI through ``PREFECT_SERVER_API_HOST`` and
``PREFECT_SERVER_API_PORT`` (not ``--port`` alone, which would leave the UI pointing at
4200). A server already answering ``/api/health`` on the port is reused. The
deployments of ``flows/deployments.py`` are served in this process; Ctrl-C stops
serving and terminates the server this command started (its whole process group).
For a shared installation (PostgreSQL, basic auth, another binding) see docs/dashboard.md.
"""

from __future__ import annotations

import argparse
import contextlib
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
from myocit_omics.settings import study_home

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

    def start(self) -> None:
        """Start ``prefect server start`` in a new process group, logging to :attr:`log_path`."""
        self.prefect_home.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", self.host,
             "--port", str(self.port), "--analytics-off"],
            env=self.environment(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

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
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if proc is not None:
            # children (uvicorn, services) share the group: make sure none outlives the server
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None


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
        If another program holds the port.
    """
    server = PrefectServer(prefect_home=prefect_home, host=host, port=port)
    if server.healthy():
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
        "trial-analysis) and print the dashboard's address. Ctrl-C stops serving and stops the server "
        "if this command started it. Shared installation: docs/dashboard.md.",
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


def run(args: argparse.Namespace) -> int:
    """Start or reuse the server, serve the deployments until Ctrl-C, then stop what was started."""
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
        if started is not None:
            print("Stopping the Prefect server ...", flush=True)
    if started is not None:
        print("Prefect server stopped.", flush=True)
    return 0
