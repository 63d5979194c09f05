r"""``myocit composition``: blood-composition estimates of a count matrix outside the study.

Example::

    myocit composition counts.tsv.gz --samples samples.csv --signature blood_signature.tsv \\
        --out composition.tsv

writes ``composition.tsv`` (sample_id, cell_type, method, estimate: one row per sample and cell
type and method), ``composition_marker_coverage.tsv`` (genes of each marker list used, missing
or unexpressed) and, with ``--signature``, ``composition_nnls_fit.tsv`` (relative residual per
sample) and ``composition_signature_coverage.tsv`` (signature genes found in the counts).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``composition`` subcommand."""
    p = sub.add_parser(
        "composition",
        help="Estimate blood composition in a count matrix outside the study.",
        description="Marker-gene scores of the main blood cell types (BTM cell-type modules, Li et al. 2014) "
        "against reference samples of the sheet and, with --signature, NNLS fractions from a signature "
        "matrix (cell types x genes TSV, linear scale; format in docs/composition.md).",
    )
    p.add_argument(
        "counts",
        type=Path,
        metavar="COUNTS",
        help="count matrix: nf-core, featureCounts, HTSeq folder, plain TSV/CSV or .h5ad",
    )
    p.add_argument(
        "--samples",
        type=Path,
        required=True,
        metavar="SHEET",
        help="sample sheet: sample_id, column (optional), patient_id, visit, role",
    )
    p.add_argument(
        "--signature",
        type=Path,
        default=None,
        metavar="FILE",
        help="signature matrix TSV (cell types x genes) for NNLS deconvolution",
    )
    p.add_argument(
        "--reference",
        default="all",
        metavar="REF",
        help="reference samples of the marker scores: 'all' (default), 'healthy_control' or 'pooled:<visit>'",
    )
    p.add_argument("--out", type=Path, required=True, metavar="FILE.tsv", help="output table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the matrix, sheet and signature; estimate; write the tables."""
    from myocit_omics.composition.estimate import OUTPUT_COLUMNS, estimate_composition
    from myocit_omics.composition.signature import read_signature
    from myocit_omics.io.counts import read_counts
    from myocit_omics.io.tables import read_table
    from myocit_omics.results import write_tsv

    signature = read_signature(args.signature) if args.signature is not None else None
    matrix = read_counts(args.counts)
    sheet = read_table(args.samples, name=args.samples.name)
    result = estimate_composition(
        matrix.counts,
        sheet,
        reference=args.reference,
        signature=signature,
        gene_names=matrix.gene_names,
        counts_file=args.counts.name,
        samples_file=args.samples.name,
    )
    out: Path = args.out
    stem = out.with_suffix("") if out.suffix else out
    write_tsv(result.estimates[OUTPUT_COLUMNS], out)
    write_tsv(result.marker_coverage, Path(f"{stem}_marker_coverage.tsv"))
    est = result.estimates
    print(
        f"estimated {est['cell_type'].nunique()} cell types in {est['sample_id'].nunique()} samples by "
        f"{', '.join(sorted(est['method'].unique()))} -> {out}"
    )
    for row in result.marker_coverage[result.marker_coverage["status"] != "ok"].itertuples():
        print(f"  marker list {row.cell_type}: {row.status}")
    if result.nnls_fit is not None and result.signature_coverage is not None:
        write_tsv(result.nnls_fit, Path(f"{stem}_nnls_fit.tsv"))
        write_tsv(result.signature_coverage, Path(f"{stem}_signature_coverage.tsv"))
        cov = result.signature_coverage.iloc[0]
        print(
            f"  signature {cov['signature']}: {cov['n_matched']} of {cov['n_genes_signature']} genes "
            "found in "
            f"the counts ({100 * cov['coverage']:.1f}%); median NNLS relative residual "
            f"{result.nnls_fit['relative_residual'].median():.3f}"
        )
    return 0
