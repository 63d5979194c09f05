"""``myocit dashboard``: start (or reuse) the local Prefect server and serve the deployments."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``dashboard`` subcommand."""
    p = sub.add_parser("dashboard", help="Start (or reuse) the local Prefect server and serve the deployments.", description="Start (or reuse) the local Prefect server and serve the deployments.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("myocit dashboard: not implemented yet", file=sys.stderr)
    return 1
