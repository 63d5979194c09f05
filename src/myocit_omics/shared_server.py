"""The lab's shared Prefect server: PostgreSQL behind it, basic auth in front of it.

:func:`shared_installation` starts :class:`~myocit_omics.postgres.LocalPostgres` and a
``prefect server start`` on it (``PREFECT_SERVER_DATABASE_CONNECTION_URL``) with basic auth
(``PREFECT_SERVER_API_AUTH_STRING``), and stops both on exit, whatever happens. ``myocit
shared-server`` and the test fixture use it. Every client (``myocit dashboard --api-url``,
``prefect worker start``, a shell running flows) needs :meth:`SharedInstallation.client_env`:
``PREFECT_API_URL`` and the same string in ``PREFECT_API_AUTH_STRING``; without it the API
answers 401 (``/api/health`` stays open). See docs/dashboard.md and docs/multi_machine.md.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from myocit_omics.cli.dashboard import PrefectServer
from myocit_omics.postgres import LocalPostgres, free_port


class AuthPrefectServer(PrefectServer):
    """``prefect server start`` on a PostgreSQL database with basic auth on.

    Parameters
    ----------
    prefect_home
        ``PREFECT_HOME`` of the server (its log; the database is in PostgreSQL).
    database_url
        ``postgresql+asyncpg://user:password@host:port/db``.
    auth_string
        ``user:password`` every client must send.
    host, port
        Where it listens.
    """

    def __init__(self, *, prefect_home: Path, database_url: str, auth_string: str,
                 host: str = "127.0.0.1", port: int = 4200) -> None:
        super().__init__(prefect_home=prefect_home, host=host, port=port)
        self.database_url = database_url
        self.auth_string = auth_string

    def environment(self) -> dict[str, str]:
        """Return the local server's environment plus the database URL and the auth string."""
        env = super().environment()
        env.pop("PREFECT_API_AUTH_STRING", None)
        env.update({
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": self.database_url,
            "PREFECT_SERVER_API_AUTH_STRING": self.auth_string,
        })
        return env


@dataclass
class SharedInstallation:
    """A running PostgreSQL and Prefect server pair."""

    postgres: LocalPostgres
    server: AuthPrefectServer
    auth_string: str

    @property
    def api_url(self) -> str:
        """``PREFECT_API_URL`` of every client."""
        return self.server.api_url

    def client_env(self) -> dict[str, str]:
        """Return the settings a client (worker, dashboard, shell) needs to talk to this server."""
        return {"PREFECT_API_URL": self.api_url, "PREFECT_API_AUTH_STRING": self.auth_string}

    def auth_header(self) -> dict[str, str]:
        """Return the HTTP ``Authorization`` header clients send (basic auth)."""
        token = base64.b64encode(self.auth_string.encode()).decode()
        return {"Authorization": f"Basic {token}"}


def auth_string_for(root: Path) -> str:
    """Return ``$PREFECT_SERVER_API_AUTH_STRING``, else ``admin:<secret>`` kept in ``<root>/auth_string``.

    The file is created once (mode 0600) so that the string survives restarts.
    """
    given = os.environ.get("PREFECT_SERVER_API_AUTH_STRING")
    if given:
        return given
    path = Path(root) / "auth_string"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = f"admin:{secrets.token_urlsafe(18)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


@contextlib.contextmanager
def shared_installation(root: str | Path, *, port: int | None = None, db_port: int | None = None,
                        host: str = "127.0.0.1", auth_string: str | None = None,
                        timeout: float = 240.0) -> Iterator[SharedInstallation]:
    """Start PostgreSQL and a Prefect server on it with basic auth; stop both on exit.

    Parameters
    ----------
    root
        State directory: ``postgres/`` (the cluster, created on first use), ``prefect/`` (the
        server's home and log), ``auth_string``.
    port, db_port
        Ports of the Prefect server and of PostgreSQL (default: free ones).
    host
        Address the Prefect server listens on (PostgreSQL stays on loopback).
    auth_string
        ``user:password`` (default: :func:`auth_string_for`).
    timeout
        Seconds to wait for the Prefect server (its first start runs the database migrations).

    Yields
    ------
    SharedInstallation
        The running pair.

    Raises
    ------
    myocit_omics.errors.AnalysisError
        If PostgreSQL is not installed, or either server does not come up (with its log's end).
    """
    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    auth = auth_string or auth_string_for(root)
    pg = LocalPostgres(root / "postgres", port=db_port)
    server = AuthPrefectServer(prefect_home=root / "prefect", database_url="", auth_string=auth,
                               host=host, port=port if port is not None else free_port(host))
    try:
        pg.start()
        server.database_url = pg.url
        server.start()
        server.wait_healthy(timeout=timeout)
        yield SharedInstallation(postgres=pg, server=server, auth_string=auth)
    finally:
        server.stop()
        pg.stop()


__all__ = ["AuthPrefectServer", "SharedInstallation", "auth_string_for", "shared_installation"]
