"""Public API: score type I IFN signatures in a count matrix (an external cohort or the study).

>>> scores = score_ifn(counts, samples, reference="healthy_control")  # doctest: +SKIP

The matrix is filtered (recorded rule), normalised by DESeq2 median-of-ratios size factors
against the reference samples' geometric means, put on ``log2(normalised + 1)``, and scored by
every method against the reference samples (:mod:`myocit_omics.interferon.reference`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from myocit_omics.errors import InputError
from myocit_omics.expression.normalise import (
    GeneFilterRule,
    log_geometric_means,
    normalised_log,
    size_factors,
)
from myocit_omics.genesets import GeneSet, ifn_gene_sets
from myocit_omics.interferon.methods import METHODS
from myocit_omics.interferon.reference import ScoreReference, select_reference_samples
from myocit_omics.interferon.scoring import DEFAULT_MIN_GENES, IfnScores, score_matrix

OUTPUT_COLUMNS = [
    "sample_id",
    "patient_id",
    "visit",
    "gene_set",
    "method",
    "score",
    "n_genes",
    "reference",
    "positive",
]


def gene_symbols(gene_ids: Sequence[str], gene_names: pd.Series | Mapping[str, str] | None) -> list[str]:
    """Symbol of each gene: its ``gene_name`` when given and not empty, else the id itself."""
    names = pd.Series(gene_names) if gene_names is not None else pd.Series(dtype=object)
    out = []
    for gid in gene_ids:
        name = names.get(gid) if len(names) else None
        out.append(str(name).strip() if isinstance(name, str) and name.strip() else str(gid))
    return out


def symbol_universe(symbols: Sequence[str], ref_log: np.ndarray) -> np.ndarray:
    """Positions of the genes scored by symbol: one per symbol, the one most expressed in the reference.

    Parameters
    ----------
    symbols
        Symbol of each column of ``ref_log``.
    ref_log
        Reference samples x genes (log scale).

    Returns
    -------
    numpy.ndarray
        Sorted column positions, one per distinct symbol (ties: the first).
    """
    frame = pd.DataFrame(
        {"symbol": list(symbols), "mean": np.asarray(ref_log).mean(axis=0), "pos": np.arange(len(symbols))}
    )
    best = frame.sort_values(["symbol", "mean", "pos"], ascending=[True, False, True], kind="stable")
    return np.sort(best.drop_duplicates("symbol")["pos"].to_numpy())


def prepare_counts(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    counts_file: str = "count matrix",
    samples_file: str = "sample sheet",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Match a count matrix (genes x columns) to a sample sheet; refuse any mismatch.

    Parameters
    ----------
    counts
        Genes x matrix columns, non-negative finite numbers.
    samples
        Sample sheet: ``sample_id`` (unique), optional ``column`` (defaults to ``sample_id``),
        ``patient_id``, ``visit``, ``role``.
    counts_file, samples_file
        Named in error messages.

    Returns
    -------
    tuple
        (samples x genes float array, sheet indexed by sample_id in matrix order).
    """
    if "sample_id" not in samples.columns:
        raise InputError(
            "the sample sheet has no 'sample_id' column",
            file=samples_file,
            column="sample_id",
            value=list(samples.columns)[:8],
            expected="columns sample_id[, column, patient_id, visit, role]",
            rule="sheet.columns",
        )
    sheet = samples.copy()
    sheet["sample_id"] = sheet["sample_id"].astype(str)
    dup = sheet["sample_id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(
            "sample_id appears twice",
            file=samples_file,
            row=i + 2,
            column="sample_id",
            value=sheet["sample_id"].iloc[i],
            expected="unique sample ids",
            rule="sheet.duplicate",
        )
    col = sheet["column"].astype(str) if "column" in sheet else sheet["sample_id"]
    matrix_cols = [str(c) for c in counts.columns]
    for i, c in enumerate(col):
        if c not in matrix_cols:
            raise InputError(
                "sample sheet names a column that the count matrix does not have",
                file=samples_file,
                row=i + 2,
                column="column" if "column" in sheet else "sample_id",
                value=c,
                expected=f"one of the matrix columns ({', '.join(matrix_cols[:5])}, ...)",
                rule="sheet.column_missing",
            )
    extra = [c for c in matrix_cols if c not in set(col)]
    if extra:
        raise InputError(
            "count matrix column has no row in the sample sheet (it would be dropped)",
            file=counts_file,
            column=extra[0],
            value=extra[0],
            expected="every matrix column listed in the sample sheet",
            rule="sheet.column_unlisted",
        )
    values = counts.set_axis(matrix_cols, axis=1)[list(col)]
    try:
        x = values.to_numpy(dtype=float).T
    except (TypeError, ValueError):
        bad = values.apply(pd.to_numeric, errors="coerce").isna() & values.notna()
        r, c = np.argwhere(bad.to_numpy())[0]
        raise InputError(
            "count is not a number",
            file=counts_file,
            row=int(r) + 2,
            column=values.columns[c],
            value=values.iat[r, c],
            expected="a non-negative count",
            rule="counts.number",
        ) from None
    bad = ~np.isfinite(x) | (x < 0)
    if bad.any():
        s, g = np.argwhere(bad)[0]
        raise InputError(
            "count is missing, negative or infinite",
            file=counts_file,
            row=int(g) + 2,
            column=values.columns[s],
            value=x[s, g],
            expected="a non-negative count",
            rule="counts.value",
        )
    return x, sheet.set_index("sample_id")


