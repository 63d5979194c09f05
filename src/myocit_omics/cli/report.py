"""``myocit report``: re-render the HTML report of a results folder without recomputing."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser("report", help="Re-render the HTML report of a results folder without recomputing.", description="Re-render the HTML report of a results folder without recomputing.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("myocit report: not implemented yet", file=sys.stderr)
    return 1
