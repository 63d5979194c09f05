"""``myocit lab-server``: PostgreSQL and a Prefect server on it with basic auth, until Ctrl-C.

The lab's shared dashboard on one machine (docs/multi_machine.md): the cluster lives in
``<dir>/postgres`` (created on first use, as the ``postgres`` user when run as root), the
server's log in ``<dir>/prefect``, the basic-auth string in ``<dir>/auth_string`` (or
``$PREFECT_SERVER_API_AUTH_STRING``). It prints what clients export; Ctrl-C stops both
servers. For a production service use the PostgreSQL of the machine and a systemd unit
(docs/dashboard.md); this command is the same set-up in one process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from myocit_omics.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``lab-server`` subcommand."""
    p = sub.add_parser(
        "lab-server", help="Run PostgreSQL and a Prefect server on it with basic auth, until Ctrl-C.",
        description="Start PostgreSQL (cluster in DIR/postgres, loopback only) and `prefect server start` "
        "on it with basic auth (PREFECT_SERVER_API_AUTH_STRING, or a secret kept in DIR/auth_string); "
        "print the settings clients (myocit dashboard --api-url, prefect worker start) export; "
        "Ctrl-C stops both. See docs/multi_machine.md.",
    )
    p.add_argument("--dir", required=True, type=Path, help="state directory (created on first use)")
    p.add_argument("--host", default="127.0.0.1", help="address the Prefect server listens on")
    p.add_argument("--port", type=int, default=4200, help="port of the Prefect server (default 4200)")
    p.add_argument("--db-port", type=int, default=None, help="port of PostgreSQL (default: a free one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start both servers, print the client settings, wait for Ctrl-C, stop both."""
    for name, value in (("--port", args.port), ("--db-port", args.db_port)):
        if value is not None and not 1 <= value <= 65535:
            raise InputError("not a TCP port", file=name, value=value, expected="1-65535",
                             rule="lab_server.port")
    from myocit_omics.shared_server import shared_installation

    print("Starting PostgreSQL and the Prefect server (the first start migrates the database) ...",
          flush=True)
    try:
        with shared_installation(args.dir, port=args.port, db_port=args.db_port, host=args.host) as inst:
            print(f"Prefect dashboard: {inst.server.url}  (PostgreSQL on 127.0.0.1:{inst.postgres.port}, "
                  f"data {inst.postgres.data_dir})", flush=True)
            print("Clients (myocit dashboard --api-url, prefect worker start, shells) export:", flush=True)
            print(f"  export PREFECT_API_URL={inst.api_url}", flush=True)
            print(f"  export PREFECT_API_AUTH_STRING=\"$(cat {Path(args.dir).absolute() / 'auth_string'})\""
                  if (Path(args.dir) / "auth_string").is_file()
                  else "  export PREFECT_API_AUTH_STRING=\"$PREFECT_SERVER_API_AUTH_STRING\"", flush=True)
            print("Press Ctrl-C to stop both.", flush=True)
            while inst.server.process is not None and inst.server.process.poll() is None \
                    and inst.postgres.running():
                time.sleep(1.0)
            print("a server stopped by itself; see "
                  f"{inst.server.log_path} and {inst.postgres.log_path}", flush=True)
            return 1
    except KeyboardInterrupt:
        print("Stopped PostgreSQL and the Prefect server.", flush=True)
        return 0
