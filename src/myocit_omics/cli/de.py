r"""``myocit de``: paired differential expression of a count matrix outside the study.

Example::

    myocit de counts.tsv --samples samples.csv --design "~ patient + visit" \\
        --contrast visit:W4:W0 --contrast visit:W24:W0 --out de_out/

writes ``de_out/W4_vs_W0.tsv`` and ``de_out/W24_vs_W0.tsv`` in the project's DE schema
(the same engine as the study analysis), plus ``de_out/de_design.tsv`` saying which design,
rule and samples each contrast used. ``log2_fc_shrunk`` is NA unless ``--shrink`` is given
(apeGLM shrinkage refits every gene per contrast and nothing else in the output depends on it;
the study analysis has the same default, ``de.shrink: false``).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from pathlib import Path

import pandas as pd

from myocit_omics.errors import InputError, Problem, ValidationFailed

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``de`` subcommand."""
    p = sub.add_parser(
        "de", help="Paired differential expression of a count matrix outside the study.",
        description="Paired differential expression (pydeseq2) of a gene x sample count matrix outside "
        "the study; one TSV per contrast, named by the contrast.",
    )
    p.add_argument("counts", type=Path, metavar="COUNTS",
                   help="count matrix: nf-core, featureCounts, plain TSV/CSV (gene_id first) or .h5ad")
    p.add_argument("--samples", type=Path, required=True, metavar="SHEET",
                   help="sample sheet: sample_id, column (optional: matrix column), and the design variables")
    p.add_argument("--design", default="~ patient + visit",
                   help="design formula over sheet columns ('patient' = patient_id; default %(default)r)")
    p.add_argument("--contrast", action="append", required=True, metavar="VAR:TARGET:REF",
                   help="e.g. visit:W4:W0 (repeatable; optionally ID=VAR:TARGET:REF)")
    p.add_argument("--paired-by", default="patient_id",
                   help="sheet column pairing samples (default %(default)s; 'none' for unpaired)")
    p.add_argument("--rule", choices=["keep", "drop"], default="keep",
                   help="patients missing a level: keep them in one model of all samples (default) or "
                   "drop them per contrast")
    p.add_argument("--alpha", type=float, default=0.05, help="FDR level (default %(default)s)")
    shrink = p.add_mutually_exclusive_group()
    shrink.add_argument("--shrink", action="store_true",
                        help="add apeGLM-shrunken log2 fold changes (log2_fc_shrunk). Off by default: it "
                        "refits every gene once more per contrast (about as long as the whole fit), and no "
                        "result of the command depends on it (padj and the GSEA ranking use the Wald test)")
    shrink.add_argument("--no-shrink", action="store_true",
                        help="no shrunken log2 fold changes (the default; kept for old command lines)")
    p.add_argument("--min-total-count", type=int, default=10,
                   help="test only genes with at least this many reads in total (default %(default)s)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=run)


def _read_sheet(path: Path) -> pd.DataFrame:
    """Read the sample sheet: sample_id unique and non-empty, ``column`` defaulting to sample_id."""
    from myocit_omics.io.tables import read_table

    sheet = read_table(path, name=path.name)
    if "sample_id" not in sheet.columns:
        raise InputError("sample sheet lacks the sample_id column", file=path.name, column="sample_id",
                         expected=f"columns sample_id[, column], and the design variables; found "
                                  f"{list(sheet.columns)}", rule="sheet.columns")
    problems = []
    ids = sheet["sample_id"].astype(str).str.strip()
    for i, sid in ids.items():
        if not sid or sid == "nan":
            problems.append(Problem(file=path.name, row=int(i) + 2, column="sample_id", value=sid,
                                    message="empty sample id", expected="a unique id", rule="sheet.id"))
    for i, sid in ids[ids.duplicated()].items():
        problems.append(Problem(file=path.name, row=int(i) + 2, column="sample_id", value=sid,
                                message="sample id appears twice", expected="unique ids", rule="sheet.id"))
    if problems:
        raise ValidationFailed(problems, context=path.name)
    sheet = sheet.copy()
    sheet["sample_id"] = ids
    if "column" not in sheet.columns:
        sheet["column"] = ids
    else:
        col = sheet["column"].astype(str).str.strip()
        sheet["column"] = col.where(~col.isin(["", "nan"]), ids)
    for name in sheet.columns:
        if name in ("sample_id", "column", "patient_id", "visit"):
            continue
        numeric = pd.to_numeric(sheet[name], errors="coerce")
        if numeric.notna().all():
            sheet[name] = numeric
    return sheet.set_index("sample_id")


def _read_matrix(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Read the count matrix (genes x samples) with myocit_omics.io.counts; return counts and names."""
    from myocit_omics.io.counts import read_counts

    cm = read_counts(path)
    if cm.rounding and cm.rounding.get("n_rounded"):
        log.info("%s: %s", path.name, cm.rounding)
    return cm.counts, cm.gene_names


def _align(counts: pd.DataFrame, sheet: pd.DataFrame, *, counts_name: str, sheet_name: str) -> pd.DataFrame:
    """Return samples x genes counts in sheet order; every sheet sample must be in the matrix and back."""
    columns = [str(c) for c in counts.columns]
    wanted = sheet["column"].astype(str)
    problems = [
        Problem(file=sheet_name, column="column", value=col,
                message=f"sample {sid!r} is not in the count matrix",
                expected=f"a column of {counts_name}", rule="sheet.matrix")
        for sid, col in wanted.items() if col not in columns
    ]
    problems += [
        Problem(file=counts_name, column=col, value=col,
                message="matrix column has no row in the sample sheet",
                expected=f"a sample of {sheet_name} (add it, or remove the column)", rule="sheet.matrix")
        for col in columns if col not in set(wanted)
    ]
    if problems:
        raise ValidationFailed(problems, context=f"{counts_name} vs {sheet_name}")
    out = counts.copy()
    out.columns = columns
    out = out[list(wanted)].T
    out.index = sheet.index
    return out


def _lazy_pyplot() -> None:
    """Make ``matplotlib.pyplot`` a lazily executed module, unless it is imported already.

    pydeseq2 binds ``pyplot`` at import (``from matplotlib import pyplot as plt``) for its plotting
    helpers, which ``myocit de`` never calls; executing pyplot (figure, axes, projections,
    mplot3d, fonts: ~0.3 s) is most of matplotlib's share of the command's start-up. The module
    object is registered as the import system would (``sys.modules`` and the package attribute),
    and runs the first time anything reads an attribute of it, so any later user gets the real
    pyplot, the same object pydeseq2 holds.
    """
    if "matplotlib.pyplot" in sys.modules:
        return
    import matplotlib

    spec = importlib.util.find_spec("matplotlib.pyplot")
    if spec is None or spec.loader is None:  # pragma: no cover - matplotlib is a dependency
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["matplotlib.pyplot"] = module
    loader.exec_module(module)
    matplotlib.pyplot = module


def _import_engine() -> None:
    """Import the DE engine: pydeseq2 with anndata, scipy, sklearn... (~1.5 s), pyplot left lazy."""
    _lazy_pyplot()
    import pydeseq2.ds  # noqa: F401

    import myocit_omics.deseq  # noqa: F401


def run(args: argparse.Namespace) -> int:
    """Run DE for each ``--contrast``; write ``<out>/<contrast>.tsv``; return 0."""
    from myocit_omics.cli import gc_paused
    from myocit_omics.de.contrasts import check_contrasts, parse_contrast
    from myocit_omics.de.fit import check_counts
    from myocit_omics.de.pipeline import DEParams, plan_fits, run_fits
    from myocit_omics.results import write_tsv

    paired_by = None if str(args.paired_by).lower() == "none" else args.paired_by
    contrasts = [parse_contrast(text, paired_by=paired_by) for text in args.contrast]
    sheet = _read_sheet(args.samples)
    if paired_by is not None and paired_by not in sheet.columns and paired_by == "patient_id":
        for alias in ("patient", "donor", "subject"):
            if alias in sheet.columns:
                sheet["patient_id"] = sheet[alias].astype(str)
                break
    check_contrasts(contrasts, sheet, source=args.samples.name)
    counts_gxs, gene_names = _read_matrix(args.counts)
    counts = _align(counts_gxs, sheet, counts_name=args.counts.name, sheet_name=args.samples.name)
    check_counts(counts, source=args.counts.name)
    wanted = {(c.variable, lv) for c in contrasts for lv in c.visits}
    in_any = [any(str(sheet.at[s, v]) == lv for v, lv in wanted) for s in sheet.index]
    left_out = [s for s, keep in zip(sheet.index, in_any, strict=True) if not keep]
    if left_out:
        log.info("samples at no level of any contrast, not fitted: %s", ", ".join(map(str, left_out)))
    obs = sheet[in_any]
    counts = counts.loc[obs.index]
    keep = counts.sum(axis=0) >= args.min_total_count
    log.info("%d of %d genes have at least %d reads in total and are tested", int(keep.sum()), keep.size,
             args.min_total_count)
    params = DEParams(design=args.design, missing_visit_rule=args.rule, alpha=args.alpha,
                      shrink=bool(args.shrink), min_total_count=args.min_total_count, gsea=False)
    plans = plan_fits(obs, contrasts, formula=params.formula, rule=params.missing_visit_rule,
                      source=args.samples.name)
    with gc_paused():  # the engine, once the input and designs are checked
        _import_engine()
    results = run_fits(plans, counts.loc[:, keep], params=params, gene_names=gene_names)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in results:
        path = write_tsv(r.table, args.out / f"{r.contrast.id}.tsv")
        n_sig = int((r.table["padj"] < args.alpha).sum())
        print(f"{r.contrast.id}: {n_sig} genes with padj < {args.alpha:g} -> {path}")
        for note in r.notes:
            log.info(note)
        sel = r.selection
        rows.append({"contrast": r.contrast.id, "description": r.contrast.describe(),
                     "design": r.plan.formula,
                     "rule": args.rule, "n_samples": len(r.plan.samples), "n_pairs": sel.n_pairs,
                     "unpaired_patients": ";".join(f"{p}({','.join(v)})" for p, v in sel.unpaired.items()),
                     "dropped_patients": ";".join(sel.dropped), "samples_not_fitted": ";".join(left_out),
                     "genes_tested": int(keep.sum()), "n_significant": n_sig})
    write_tsv(pd.DataFrame(rows), args.out / "de_design.tsv")
    return 0
