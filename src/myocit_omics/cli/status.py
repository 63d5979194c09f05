"""``myocit status``: show the study store: batches, samples, rejected hand-ins, the audit log."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``status`` subcommand."""
    p = sub.add_parser("status", help="Show the study store: batches, samples, rejected hand-ins, the audit log.", description="Show the study store: batches, samples, rejected hand-ins, the audit log.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("myocit status: not implemented yet", file=sys.stderr)
    return 1
