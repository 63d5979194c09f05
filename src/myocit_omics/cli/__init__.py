"""The ``myocit`` command line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed arguments and returning an exit code. Errors the package
raises on purpose (:class:`myocit_omics.errors.MyocitError`) become a plain
message on stderr and exit code 2; a user never sees a traceback for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence

from myocit_omics import __version__
from myocit_omics.errors import MyocitError

#: Subcommands (module name -> one-line help), in the order ``myocit --help`` lists them.
#: A module is imported only when its subcommand runs, so that ``myocit ingest`` answers
#: in seconds without loading the scientific stack of the other commands.
COMMANDS: dict[str, str] = {
    "demo": "Ingest the shipped demo study and run the whole analysis on it.",
    "ingest": "Hand in a batch folder or zip: validate it and store it, or reject it with a report.",
    "status": "Show the study store: batches, samples, rejected hand-ins, the audit log.",
    "analyze": "Run the trial-analysis flow on every accepted batch of the study.",
    "ifn_score": "Score type I IFN signatures in a count matrix outside the study.",
    "de": "Paired differential expression of a count matrix outside the study.",
    "composition": "Estimate blood composition (marker scores, NNLS) in a count matrix outside the study.",
    "cytokines": "Read cytokine instrument exports, fit standard curves, write the common long table.",
    "report": "Re-render the HTML report of a results folder without recomputing.",
    "dashboard": "Start (or reuse) the local Prefect server and serve the deployments.",
    "deploy": "Register the deployments to a process work pool (run by `prefect worker start`).",
    "lab_server": "Run PostgreSQL and a Prefect server on it with basic auth, until Ctrl-C.",
}


class _VersionAction(argparse.Action):
    """``--version``: the package version and the lock check (computed only when asked)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from myocit_omics.lock import check_environment

        print(f"myocit-omics {__version__}\n{check_environment().describe()}")
        parser.exit()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector in the block (meant for imports).

    Importing the scientific stack makes about a million long-lived objects and next to no
    garbage, yet the collector keeps walking them: 10-15 % of the import time (0.15-0.3 s of
    ``myocit de``'s 1.5 s of pydeseq2, anndata, scipy...). Reference counting frees as usual
    meanwhile, and the collector runs again after the block.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _command_name(module: str) -> str:
    return module.replace("_", "-")


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser.

    Parameters
    ----------
    selected
        The subcommand about to run: only its module is imported and registers its full
        parser. ``None`` imports every module (for tests and documentation).
    """
    parser = argparse.ArgumentParser(
        prog="myocit",
        description="MYOCIT trial omics workflow: batch intake, expression and cytokine analysis, "
        "IFN scores, paired DE, clinical response, reports.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="show the version and whether the environment matches requirements.lock")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for module_name, help_text in COMMANDS.items():
        name = _command_name(module_name)
        if selected is None or selected == name:
            module = importlib.import_module(f"myocit_omics.cli.{module_name}")
            module.register(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _selected_command(argv: Sequence[str]) -> str | None:
    names = {_command_name(m) for m in COMMANDS}
    for arg in argv:
        if arg in names:
            return arg
        if not arg.startswith("-"):
            return None
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 analysis failure, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with gc_paused():  # imports the command's module
        parser = build_parser(_selected_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # httpx, httpcore: one line per HTTP request to the Prefect API; anndata: "... storing 'visit' as
    # categorical" for every string column of every AnnData written (its own stderr handler)
    for noisy in ("httpx", "httpcore", "anndata"):
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
