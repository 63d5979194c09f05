"""A PostgreSQL server for the shared Prefect server: Debian's ``postgresql`` run on loopback.

:class:`LocalPostgres` creates a cluster (``initdb``) in a directory, starts ``postgres`` on
127.0.0.1 and a port of its own in a new process group, creates the database and checks that
the ``pg_trgm`` extension Prefect needs is there. ``initdb`` and ``postgres`` refuse to run as
root: run as root, they run as the ``postgres`` system user (``runuser``) and the directory is
handed to that user. Passwords are generated once and kept (mode 0600) in the directory.

Nothing here downloads anything; without the PostgreSQL programs :func:`pg_bindir` raises an
:class:`~myocit_omics.errors.AnalysisError` that says what to install.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from myocit_omics.errors import AnalysisError

#: System account the server runs as when started by root (Debian's package creates it).
SERVICE_USER = "postgres"


def pg_bindir() -> Path:
    """Return the directory with ``initdb``, ``postgres`` and ``psql``.

    ``$MYOCIT_PG_BINDIR`` first, then Debian's ``/usr/lib/postgresql/<version>/bin`` (newest),
    then the ``PATH``.

    Raises
    ------
    AnalysisError
        If no PostgreSQL server programs are installed.
    """
    candidates: list[Path] = []
    if os.environ.get("MYOCIT_PG_BINDIR"):
        candidates.append(Path(os.environ["MYOCIT_PG_BINDIR"]))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    candidates.extend(debian)
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    for cand in candidates:
        if all((cand / prog).is_file() for prog in ("initdb", "postgres", "psql")):
            return cand
    msg = ("PostgreSQL server programs (initdb, postgres, psql) not found; install Debian's "
           "`postgresql` package (apt-get install postgresql) or set MYOCIT_PG_BINDIR")
    raise AnalysisError(msg)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port nothing listens on at ``host``."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _secret_file(path: Path) -> str:
    """Return the secret kept in ``path``, creating it (mode 0600) on first use."""
    if path.is_file():
        return path.read_text().strip()
    value = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


class LocalPostgres:
    """A PostgreSQL cluster in ``root`` served on ``host:port``.

    Parameters
    ----------
    root
        Directory of the cluster: ``data/`` (the cluster), ``password`` (the superuser's),
        ``postgres.log``. Created on first :meth:`start`, reused after.
    port
        TCP port (default: a free one).
    host
        Listening address (default loopback only).
    user, database
        Superuser name and the database created for Prefect.
    """

    def __init__(self, root: Path, *, port: int | None = None, host: str = "127.0.0.1",
                 user: str = "myocit", database: str = "prefect") -> None:
        self.root = Path(root).absolute()
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.user = user
        self.database = database
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._bindir: Path | None = None

    # -- paths and settings -------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        """The server log."""
        return self.root / "postgres.log"

    @property
    def password(self) -> str:
        """The superuser's password (kept in ``<root>/password``)."""
        return _secret_file(self.root / "password")

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the Prefect database (``PREFECT_SERVER_DATABASE_CONNECTION_URL``)."""
        return f"postgresql+asyncpg://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def bindir(self) -> Path:
        """Directory of the PostgreSQL programs."""
        if self._bindir is None:
            self._bindir = pg_bindir()
        return self._bindir

    @staticmethod
    def _as_root() -> bool:
        return hasattr(os, "geteuid") and os.geteuid() == 0

    def _command(self, prog: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / prog), *args]
        if self._as_root():
            return ["runuser", "-u", SERVICE_USER, "--", *cmd]
        return cmd

    def _client_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"PGPASSWORD": self.password, "PGHOST": self.host, "PGPORT": str(self.port),
                    "PGUSER": self.user, "PGCONNECT_TIMEOUT": "5"})
        return env

    def _run(self, cmd: Sequence[str], what: str, *, env: dict[str, str] | None = None) -> str:
        res = subprocess.run(list(cmd), capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                             timeout=120, check=False)
        if res.returncode != 0:
            msg = f"PostgreSQL: {what} failed (exit {res.returncode}): {(res.stderr or res.stdout).strip()}"
            raise AnalysisError(msg)
        return res.stdout

    def _hand_over(self, path: Path) -> None:
        """Give ``path`` to the service user when running as root (initdb refuses root)."""
        if self._as_root():
            shutil.chown(path, user=SERVICE_USER, group=None)

    # -- lifecycle ------------------------------------------------------------------------------
    def initialised(self) -> bool:
        """Return True if the cluster exists."""
        return (self.data_dir / "PG_VERSION").is_file()

    def init(self) -> None:
        """Create the cluster (``initdb``, password authentication) unless it exists."""
        if self.initialised():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o711)       # the service user must reach data/ inside it
        if self._as_root():
            closed = [p for p in self.root.parents if not os.stat(p).st_mode & 0o001]
            if closed:
                msg = (f"PostgreSQL runs as the {SERVICE_USER!r} user, who cannot enter {closed[0]} "
                       f"(on the way to {self.root}); choose a directory that user can reach, "
                       "e.g. under /srv or /var/lib")
                raise AnalysisError(msg)
        pwfile = self.root / "initdb.pw"
        pwfile.write_text(self.password + "\n")
        os.chmod(pwfile, 0o600)
        self._hand_over(pwfile)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self._hand_over(self.data_dir)
        try:
            self._run(self._command("initdb", "-D", str(self.data_dir), "-U", self.user,
                                    "-A", "scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C",
                                    "--no-sync"), "initdb")
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self, *, timeout: float = 60.0) -> None:
        """Start the server in a new process group, wait until it answers, create the database.

        Raises
        ------
        AnalysisError
            If the server exits or does not answer in ``timeout`` seconds, or ``pg_trgm`` is missing.
        """
        self.init()
        self.log_path.touch()
        self._hand_over(self.log_path)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self._command("postgres", "-D", str(self.data_dir), "-p", str(self.port),
                          "-c", f"listen_addresses={self.host}",
                          "-c", f"unix_socket_directories={self.data_dir}",
                          "-c", "max_connections=100", "-c", "fsync=off"),
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            self._wait_ready(timeout)
            self._create_database()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        isready = [str(self.bindir / "pg_isready"), "-h", self.host, "-p", str(self.port), "-q"]
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace").splitlines()[-10:]
                msg = f"PostgreSQL exited with code {self.process.returncode}:\n" + "\n".join(tail)
                raise AnalysisError(msg)
            if subprocess.run(isready, check=False, stdin=subprocess.DEVNULL).returncode == 0:
                return
            time.sleep(0.3)
        msg = (f"PostgreSQL did not answer on {self.host}:{self.port} within {timeout:.0f} s; "
               f"see {self.log_path}")
        raise AnalysisError(msg)

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run one SQL statement as the superuser; return psql's unaligned output."""
        return self._run([str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                          "-d", database, "-c", sql], f"psql {sql!r}", env=self._client_env())

    def _create_database(self) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'").strip()
        if exists != "1":
            self.psql(f'CREATE DATABASE "{self.database}"')
        available = self.psql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").strip()
        if available != "1":
            msg = ("PostgreSQL: the pg_trgm extension Prefect needs is not installed "
                   "(Debian: it ships in the postgresql package's contrib modules)")
            raise AnalysisError(msg)
        self.psql("CREATE EXTENSION IF NOT EXISTS pg_trgm", database=self.database)

    def running(self) -> bool:
        """Return True while the server process runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self, *, timeout: float = 30.0) -> None:
        """Stop the server (fast shutdown: SIGINT), then make sure nothing of its group is left."""
        proc = self.process
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


__all__ = ["SERVICE_USER", "LocalPostgres", "free_port", "pg_bindir"]