def score_ifn_detailed(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    reference: str = "pooled:W0",
    gene_sets: Mapping[str, GeneSet] | None = None,
    methods: Sequence[str] = METHODS,
    min_genes: int = DEFAULT_MIN_GENES,
    gene_names: pd.Series | None = None,
    gene_filter: GeneFilterRule | None = None,
    counts_file: str = "count matrix",
    samples_file: str = "sample sheet",
) -> IfnScores:
    """Like :func:`score_ifn`, returning scores, gene coverage and thresholds (:class:`IfnScores`)."""
    x, sheet = prepare_counts(counts, samples, counts_file=counts_file, samples_file=samples_file)
    ref_ids = select_reference_samples(sheet, reference, file=samples_file)
    ref_rows = sheet.index.get_indexer(ref_ids)
    rule = gene_filter or GeneFilterRule()
    keep = rule.apply(x)
    if keep.sum() < 10:
        raise InputError(
            "fewer than 10 genes pass the expression filter",
            file=counts_file,
            value=int(keep.sum()),
            expected=f"a count matrix of expressed genes ({rule.describe()})",
            rule="counts.filter",
        )
    kept = x[:, keep]
    lg = log_geometric_means(kept[ref_rows])
    sf = size_factors(kept, lg, sample_ids=list(sheet.index))
    log = normalised_log(kept, sf)
    gene_ids = [str(g) for g in counts.index]
    symbols_all = gene_symbols(gene_ids, gene_names)
    symbols = [s for s, k in zip(symbols_all, keep, strict=True) if k]
    pos = symbol_universe(symbols, log[ref_rows])
    universe = [symbols[i] for i in pos]
    score_ref = ScoreReference(
        label=reference, sample_ids=ref_ids, genes=universe, log=log[np.ix_(ref_rows, pos)]
    )
    sets = dict(gene_sets) if gene_sets is not None else ifn_gene_sets()
    result = score_matrix(
        pd.DataFrame(log[:, pos], index=sheet.index, columns=universe),
        reference=score_ref,
        gene_sets=sets,
        methods=methods,
        min_genes=min_genes,
        present_genes=symbols_all,
    )
    if result.scores.empty:
        first = result.coverage.iloc[0] if len(result.coverage) else None
        raise InputError(
            "no gene set could be scored: every set has too few usable genes",
            file=counts_file,
            value=None if first is None else f"{first['gene_set']}: {first['status']}",
            expected=f">= {min_genes} expressed genes of a set",
            rule="ifn.too_few_genes",
        )
    meta = sheet.reindex(columns=["patient_id", "visit"])
    result.scores = result.scores.join(meta, on="sample_id")
    return result


def score_ifn(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    reference: str = "pooled:W0",
    gene_sets: Mapping[str, GeneSet] | None = None,
    methods: Sequence[str] = METHODS,
    min_genes: int = DEFAULT_MIN_GENES,
    gene_names: pd.Series | None = None,
    gene_filter: GeneFilterRule | None = None,
) -> pd.DataFrame:
    """Score type I IFN gene sets in a count matrix.

    Parameters
    ----------
    counts
        Genes x matrix columns of raw counts (index: gene symbols, or gene ids with
        ``gene_names``).
    samples
        Sample sheet: ``sample_id``, optional ``column``, ``patient_id``, ``visit``, ``role``.
    reference
        ``healthy_control`` or ``pooled:<visit>``.
    gene_sets
        Set name -> :class:`~myocit_omics.genesets.GeneSet`; default the shipped IFN sets.
    methods
        Any of ``median_fc``, ``mean_z``, ``ssgsea``, ``score_genes``.
    min_genes
        Sets with fewer usable genes are refused (see :func:`score_ifn_detailed` for the coverage).
    gene_names
        gene id -> symbol, when the index holds ids.
    gene_filter
        The expression filter rule (default: CPM >= 1 in >= 25 % of the samples).

    Returns
    -------
    pandas.DataFrame
        Long table: sample_id, patient_id, visit, gene_set, method, score, n_genes, reference,
        positive (score > mean + 2 SD of the reference samples' scores).

    Raises
    ------
    InputError
        On a mismatch between matrix and sheet, a bad count, too few reference samples, an
        unknown method, or when no set has enough usable genes.
    """
    result = score_ifn_detailed(
        counts,
        samples,
        reference=reference,
        gene_sets=gene_sets,
        methods=methods,
        min_genes=min_genes,
        gene_names=gene_names,
        gene_filter=gene_filter,
    )
    return result.scores[OUTPUT_COLUMNS]
