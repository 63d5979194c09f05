"""``myocit analyze``: run the trial-analysis flow on every accepted batch of the study."""

from __future__ import annotations

import argparse
import contextlib


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Add the options shared by ``analyze`` and ``demo``."""
    p.add_argument("--home", help="study home (default: $MYOCIT_HOME or <repo>/data)")
    p.add_argument("--run-id", help="name of the results folder (default: UTC timestamp); a name that "
                   "already has a folder under results/ is refused")
    p.add_argument("--visits", nargs="+", metavar="VISIT", help="visits to analyse (default: W0 W4 W24)")
    p.add_argument("--reference", help="IFN score reference: pooled:W0 (default) or healthy_control")
    p.add_argument("--gene-set", action="append", dest="gene_sets", metavar="GMT",
                   help="extra GMT file of gene sets to score and test (repeatable)")
    p.add_argument("--contrast", action="append", dest="contrasts", metavar="ID|visit:TARGET:REF",
                   help="contrast id from study.yaml or a spec such as visit:W4:W0 (repeatable)")
    p.add_argument("--task-runner", metavar="RUNNER",
                   help="threads (default), dask (a local cluster) or dask://host:port; default from "
                   "$MYOCIT_TASK_RUNNER or study.yaml execution.task_runner")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``analyze`` subcommand."""
    p = sub.add_parser(
        "analyze", help="Run the trial-analysis flow on every accepted batch of the study.",
        description="Run the trial-analysis Prefect flow: clinical response, cytokines, expression QC and "
        "IFN scores, paired DE and GSEA, linking, report. Writes results/<run-id>/ in the study home.",
    )
    add_run_options(p)
    p.set_defaults(func=run)


def run_analysis(args: argparse.Namespace, *, home: str | None) -> int:
    """Run the flow with the CLI's options; print where the results are; return the exit code."""
    from myocit_omics.analysis import preflight

    # bad parameters, and a run id that has a folder, are refused here, before Prefect's server starts
    preflight(home=home, run_id=args.run_id, visits=args.visits, reference=args.reference,
              gene_sets=args.gene_sets, contrasts=args.contrasts)
    from flows.trial_analysis import trial_analysis, warm_child_steps

    from myocit_omics.warm import warm_start

    runner = getattr(args, "task_runner", None)
    child_steps = warm_child_steps(home, runner)
    # while Prefect's temporary server starts (one core idle), start what the steps will import
    with warm_start(child_steps) if child_steps is not None else contextlib.nullcontext():
        state = trial_analysis(home=home, run_id=args.run_id, visits=args.visits, reference=args.reference,
                               gene_sets=args.gene_sets, contrasts=args.contrasts, task_runner=runner,
                               return_state=True)
    if state.is_completed():
        run_dir = state.result()
        print(f"\nResults: {run_dir}\nReport:  {run_dir}/report.html")
        return 0
    print(f"\nThe analysis did not complete: {state.message}")
    return 1


def run(args: argparse.Namespace) -> int:
    """Run the analysis."""
    return run_analysis(args, home=args.home)
