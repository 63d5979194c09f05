"""``myocit cytokines``: read cytokine instrument exports, fit standard curves, write the common long table."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``cytokines`` subcommand."""
    p = sub.add_parser("cytokines", help="Read cytokine instrument exports, fit standard curves, write the common long table.", description="Read cytokine instrument exports, fit standard curves, write the common long table.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("myocit cytokines: not implemented yet", file=sys.stderr)
    return 1
