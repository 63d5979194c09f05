"""``myocit cytokines``: read cytokine exports, fit standard curves, write the common long table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``cytokines`` subcommand."""
    p = sub.add_parser(
        "cytokines",
        help="Read cytokine instrument exports, fit standard curves, write the common long table.",
        description="Read any supported cytokine export (xPONENT CSV, MSD Discovery Workbench CSV/xlsx, "
        "Bio-Plex Manager XML, Olink NPX CSV/zip/xlsx, the generic long CSV) outside the study, fit "
        "standard curves where the export has standards, and write tables/cytokines_long.tsv, "
        "tables/cytokine_qc.tsv, tables/cytokine_standards.tsv, tables/cytokine_agreement.tsv (and, with "
        "a plate map, tables/cytokines_by_visit.tsv), anndata/cytokines.h5ad and plots into --out. "
        "The same code the trial-analysis flow runs.",
    )
    p.add_argument("exports", nargs="+", type=Path, metavar="EXPORT", help="instrument export file(s)")
    p.add_argument("--plate-map", type=Path, default=None, help="plate_map.csv linking wells to samples")
    p.add_argument(
        "--platform",
        choices=["xponent", "msd", "bioplex", "olink", "generic"],
        default=None,
        help="instrument platform (detected from the file when omitted)",
    )
    p.add_argument(
        "--substitution",
        choices=["lloq_half", "lloq_sqrt2", "censored"],
        default=None,
        help="substitution rule for censored values (default lloq_half)",
    )
    p.add_argument("--model", choices=["4pl", "5pl", "auto"], default=None, help="standard-curve model")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--out", type=Path, required=True, help="output folder (tables/, plots/, anndata/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the exports, process them, write the outputs; print a summary."""
    from myocit_omics.cytokines.pipeline import params_from_config, process_exports, write_outputs
    from myocit_omics.io.cytokine import read_export, read_plate_map
    from myocit_omics.results import ResultsTree

    section = {k: v for k, v in (("substitution", args.substitution), ("model", args.model)) if v}
    params = params_from_config(section, file="command line")
    plate_map = read_plate_map(args.plate_map) if args.plate_map else None
    items = [(read_export(p, platform=args.platform), plate_map, "cli") for p in args.exports]
    result = process_exports(items, params)
    tree = ResultsTree(args.out)
    written = write_outputs(result, tree, plots=not args.no_plots)
    flags = result.long["flag"].value_counts().to_dict()
    print(
        f"read {len(items)} export(s): {result.long['plate_id'].nunique()} plate(s), "
        f"{result.long['analyte'].nunique()} analyte(s), {len(result.long)} values; flags {flags}"
    )
    for name, path in written["tables"].items():
        print(f"  {name}: {path}")
    for prob in result.problems:
        print(f"warning: {prob.describe()}", file=sys.stderr)
    return 0
