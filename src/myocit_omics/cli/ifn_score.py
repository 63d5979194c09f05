r"""``myocit ifn-score``: score type I IFN signatures in a count matrix outside the study.

Example::

    myocit ifn-score counts.tsv.gz --samples samples.csv --reference healthy_control \\
        --gene-set RICE_2013_6_ISG --gene-set my_sets.gmt --method median_fc --method mean_z \\
        --out scores.tsv

writes ``scores.tsv`` (sample_id, patient_id, visit, gene_set, method, score, n_genes, reference,
positive), ``scores_gene_coverage.tsv`` (missing and unexpressed genes of each set, refused sets)
and ``scores_thresholds.tsv`` (mean + 2 SD of the reference samples' scores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from myocit_omics.errors import InputError
from myocit_omics.genesets import GeneSet, ifn_gene_sets, project_gene_sets, read_gmt
from myocit_omics.interferon.methods import METHODS
from myocit_omics.interferon.scoring import DEFAULT_MIN_GENES


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``ifn-score`` subcommand."""
    p = sub.add_parser(
        "ifn-score",
        help="Score type I IFN signatures in a count matrix outside the study.",
        description="Score type I IFN gene sets in a gene x sample count matrix by median fold change, "
        "mean z-score, ssGSEA (GSVA normalisation, frozen span) and scanpy score_genes, against "
        "reference samples of the sheet.",
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
        "--reference",
        default="pooled:W0",
        metavar="REF",
        help="'healthy_control' (role column) or 'pooled:<visit>' (default %(default)s)",
    )
    p.add_argument(
        "--gene-set",
        action="append",
        default=None,
        metavar="NAME|GMT",
        help="a shipped set (name or label, e.g. rice6) or a GMT file; repeatable "
        "(default: the shipped IFN sets)",
    )
    p.add_argument(
        "--method",
        action="append",
        default=None,
        choices=list(METHODS),
        help="scoring method; repeatable (default: all)",
    )
    p.add_argument(
        "--min-genes",
        type=int,
        default=DEFAULT_MIN_GENES,
        help="refuse a set with fewer usable genes (default %(default)s)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="FILE.tsv", help="output table")
    p.set_defaults(func=run)


def resolve_gene_sets(choices: list[str] | None) -> dict[str, GeneSet]:
    """Turn ``--gene-set`` values into gene sets: GMT files, shipped set names or labels."""
    if not choices:
        return ifn_gene_sets()
    shipped = project_gene_sets()
    by_label = {gs.label: gs for gs in shipped.values()}
    out: dict[str, GeneSet] = {}
    for choice in choices:
        path = Path(choice)
        if path.suffix.lower() == ".gmt" or path.is_file():
            out.update(read_gmt(path))
        elif choice in shipped:
            out[choice] = shipped[choice]
        elif choice in by_label:
            out[by_label[choice].name] = by_label[choice]
        else:
            raise InputError(
                "unknown gene set",
                file="--gene-set",
                value=choice,
                expected="a GMT file or a shipped set: "
                + ", ".join(gs.label for gs in ifn_gene_sets().values()),
                rule="ifn.gene_set",
            )
    return out


def run(args: argparse.Namespace) -> int:
    """Read the matrix and sheet, score, write the three tables."""
    from myocit_omics.interferon.api import OUTPUT_COLUMNS, score_ifn_detailed
    from myocit_omics.io.counts import read_counts
    from myocit_omics.io.tables import read_table
    from myocit_omics.results import write_tsv

    matrix = read_counts(args.counts)
    sheet = read_table(args.samples, name=args.samples.name)
    sets = resolve_gene_sets(args.gene_set)
    result = score_ifn_detailed(
        matrix.counts,
        sheet,
        reference=args.reference,
        gene_sets=sets,
        methods=args.method or list(METHODS),
        min_genes=args.min_genes,
        gene_names=matrix.gene_names,
        counts_file=args.counts.name,
        samples_file=args.samples.name,
    )
    out: Path = args.out
    stem = out.with_suffix("") if out.suffix else out
    write_tsv(result.scores[OUTPUT_COLUMNS], out)
    write_tsv(result.coverage, Path(f"{stem}_gene_coverage.tsv"))
    write_tsv(result.thresholds, Path(f"{stem}_thresholds.tsv"))
    n = result.scores["sample_id"].nunique()
    print(
        f"scored {n} samples x {result.scores['gene_set'].nunique()} sets x "
        f"{result.scores['method'].nunique()} methods against {result.reference.label} "
        f"({len(result.reference.sample_ids)} reference samples) -> {out}"
    )
    cov = result.coverage
    for row in cov[cov["status"] != "ok"].itertuples():
        print(f"  refused {row.gene_set}: {row.status}", file=sys.stderr)
    partial = cov[(cov["status"] == "ok") & (cov["n_used"] < cov["n_genes_set"])]
    for row in partial.head(10).itertuples():
        print(
            f"  {row.gene_set}: {row.n_used}/{row.n_genes_set} genes used; unexpressed "
            f"{row.unexpressed_genes or '-'}; missing {row.missing_genes or '-'}"
        )
    if len(partial) > 10:
        print(f"  ... {len(partial) - 10} more sets with unused genes: see {stem}_gene_coverage.tsv")
    return 0
