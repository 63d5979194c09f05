"""The ``myocit`` command line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed arguments and returning an exit code. Errors the package
raises on purpose (:class:`myocit_omics.errors.MyocitError`) become a plain
message on stderr and exit code 2; a user never sees a traceback for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from myocit_omics import __version__
from myocit_omics.errors import MyocitError

#: Subcommand modules, in the order ``myocit --help`` lists them.
COMMANDS = (
    "demo",
    "ingest",
    "status",
    "analyze",
    "ifn_score",
    "de",
    "cytokines",
    "report",
    "dashboard",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="myocit",
        description="MYOCIT trial omics workflow: batch intake, expression and cytokine analysis, "
        "IFN scores, paired DE, clinical response, reports.",
    )
    parser.add_argument("--version", action="version", version=f"myocit-omics {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMANDS:
        module = importlib.import_module(f"myocit_omics.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 analysis failure, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore"):  # one line per HTTP request to the Prefect API
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except MyocitError as exc:
        print(f"myocit {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"myocit {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
