"""Type I IFN score kernels: plain functions on arrays (samples x genes of one set).

Method names follow the domain notes (../shared/domain/interferon_and_response.md, section 1 b):

``median_fc``
    Rice 2013: per gene, the sample's linear normalised expression divided by the reference
    median of that gene; the score is the median of the fold changes across the set's genes.
``mean_z``
    NIH standardised / Utrecht: per gene, (log expression - reference mean) / reference SD;
    the score is the mean across the set's genes.
``ssgsea``
    Barbie et al. 2009 single-sample GSEA exactly as R GSVA (``method="ssgsea"``,
    ``alpha=0.25``) computes it: genes ranked within the sample, the random-walk statistic
    summed, then divided by a span. GSVA takes the span from the scored matrix itself
    (max - min over all samples and sets), which makes a sample's score depend on the cohort.
    Here the span is a parameter: the pipeline freezes it with the reference
    (see :mod:`myocit_omics.interferon.reference`), so later samples never change earlier ones.
``score_genes``
    scanpy's ``sc.tl.score_genes`` (Seurat's module score): mean of the set's genes minus the
    mean of control genes drawn from the same expression bins. scanpy bins genes by their mean
    over the scored matrix; here the bins, and so the control genes, come from the reference
    samples (:func:`score_genes_controls`), so the score of a sample depends on that sample only.
    On the reference samples themselves the result equals ``sc.tl.score_genes``.

Every kernel here is per sample once its reference quantities are given: cohort independence
is a property of the references, not of the kernels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

#: The scoring methods, in output order.
METHODS: tuple[str, ...] = ("median_fc", "mean_z", "ssgsea", "score_genes")

#: GSVA's ``alpha`` (``tau``) for ssGSEA.
SSGSEA_ALPHA = 0.25


def median_fc(linear: np.ndarray, ref_median: np.ndarray) -> np.ndarray:
    """Median fold change against the reference median (Rice 2013).

    Parameters
    ----------
    linear
        Linear-scale normalised expression, samples x genes of the set (positive).
    ref_median
        Reference median of each gene on the same scale (positive).

    Returns
    -------
    numpy.ndarray
        One score per sample.
    """
    return np.median(np.asarray(linear, dtype=float) / np.asarray(ref_median, dtype=float), axis=1)


def mean_z(log: np.ndarray, ref_mean: np.ndarray, ref_sd: np.ndarray) -> np.ndarray:
    """Mean z-score against the reference mean and SD (NIH standardised score, Utrecht score).

    Parameters
    ----------
    log
        Log-scale normalised expression, samples x genes of the set.
    ref_mean, ref_sd
        Reference mean and SD of each gene on the same scale (SD > 0).

    Returns
    -------
    numpy.ndarray
        One score per sample.
    """
    z = (np.asarray(log, dtype=float) - ref_mean) / ref_sd
    return z.mean(axis=1)


def _tie_groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted place of each gene and the tie group (start, end) of each sorted place, per sample.

    An ascending sort per sample, ties in row order: tie groups are runs of equal values.
    """
    values = np.asarray(values, dtype=float)
    n_rows, n = values.shape
    rows = np.arange(n_rows)[:, None]
    order = np.argsort(values, axis=1)  # quicksort: ties in any order, fixed below
    ordered = np.take_along_axis(values, order, axis=1)
    places = np.broadcast_to(np.arange(n, dtype=np.int32), (n_rows, n))
    new_group = np.ones((n_rows, n), dtype=bool)
    new_group[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    if not new_group.all():
        # put tied genes in row order (what a stable sort gives), sorting unique integer keys
        group = np.empty((n_rows, n), dtype=np.int64)
        group[rows, order] = np.cumsum(new_group, axis=1)
        order = np.argsort(group * n + places, axis=1)
    start = np.maximum.accumulate(np.where(new_group, places, np.int32(0)), axis=1)
    last = np.ones((n_rows, n), dtype=bool)
    last[:, :-1] = new_group[:, 1:]
    end = np.minimum.accumulate(np.where(last, places + np.int32(1), np.int32(n))[:, ::-1], axis=1)[:, ::-1]
    inverse = np.empty((n_rows, n), dtype=np.int32)
    inverse[rows, order] = places
    return inverse, start, end


def _position_weight(
    inverse: np.ndarray, start: np.ndarray, end: np.ndarray, columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """GSVA position (1 = top) and weight ``truncated_rank ** alpha`` of the given genes."""
    n = inverse.shape[1]
    j = inverse[:, columns]
    rows = np.arange(inverse.shape[0])[:, None]
    s, e = start[rows, j], end[rows, j]
    # a group over sorted places s..e-1 has average rank (s + 1 + e) / 2, which GSVA truncates;
    # GSVA's decreasing order puts the group at positions n - e + 1 ..., in row order
    position = n - e + (j - s) + 1
    weight = ((s + 1 + e) // 2).astype(float) ** SSGSEA_ALPHA
    return position, weight


def ssgsea_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank genes within each sample as GSVA's ssGSEA does.

    GSVA computes average ranks per sample, truncates them to integers, weights genes by
    ``rank ** alpha`` and orders genes by decreasing truncated rank, ties in their row order.

    Parameters
    ----------
    values
        Expression, samples x genes (any monotone transform gives the same result).

    Returns
    -------
    position : numpy.ndarray
        samples x genes: 1-based position of each gene in the sample's ordering (1 = most expressed).
    weight : numpy.ndarray
        float64, samples x genes: ``truncated_rank ** alpha``.
    """
    inverse, start, end = _tie_groups(values)
    return _position_weight(inverse, start, end, np.arange(inverse.shape[1]))


def ssgsea_es(position: np.ndarray, weight: np.ndarray, n: int) -> np.ndarray:
    """Un-normalised ssGSEA enrichment score of one set (GSVA's ``.fastRndWalk``).

    Parameters
    ----------
    position, weight
        samples x the set's genes: their positions and weights (:func:`ssgsea_ranks`).
    n
        Number of genes in the universe.

    Returns
    -------
    numpy.ndarray
        One raw score per sample.
    """
    k = position.shape[1]
    idx = position.astype(float)
    step_in = (weight * (n - idx + 1)).sum(axis=1) / weight.sum(axis=1)
    step_out = (n * (n + 1) / 2 - (n - idx + 1).sum(axis=1)) / (n - k)
    return step_in - step_out


def ssgsea_raw(values: np.ndarray, set_columns: Sequence[np.ndarray], *, chunk: int = 256) -> np.ndarray:
    """Un-normalised ssGSEA scores of several sets, computed in sample chunks to bound memory.

    Parameters
    ----------
    values
        Expression, samples x genes of the universe.
    set_columns
        For each set, the column indices of its genes (distinct).
    chunk
        Samples per chunk.

    Returns
    -------
    numpy.ndarray
        samples x sets.
    """
    values = np.asarray(values, dtype=float)
    n = values.shape[1]
    out = np.empty((values.shape[0], len(set_columns)))
    for first in range(0, values.shape[0], chunk):
        groups = _tie_groups(values[first : first + chunk])
        for j, cols in enumerate(set_columns):
            position, weight = _position_weight(*groups, np.asarray(cols))
            out[first : first + chunk, j] = ssgsea_es(position, weight, n)
    return out


def ssgsea_span(raw: np.ndarray) -> float:
    """GSVA's normaliser: the range (max - min) of all raw scores of a matrix (samples x sets)."""
    raw = np.asarray(raw, dtype=float)
    return float(np.nanmax(raw) - np.nanmin(raw))


def ssgsea_raw_gseapy(values: pd.DataFrame, gene_sets: dict[str, list[str]]) -> pd.DataFrame:
    """Un-normalised ssGSEA scores computed by gseapy, fed GSVA's truncated ranks.

    A cross-check of :func:`ssgsea_raw` (the tests compare both): gseapy's ``ssgsea`` with
    ``sample_norm_method="custom"`` uses the given values as the ranking metric and weights
    genes by ``metric ** 0.25``, which with GSVA's truncated ranks as the metric is GSVA's
    walk. gseapy builds Python lists of the whole matrix, so it is used on small data only.

    Parameters
    ----------
    values
        Expression, samples x genes (columns are gene names).
    gene_sets
        Set name -> genes.

    Returns
    -------
    pandas.DataFrame
        samples x sets.
    """
    import gseapy

    ranks = np.floor(rankdata(values.to_numpy(dtype=float), method="average", axis=1))
    data = pd.DataFrame(ranks.T, index=values.columns, columns=values.index)
    res = gseapy.ssgsea(
        data=data,
        gene_sets={k: list(v) for k, v in gene_sets.items()},
        sample_norm_method="custom",
        correl_norm_type="rank",
        weight=SSGSEA_ALPHA,
        min_size=1,
        max_size=100_000,
        threads=1,
        outdir=None,
        no_plot=True,
        verbose=False,
    )
    table = res.res2d.pivot(index="Name", columns="Term", values="ES").astype(float)
    return table.reindex(index=values.index, columns=list(gene_sets))


def score_genes_controls(
    ref_log: np.ndarray,
    pool: Sequence[str],
    genes: Sequence[str],
    *,
    ctrl_size: int = 50,
    n_bins: int = 25,
    random_state: int = 0,
) -> list[str]:
    """Choose scanpy ``score_genes`` control genes from the reference samples' expression bins.

    The same steps as scanpy 1.11's ``_score_genes_bins`` (``ctrl_as_ref=True``), on the
    reference samples instead of the scored matrix, with the same random stream
    (``numpy.random.RandomState(random_state)``, scanpy seeds the global one).

    Parameters
    ----------
    ref_log
        Reference samples x pool genes, log scale.
    pool
        Gene names of the columns of ``ref_log`` (the gene pool).
    genes
        The set's genes (all in ``pool``).
    ctrl_size, n_bins, random_state
        As in ``sc.tl.score_genes``.

    Returns
    -------
    list of str
        The control genes, sorted.
    """
    rng = np.random.RandomState(random_state)
    gene_list = pd.Index(list(genes))
    obs_avg = pd.Series(
        np.nanmean(np.asarray(ref_log, dtype=float), axis=0), index=pd.Index(list(pool), dtype="string")
    )
    obs_avg = obs_avg[np.isfinite(obs_avg)]
    n_items = int(np.round(len(obs_avg) / (n_bins - 1)))
    obs_cut = obs_avg.rank(method="min") // n_items
    control = pd.Index([], dtype="string")
    for cut in np.unique(obs_cut.loc[gene_list]):
        r_genes = obs_cut[obs_cut == cut].index
        if ctrl_size < len(r_genes):
            r_genes = r_genes.to_series().sample(ctrl_size, random_state=rng).index
        r_genes = r_genes.difference(gene_list)
        control = control.union(r_genes)
    return [str(g) for g in control]


def score_genes(log: np.ndarray, set_columns: np.ndarray, control_columns: np.ndarray) -> np.ndarray:
    """Scanpy's module score: mean of the set's genes minus mean of the control genes.

    Parameters
    ----------
    log
        Log-scale expression, samples x genes of the universe.
    set_columns, control_columns
        Column indices of the set's genes and of its control genes.

    Returns
    -------
    numpy.ndarray
        One score per sample.
    """
    log = np.asarray(log, dtype=float)
    return np.nanmean(log[:, set_columns], axis=1, dtype="float64") - np.nanmean(
        log[:, control_columns], axis=1, dtype="float64"
    )
