"""``myocit demo``: generate (or regenerate) the synthetic demo study and run the demo analysis end to end."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser("demo", help="Generate (or regenerate) the synthetic demo study and run the demo analysis end to end.", description="Generate (or regenerate) the synthetic demo study and run the demo analysis end to end.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("myocit demo: not implemented yet", file=sys.stderr)
    return 1
