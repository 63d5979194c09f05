"""``myocit ingest``: hand in a batch folder or zip: validate it and store it, or reject it with a report."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``ingest`` subcommand."""
    p = sub.add_parser("ingest", help="Hand in a batch folder or zip: validate it and store it, or reject it with a report.", description="Hand in a batch folder or zip: validate it and store it, or reject it with a report.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("myocit ingest: not implemented yet", file=sys.stderr)
    return 1
