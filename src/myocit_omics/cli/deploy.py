"""``myocit deploy``: register the study's deployments to a process work pool of a Prefect server.

Then ``prefect worker start --pool <pool>`` (one or several, on this or other machines that
see the study home at the same path) runs them: the dashboard's Run buttons work with no
``myocit dashboard`` serving. The server is the one of ``--api-url`` or ``PREFECT_API_URL``
(basic auth: ``PREFECT_API_AUTH_STRING``). See docs/multi_machine.md.
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import timedelta

from myocit_omics.errors import InputError
from myocit_omics.settings import study_home


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``deploy`` subcommand."""
    p = sub.add_parser(
        "deploy", help="Register the deployments to a process work pool (run by `prefect worker start`).",
        description="Register ingest-batch, ingest-inbox and trial-analysis of the study home to the "
        "process work pool POOL (created if missing) on the Prefect server of --api-url or "
        "PREFECT_API_URL, and the automation that marks runs Crashed when their worker stops. Start "
        "workers with `prefect worker start --pool POOL`. See docs/multi_machine.md.",
    )
    p.add_argument("--home", default=None, help="study home (default: $MYOCIT_HOME or <repo>/data)")
    p.add_argument("--pool", default="myocit", help="work pool name (default: myocit)")
    p.add_argument("--api-url", default=None, metavar="URL",
                   help="API of the Prefect server (default: $PREFECT_API_URL); basic auth: "
                   "PREFECT_API_AUTH_STRING")
    p.add_argument("--inbox-interval", type=int, default=300, metavar="SECONDS",
                   help="seconds between two scheduled ingest-inbox runs (default 300)")
    p.add_argument("--crash-after", type=int, default=600, metavar="SECONDS",
                   help="mark a running flow run Crashed after this long without a heartbeat "
                   "(workers send one every PREFECT_FLOWS_HEARTBEAT_FREQUENCY s; default 600, 0: never)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Register the deployments; print their ids and the worker command."""
    from myocit_omics.cli.dashboard import api_healthy

    api_url = (args.api_url or os.environ.get("PREFECT_API_URL") or "").rstrip("/")
    if not api_url:
        raise InputError("no Prefect server given", file="--api-url", expected="--api-url URL or "
                         "PREFECT_API_URL set to the API of a running server, e.g. http://host:4200/api",
                         rule="deploy.api_url")
    if not api_url.endswith("/api") or not api_healthy(api_url):
        raise InputError("no Prefect server answers at this address", file="--api-url", value=api_url,
                         expected="the API address of a running Prefect server, e.g. http://host:4200/api",
                         rule="deploy.api_url")
    if args.inbox_interval < 10:
        raise InputError("interval too short", file="--inbox-interval", value=args.inbox_interval,
                         expected="at least 10 seconds", rule="deploy.interval")
    if args.crash_after and args.crash_after < 60:
        raise InputError("too short for heartbeats every 30 s or more", file="--crash-after",
                         value=args.crash_after, expected="0 or at least 60 seconds",
                         rule="deploy.crash_after")
    os.environ["PREFECT_API_URL"] = api_url
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from flows.deployments import register_to_pool

    home = study_home(args.home)
    out = register_to_pool(home, args.pool, inbox_interval=args.inbox_interval,
                           crash_after=timedelta(seconds=args.crash_after) if args.crash_after else None)
    print(f"Work pool {args.pool!r}{' created' if out['pool_created'] else ''} on {api_url}", flush=True)
    for name, dep_id in out["deployments"].items():
        print(f"  registered {name} ({dep_id})", flush=True)
    for name, reason in out["left_out"].items():
        print(f"  not registered: {name} ({reason})", flush=True)
    print(f"Start workers with: prefect worker start --pool {args.pool}", flush=True)
    return 0 if out["deployments"] else 1
