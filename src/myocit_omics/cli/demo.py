"""``myocit demo``: ingest the shipped demo study and run the whole analysis on it.

``myocit demo --regenerate`` rebuilds ``data/demo/`` from the seeded generator
(byte for byte the committed files) and stops.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from myocit_omics.cli.analyze import add_run_options, run_analysis
from myocit_omics.settings import demo_dir, study_home


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo", help="Ingest the shipped demo study and run the whole analysis on it.",
        description="Hand in every batch of data/demo/batches (already stored batches are recognised), "
        "then run the trial analysis and print where the results are. With --regenerate, rebuild "
        "data/demo from the seeded generator instead.",
    )
    p.add_argument("--regenerate", action="store_true", help="rebuild data/demo from the generator and stop")
    p.add_argument("--seed", type=int, default=None, help="generator seed (with --regenerate)")
    p.add_argument("--no-analysis", action="store_true", help="only ingest the demo batches")
    add_run_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Regenerate, or ingest and analyse, the demo study."""
    demo = demo_dir()
    if args.regenerate:
        from myocit_omics.synthetic import write_demo_study

        kwargs = {} if args.seed is None else {"seed": args.seed}
        write_demo_study(demo, **kwargs)
        print(f"Demo study regenerated in {demo}")
        return 0
    from myocit_omics.store import StudyStore

    home = study_home(args.home)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "study.yaml").exists():
        shutil.copyfile(demo / "study.yaml", home / "study.yaml")
        # the sorted-cell signature the demo's study.yaml names (relative to the study home)
        for sig in sorted((demo / "signatures").glob("*.tsv")):
            target = home / "signatures" / sig.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                shutil.copyfile(sig, target)
    store = StudyStore(home)
    batches = sorted(p for p in (demo / "batches").iterdir() if p.is_dir())
    print(f"Handing in {len(batches)} demo batches to {home}")
    rejected = 0
    for batch in batches:
        result = store.ingest(batch, submitted_by="myocit-demo")
        print(f"  {batch.name:<28} {result.status}")
        if result.status == "rejected":
            rejected += 1
            print(f"    report: {getattr(result, 'report_dir', '')}")
    if rejected:
        print(f"{rejected} demo batch(es) were rejected; see the reports above.")
        return 2
    if args.no_analysis:
        return 0
    if args.run_id is None:
        from myocit_omics.analysis import new_run_id

        args.run_id = f"demo-{new_run_id()}"
    return run_analysis(args, home=str(Path(home)))
