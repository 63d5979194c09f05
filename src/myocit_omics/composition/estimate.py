"""Composition estimates of a count matrix outside the study (``myocit composition``).

The marker scores are computed against reference samples of the sheet, like the IFN scores
of ``myocit ifn-score``: size factors against the reference samples' geometric means, then
each sample's marker scores against the reference samples' per-gene means. By default every
sample of the sheet is a reference sample (``--reference all``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from myocit_omics.composition.markers import (
    MARKER_METHOD,
    marker_coverage,
    marker_scores,
    marker_sets,
    to_long,
)
from myocit_omics.composition.signature import NNLS_METHOD, Signature, cpm, match_genes, nnls_fractions
from myocit_omics.errors import InputError
from myocit_omics.expression.normalise import (
    GeneFilterRule,
    log_geometric_means,
    normalised_log,
    size_factors,
)
from myocit_omics.interferon.api import gene_symbols, prepare_counts, symbol_universe
from myocit_omics.interferon.reference import select_reference_samples

OUTPUT_COLUMNS = ["sample_id", "cell_type", "method", "estimate"]


@dataclass
class CompositionResult:
    """Estimates (long), marker coverage, and the NNLS fit (None without a signature)."""

    estimates: pd.DataFrame
    marker_coverage: pd.DataFrame
    nnls_fit: pd.DataFrame | None = None
    signature_coverage: pd.DataFrame | None = None


def nnls_table(
    counts: np.ndarray, sample_ids: list[str], gene_ids: list[str], symbols: list[str], signature: Signature
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return NNLS fractions (long), the fit (residual per sample) and the signature coverage."""
    pos, matched, coverage = match_genes(signature, gene_ids, symbols)
    sig = signature.matrix[matched].to_numpy()
    mix = cpm(counts)[:, pos]
    frac, resid = nnls_fractions(mix, sig)
    wide = pd.DataFrame(frac, index=pd.Index(sample_ids, name="sample_id"), columns=signature.cell_types)
    fit = pd.DataFrame(
        {
            "sample_id": sample_ids,
            "method": NNLS_METHOD,
            "relative_residual": np.round(resid, 6),
            "n_genes": len(pos),
        }
    )
    return to_long(wide, NNLS_METHOD), fit, coverage


def estimate_composition(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    reference: str = "all",
    signature: Signature | None = None,
    gene_names: pd.Series | None = None,
    counts_file: str = "count matrix",
    samples_file: str = "sample sheet",
) -> CompositionResult:
    """Marker scores (and NNLS fractions with a signature) of every sample of a count matrix.

    Parameters
    ----------
    counts
        Genes x matrix columns of raw counts (index: gene ids or symbols).
    samples
        Sample sheet: ``sample_id``, optional ``column``, ``patient_id``, ``visit``, ``role``.
    reference
        ``all`` (every sample), ``healthy_control`` or ``pooled:<visit>``.
    signature
        A checked signature matrix (:func:`~myocit_omics.composition.signature.read_signature`).
    gene_names
        gene id -> symbol, when the index holds ids.
    counts_file, samples_file
        Named in error messages.

    Returns
    -------
    CompositionResult
    """
    x, sheet = prepare_counts(counts, samples, counts_file=counts_file, samples_file=samples_file)
    if reference == "all":
        ref_ids = list(sheet.index)
    else:
        ref_ids = select_reference_samples(sheet, reference, file=samples_file)
    ref_rows = sheet.index.get_indexer(ref_ids)
    rule = GeneFilterRule()
    keep = rule.apply(x)
    if keep.sum() < 10:
        raise InputError(
            "fewer than 10 genes pass the expression filter",
            file=counts_file,
            value=int(keep.sum()),
            expected=rule.describe(),
            rule="counts.filter",
        )
    kept = x[:, keep]
    sf = size_factors(kept, log_geometric_means(kept[ref_rows]), sample_ids=list(sheet.index))
    log = normalised_log(kept, sf)
    gene_ids = [str(g) for g in counts.index]
    symbols_all = gene_symbols(gene_ids, gene_names)
    symbols = [s for s, k in zip(symbols_all, keep, strict=True) if k]
    pos = symbol_universe(symbols, log[ref_rows])
    universe = [symbols[i] for i in pos]
    frame = pd.DataFrame(log[:, pos], index=pd.Index(sheet.index, name="sample_id"), columns=universe)
    ref_mean = frame.iloc[ref_rows].mean(axis=0)
    sets = marker_sets()
    wide = marker_scores(frame, ref_mean, sets)
    coverage = marker_coverage(sets, universe, symbols_all)
    if wide.shape[1] == 0 and signature is None:
        by_id = all(s == g for s, g in zip(symbols_all, gene_ids, strict=True))
        raise InputError(
            "no cell type could be scored: every marker list has too few expressed genes",
            file=counts_file,
            value=coverage["status"].iloc[0] if len(coverage) else None,
            expected="gene symbols (or ids with gene names) of whole-blood RNA-seq",
            rule="composition.too_few_genes",
            fix=(
                "the matrix names its genes by id only and the marker lists are HGNC symbols: use a "
                "matrix with a gene_name column (nf-core, plain TSV) or --signature with genes named by id"
            )
            if by_id
            else None,
        )
    parts = [to_long(wide, MARKER_METHOD)]
    fit = sig_cov = None
    if signature is not None:
        long, fit, sig_cov = nnls_table(x, list(sheet.index), gene_ids, symbols_all, signature)
        parts.append(long)
    estimates = pd.concat(parts, ignore_index=True)
    return CompositionResult(
        estimates=estimates[OUTPUT_COLUMNS],
        marker_coverage=coverage,
        nnls_fit=fit,
        signature_coverage=sig_cov,
    )
