"""``myocit ingest``: hand in batch folders or zips: validate and store each, or reject it with a report.

Exit codes: 0 when every hand-in was accepted or was already stored, 1 when at least one was
rejected (its report folder is printed), 2 for a usage error (no such path, no path given).
The answer comes from the library in this process, in seconds: the catalog's audit log is
the record of every hand-in; no Prefect server is involved.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from myocit_omics.settings import study_home

MAX_PROBLEMS_SHOWN = 8


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``ingest`` subcommand."""
    p = sub.add_parser(
        "ingest",
        help="Hand in a batch folder or zip: validate it and store it, or reject it with a report.",
        description="Hand in batch folders or zips (manifest.yaml + files): each is validated and stored "
        "once, atomically, or rejected into <home>/rejected/ with REPORT.md and report.json. "
        "Exit 0: accepted or already stored; 1: rejected; 2: usage error.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="batch folder or .zip")
    p.add_argument("--home", default=None, help="study home (default $MYOCIT_HOME or <repo>/data)")
    p.add_argument("--by", dest="by", default=None, help="who hands the batch in (default: your user name)")
    p.add_argument("--inbox", action="store_true", help="process every batch in <home>/inbox")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Ingest the given paths (and/or the inbox); print the outcome; return the exit code."""
    from myocit_omics.errors import InputError
    from myocit_omics.store import StudyStore

    if not args.paths and not args.inbox:
        print("myocit ingest: give at least one batch folder or zip, or --inbox", file=sys.stderr)
        return 2
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"myocit ingest: no such file or folder: {', '.join(missing)} (nothing was handed in)",
              file=sys.stderr)
        return 2
    home = study_home(args.home)
    store = StudyStore(home)
    results = []
    for path in args.paths:
        try:
            results.append(store.ingest(path, args.by))
        except InputError as exc:
            print(f"myocit ingest: {exc}", file=sys.stderr)
            return 2
    if args.inbox:
        results.extend(store.ingest_inbox(args.by))
    if args.json:
        print(
            json.dumps({"home": str(home), "results": [r.to_dict() for r in results]}, indent=2, default=str)
        )
    else:
        if args.inbox and not results:
            print(f"inbox {store.inbox} is empty")
        for r in results:
            print(r.summary())
            for p in r.problems[:MAX_PROBLEMS_SHOWN]:
                print(f"    - {p.describe()}")
            if len(r.problems) > MAX_PROBLEMS_SHOWN:
                print(f"    ... {len(r.problems) - MAX_PROBLEMS_SHOWN} more in the report")
    return 1 if any(r.status == "rejected" for r in results) else 0
