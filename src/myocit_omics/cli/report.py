"""``myocit report RUN_DIR``: re-render the HTML report of a results folder without recomputing."""

from __future__ import annotations

import argparse
from pathlib import Path

from myocit_omics.settings import study_home


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser(
        "report",
        help="Re-render the HTML report of a results folder without recomputing.",
        description="Re-render results/<run-id>/report.html from the run's tables, plots and manifest. "
        "Nothing is recomputed; a failure leaves the results (and any earlier report) untouched.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="the results folder (results/<run-id>), or a run id under <home>/results")
    p.add_argument("--home", default=None, help="study home used to resolve a bare run id "
                   "(default: $MYOCIT_HOME or <repo>/data)")
    p.set_defaults(func=run)


def resolve_run_dir(run_dir: str, *, home: str | None = None) -> Path:
    """Return ``run_dir`` if it is a folder, else the run's folder under ``<home>/results``.

    A bare run id finds ``results/<run-id>`` or, for a run not finished,
    ``results/<run-id>.partial``.

    Parameters
    ----------
    run_dir
        A path or a run id.
    home
        The study home for a bare run id.

    Returns
    -------
    Path
        The folder to render (not checked further here).
    """
    from myocit_omics.results import find_run_folder

    path = Path(run_dir).expanduser()
    if path.is_dir():
        return path
    candidate = find_run_folder(study_home(home) / "results", run_dir) if "/" not in run_dir else None
    return candidate if candidate is not None else path


def run(args: argparse.Namespace) -> int:
    """Render the report and print where it is."""
    from myocit_omics.report import render_report
    from myocit_omics.results import run_state

    run_dir = resolve_run_dir(args.run_dir, home=args.home)
    state = run_state(run_dir) if run_dir.is_dir() else None
    path = render_report(run_dir)
    size_kb = path.stat().st_size / 1024
    print(f"report written: {path} ({size_kb:.0f} kB, self-contained; open it in any browser)")
    if state == "incomplete":
        print(f"This run is INCOMPLETE: {run_dir} is still being written, or its run stopped before it "
              "finished (see run_manifest.json); the report shows only what it had written.")
    return 0
