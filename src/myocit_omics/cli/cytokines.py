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
    p.add_argument(
        "--plate-map",
        type=Path,
        action="append",
        default=None,
        help="plate_map.csv linking wells to samples: once for every export, or once per export in the "
        "order of the exports (as batches hand them in)",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="study.yaml whose 'cytokines' section gives the parameters (the flow's); options below override",
    )
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
    p.add_argument(
        "--standards-series",
        choices=["repair", "exclude", "refuse"],
        default=None,
        help="a standard that breaks the dilution series: restore a power-of-ten slip (repair, the "
        "default), leave it out (exclude), or fit no curve (refuse)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--out", type=Path, required=True, help="output folder (tables/, plots/, anndata/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the exports, process them, write the outputs; print a summary."""
    from myocit_omics.cytokines.pipeline import params_from_config, process_exports, write_outputs
    from myocit_omics.errors import InputError
    from myocit_omics.io.cytokine import read_export, read_plate_map
    from myocit_omics.results import ResultsTree

    section: dict = {}
    source = "command line"
    if args.config is not None:
        from myocit_omics.config import load_study_config

        section = dict(load_study_config(args.config).cytokines or {})
        source = f"{args.config} + command line"
    section |= {
        k: v
        for k, v in (
            ("substitution", args.substitution),
            ("model", args.model),
            ("standards_series", args.standards_series),
        )
        if v
    }
    params = params_from_config(section, file=source)
    maps = list(args.plate_map or [])
    if len(maps) not in (0, 1, len(args.exports)):
        raise InputError(
            f"{len(maps)} plate maps for {len(args.exports)} exports",
            file=", ".join(str(m) for m in maps),
            column="--plate-map",
            value=str(len(maps)),
            expected=f"one plate map for every export, or {len(args.exports)} (one per export, in order)",
            rule="cli.plate_map",
        )
    read_maps = [read_plate_map(m) for m in maps]
    items = []
    for i, path in enumerate(args.exports):
        plate_map = read_maps[i] if len(read_maps) > 1 else (read_maps[0] if read_maps else None)
        # one batch per plate map, as the flow has one per hand-in
        batch = path.stem if len(read_maps) > 1 else "cli"
        items.append((read_export(path, platform=args.platform), plate_map, batch))
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
