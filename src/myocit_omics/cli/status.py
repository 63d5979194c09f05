"""``myocit status``: the study store at a glance.

Batches, records per modality and visit, what the protocol expects but is missing, the
rejected hand-ins, the last audit entries, and whether the running environment matches
``requirements.lock``.
"""

from __future__ import annotations

import argparse
import json

from myocit_omics.lock import check_environment
from myocit_omics.settings import study_home


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``status`` subcommand."""
    p = sub.add_parser(
        "status",
        help="Show the study store: batches, samples, rejected hand-ins, the audit log.",
        description="Show the stored batches, the samples per modality and visit, what the protocol "
        "expects but is missing, the rejected hand-ins and the last audit entries.",
    )
    p.add_argument("--home", default=None, help="study home (default $MYOCIT_HOME or <repo>/data)")
    p.add_argument("--audit", type=int, default=10, metavar="N", help="show the last N audit entries")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def status_data(home: str | None, *, audit: int = 10) -> dict:
    """Collect the status of a study home as plain data."""
    from myocit_omics.store import StudyStore
    from myocit_omics.study import missing_samples

    store = StudyStore(study_home(home))
    samples = store.samples()
    per_visit: dict[str, dict[str, int]] = {}
    if not samples.empty:
        for (kind, visit), n in samples.groupby(["kind", "visit"]).size().items():
            per_visit.setdefault(kind, {})[visit or "-"] = int(n)
    return {
        "home": str(store.home),
        "batches": [
            {
                "batch_id": b.batch_id,
                "name": b.name,
                "kind": b.kind,
                "stored_at": b.stored_at,
                "handed_in_by": b.handed_in_by,
                "n_files": len(b.file_sha256),
            }
            for b in store.batches()
        ],
        "superseded": [
            {"batch_id": b.batch_id, "name": b.name, "superseded_by": b.superseded_by}
            for b in store.batches(include_superseded=True)
            if b.superseded_by
        ],
        "samples_per_kind_and_visit": per_visit,
        "missing": missing_samples(store) if not samples.empty else [],
        "rejected": store.rejected(),
        "audit": store.audit(audit).to_dict(orient="records"),
        "environment": check_environment().to_dict(),
    }


def run(args: argparse.Namespace) -> int:
    """Print the status of the study home."""
    data = status_data(args.home, audit=args.audit)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    print(f"Study home: {data['home']}")
    print(f"Software: {check_environment().describe()}")
    if not data["batches"] and not data["rejected"]:
        print("Nothing handed in yet: `myocit ingest PATH` or drop a batch into <home>/inbox.")
        return 0
    print(f"\nBatches ({len(data['batches'])} active, {len(data['superseded'])} superseded):")
    for b in data["batches"]:
        print(
            f"  {b['name']:<28} {b['kind']:<9} {b['batch_id'][:12]}  {b['stored_at'][:19]}  "
            f"by {b['handed_in_by']}"
        )
    for b in data["superseded"]:
        print(f"  (superseded) {b['name']:<15} {b['batch_id'][:12]} -> {str(b['superseded_by'])[:12]}")
    visits = sorted(
        {v for d in data["samples_per_kind_and_visit"].values() for v in d},
        key=lambda v: (v == "-", len(v), v),
    )
    if visits:
        print("\nRecords per kind and visit:")
        print("  " + f"{'kind':<10}" + "".join(f"{v:>7}" for v in visits))
        for kind, d in sorted(data["samples_per_kind_and_visit"].items()):
            print("  " + f"{kind:<10}" + "".join(f"{d.get(v, 0):>7}" for v in visits))
    missing = data["missing"]
    if missing:
        print(f"\nMissing ({len(missing)}):")
        for m in missing[:20]:
            print(f"  {m['message']}")
        if len(missing) > 20:
            print(f"  ... and {len(missing) - 20} more (--json for all)")
    if data["rejected"]:
        print(f"\nRejected hand-ins ({len(data['rejected'])}):")
        for r in data["rejected"][:10]:
            print(f"  {r['name']}: {r['n_problems']} problem(s), {r['folder']}/REPORT.md")
    if data["audit"]:
        print("\nLast audit entries:")
        for a in data["audit"]:
            print(f"  {a['at'][:19]} {a['who']:<12} {a['action']:<10} {a['what']}")
    return 0
