"""``myocit analyze``: run the trial-analysis flow on every accepted batch of the study."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``analyze`` subcommand."""
    p = sub.add_parser("analyze", help="Run the trial-analysis flow on every accepted batch of the study.", description="Run the trial-analysis flow on every accepted batch of the study.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("myocit analyze: not implemented yet", file=sys.stderr)
    return 1
