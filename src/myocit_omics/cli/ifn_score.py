"""``myocit ifn-score``: score type I IFN signatures in a count matrix outside the study."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``ifn-score`` subcommand."""
    p = sub.add_parser("ifn-score", help="Score type I IFN signatures in a count matrix outside the study.", description="Score type I IFN signatures in a count matrix outside the study.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("myocit ifn-score: not implemented yet", file=sys.stderr)
    return 1
