"""Score kernels: hand examples, R GSVA golden file, gseapy and scanpy cross-checks."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

from myocit_omics.genesets import read_gmt
from myocit_omics.interferon import methods as m


def test_median_fc_by_hand():
    linear = np.array([[2.0, 4.0, 16.0], [1.0, 1.0, 2.0]])
    assert m.median_fc(linear, np.array([1.0, 1.0, 2.0])).tolist() == [4.0, 1.0]


def test_mean_z_by_hand():
    log = np.array([[3.0, 1.0]])
    assert m.mean_z(log, np.array([1.0, 1.0]), np.array([2.0, 0.5])).tolist() == [0.5]


def test_ssgsea_ranks_follow_gsva_ties():
    # average ranks 1, 2.5, 2.5, 4 truncate to 1, 2, 2, 4; ties keep row order
    pos, w = m.ssgsea_ranks(np.array([[0.0, 5.0, 5.0, 9.0]]))
    assert pos.tolist() == [[4, 2, 3, 1]]
    np.testing.assert_allclose(w, [[1.0, 2**0.25, 2**0.25, 4**0.25]])


def _golden(golden):
    counts = pd.read_csv(golden / "counts.tsv", sep="\t", index_col=0)
    sets = read_gmt(golden / "sets.gmt")
    cols = [np.array([counts.index.get_loc(g) for g in s.genes]) for s in sets.values()]
    return counts, sets, cols


def test_ssgsea_matches_r_gsva(golden):
    counts, sets, cols = _golden(golden)
    raw_r = pd.read_csv(golden / "ssgsea_raw.tsv", sep="\t", index_col=0).loc[list(sets)]
    norm_r = pd.read_csv(golden / "ssgsea_normalised.tsv", sep="\t", index_col=0).loc[list(sets)]
    raw = m.ssgsea_raw(counts.T.to_numpy(dtype=float), cols, chunk=3)  # chunks must not matter
    np.testing.assert_allclose(raw.T, raw_r.to_numpy(), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(raw.T / m.ssgsea_span(raw), norm_r.to_numpy(), rtol=1e-10, atol=1e-12)
    # a monotone transform of each sample (log) gives the same scores: ranks only
    np.testing.assert_allclose(m.ssgsea_raw(np.log2(counts.T.to_numpy() + 1.0), cols), raw, atol=1e-9)


def test_ssgsea_matches_gseapy_without_ties():
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(200)]
    x = pd.DataFrame(rng.normal(size=(5, 200)), columns=genes, index=[f"s{i}" for i in range(5)])
    sets = {"a": genes[:8], "b": genes[40:70]}
    ours = m.ssgsea_raw(x.to_numpy(), [np.arange(8), np.arange(40, 70)])
    theirs = m.ssgsea_raw_gseapy(x, sets)
    np.testing.assert_allclose(ours, theirs.to_numpy(), rtol=1e-8)


def test_frozen_score_genes_equals_scanpy_on_the_reference():
    rng = np.random.default_rng(5)
    genes = [f"G{i}" for i in range(400)]
    x = np.log2(rng.poisson(rng.gamma(1.0, 30, size=400), size=(12, 400)) + 1.0)
    gene_set = genes[10:25]
    a = ad.AnnData(pd.DataFrame(x, columns=genes, index=[f"s{i}" for i in range(12)]))
    sc.tl.score_genes(a, gene_set, ctrl_size=30, n_bins=12, random_state=3)
    ctrl = m.score_genes_controls(x, genes, gene_set, ctrl_size=30, n_bins=12, random_state=3)
    assert not set(ctrl) & set(gene_set)
    ours = m.score_genes(x, np.arange(10, 25), np.array([genes.index(g) for g in ctrl]))
    np.testing.assert_allclose(ours, a.obs["score"].to_numpy(), atol=1e-12)
    # the frozen controls score a new sample from that sample alone
    new = np.log2(rng.poisson(30, size=(1, 400)) + 1.0)
    both = m.score_genes(np.vstack([x, new]), np.arange(10, 25), np.array([genes.index(g) for g in ctrl]))
    assert both[-1] == pytest.approx(
        m.score_genes(new, np.arange(10, 25), np.array([genes.index(g) for g in ctrl]))[0], abs=1e-12
    )


def test_ssgsea_ranks_equal_the_plain_definition_on_tied_counts():
    from scipy.stats import rankdata

    rng = np.random.default_rng(9)
    x = rng.poisson(2.0, size=(7, 300)).astype(float)  # very many ties
    ranks = np.floor(rankdata(x, method="average", axis=1)).astype(int)
    order = np.argsort(-ranks, axis=1, kind="stable")
    expected = np.empty_like(ranks)
    np.put_along_axis(expected, order, np.arange(1, 301)[None, :].repeat(7, axis=0), axis=1)
    pos, w = m.ssgsea_ranks(x)
    np.testing.assert_array_equal(pos, expected)
    np.testing.assert_allclose(w, ranks**0.25)
