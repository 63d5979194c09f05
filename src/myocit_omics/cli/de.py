"""``myocit de``: paired differential expression of a count matrix outside the study."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``de`` subcommand."""
    p = sub.add_parser("de", help="Paired differential expression of a count matrix outside the study.", description="Paired differential expression of a count matrix outside the study.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("myocit de: not implemented yet", file=sys.stderr)
    return 1
