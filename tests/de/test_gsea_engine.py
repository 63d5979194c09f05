"""The numpy GSEA engine against gseapy (the cross-check) and against brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myocit_omics.de.gsea import run_prerank
from myocit_omics.de.gsea_engine import (
    es_from_positions,
    es_plus,
    multilevel_log_pvalue,
    multilevel_log_pvalues,
    prerank,
    random_subsets,
    running_sum,
)
from myocit_omics.genesets import GeneSet


def gseapy_es(r: np.ndarray, hits: np.ndarray) -> float:
    """gseapy.algorithm.enrichment_score's ES, written out over the whole ranking (weight 1)."""
    tag = np.zeros(r.size, dtype=int)
    tag[hits] = 1
    w = np.abs(r)
    res = np.cumsum(tag * w / (w * tag).sum() - (1 - tag) / (r.size - tag.sum()))
    mx, mn = res.max(), res.min()
    return float(mx if abs(mx) > abs(mn) else mn)


@pytest.fixture(scope="module")
def ranking() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.sort(rng.standard_t(4, size=3000))[::-1]


def test_es_from_hit_positions_equals_the_full_running_sum(ranking):
    rng = np.random.default_rng(1)
    w = np.abs(ranking)
    for k in (1, 2, 5, 40, 300):
        pos = random_subsets(rng, ranking.size, k, 200)
        fast = es_from_positions(pos, w, ranking.size)
        slow = np.array([gseapy_es(ranking, p) for p in pos])
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
        assert np.allclose(es_plus(pos, w, ranking.size), [max(running_sum(w, p).max(), 0) for p in pos])
    # sets at the very top and bottom
    for hits in (np.arange(5), np.arange(ranking.size - 5, ranking.size), np.array([0, ranking.size - 1])):
        assert es_from_positions(hits[None], w, ranking.size)[0] == pytest.approx(gseapy_es(ranking, hits),
                                                                                  abs=1e-12)


def test_random_subsets_are_uniform_and_repeat_free():
    rng = np.random.default_rng(2)
    pos = random_subsets(rng, 50, 30, 4000)
    assert (np.diff(pos, axis=1) > 0).all() and pos.min() >= 0 and pos.max() < 50
    freq = np.bincount(pos.ravel(), minlength=50) / pos.shape[0]
    assert np.abs(freq - 30 / 50).max() < 0.04  # each position in a 30-of-50 subset with p = 0.6


def test_same_seed_same_result_and_nulls_shared_by_size(ranking):
    hits = [np.arange(0, 60, 3), np.arange(1, 61, 3), np.arange(2000, 2010)]
    a = prerank(ranking, hits, permutations=300, seed=5)
    b = prerank(ranking, hits, permutations=300, seed=5)
    c = prerank(ranking, hits, permutations=300, seed=6)
    np.testing.assert_array_equal(a.pval, b.pval)
    np.testing.assert_array_equal(a.nes, b.nes)
    assert not np.array_equal(a.nes, c.nes)


def test_multilevel_pvalue_agrees_with_brute_force(ranking):
    rng = np.random.default_rng(3)
    w = np.abs(ranking)
    k = 5
    null = np.concatenate([es_plus(random_subsets(rng, ranking.size, k, 100_000), w, ranking.size)
                           for _ in range(4)])
    es = np.sort(null)[-40]  # 40 of 400,000 random sets reach it: p = 1e-4
    p_brute = (null >= es).mean()
    est = [multilevel_log_pvalue(w, k, es, rng=np.random.default_rng(s))[0] for s in range(6)]
    log10_ratio = np.mean(est) / np.log(10) - np.log10(p_brute)
    assert abs(log10_ratio) < 0.3, (np.exp(est), p_brute)


def test_multilevel_of_sets_of_mixed_sizes_in_one_padded_array_agrees_with_brute_force(ranking):
    # sets of sizes 4, 6 and 8 split in lockstep (padded to 8): each estimate is its own set's tail
    rng = np.random.default_rng(11)
    w = np.abs(ranking)
    ks, es, p_brute = [4, 6, 8], [], []
    for k in ks:
        null = es_plus(random_subsets(rng, ranking.size, k, 200_000), w, ranking.size)
        es.append(np.sort(null)[-21])  # 20 of 200,000 reach it: p = 1e-4
        p_brute.append((null >= es[-1]).mean())
    est = np.array([multilevel_log_pvalues(w, ks, es, rng=np.random.default_rng(s))[0] for s in range(6)])
    log10_ratio = est.mean(axis=0) / np.log(10) - np.log10(p_brute)
    assert np.all(np.abs(log10_ratio) < 0.3), (np.exp(est.mean(axis=0)), p_brute)


def test_compiled_multilevel_kernel_equals_the_numpy_kernel_bit_for_bit(ranking):
    # same proposals, same arithmetic: the numba kernel is the numpy kernel, only faster
    from myocit_omics.de.gsea_kernels import HAVE_NUMBA

    assert HAVE_NUMBA  # numba is a declared dependency
    w = np.abs(ranking)
    ks, es = [3, 5, 9, 40, 41], [0.95, 0.8, 0.7, 0.45, 0.99]
    for seed in (0, 1):
        fast = multilevel_log_pvalues(w, ks, es, rng=np.random.default_rng(seed), compiled=True)
        slow = multilevel_log_pvalues(w, ks, es, rng=np.random.default_rng(seed), compiled=False)
        np.testing.assert_array_equal(fast[0], slow[0])
        np.testing.assert_array_equal(fast[1], slow[1])
    # the compiled kernel's moves keep rows sorted, repeat-free and above the bound
    from myocit_omics.de.gsea_engine import _perturb_compiled

    rng = np.random.default_rng(4)
    k, m, n = 6, 50, ranking.size
    pos = random_subsets(rng, n, k, m)[None]
    score = es_plus(pos[0], w, n)[None]
    bound = np.array([np.median(score)])
    keep = score[0] > bound[0]
    pos, score = pos[:, keep], score[:, keep]
    new_pos, new_score = _perturb_compiled(rng, pos.copy(), score.copy(), np.append(w, 0.0), n,
                                           np.array([k]), bound, np.array([[[1 / (n - k)]]]), 20)
    assert (np.diff(new_pos[0], axis=1) > 0).all() and (new_score > bound[0]).all()
    np.testing.assert_allclose(new_score[0], es_plus(new_pos[0], w, n), rtol=0, atol=1e-12)
    assert not np.array_equal(new_pos, pos)


@pytest.fixture(scope="module")
def planted_sets(ranking):
    rng = np.random.default_rng(9)
    genes = np.array([f"G{i}" for i in range(ranking.size)])
    series = pd.Series(ranking, index=genes)
    top = genes[rng.choice(200, 15, replace=False)]
    bottom = genes[-300:][rng.choice(300, 8, replace=False)]
    sets = {"TOP": GeneSet("TOP", tuple(top), "", "x.gmt", "0"),
            "BOTTOM": GeneSet("BOTTOM", tuple(bottom), "", "x.gmt", "0")}
    for i in range(12):
        size = (10, 25, 60)[i % 3]
        sets[f"R{i}"] = GeneSet(f"R{i}", tuple(rng.choice(genes, size, replace=False)), "", "x.gmt", "0")
    return series, sets


def test_engine_matches_gseapy(planted_sets):
    series, sets = planted_sets
    mine, runs, notes = run_prerank(series, sets, contrast_id="c", permutations=2000, seed=1)
    ref, ref_runs, _ = run_prerank(series, sets, contrast_id="c", permutations=2000, seed=1, engine="gseapy")
    m, g = mine.set_index("gene_set"), ref.set_index("gene_set").loc[mine["gene_set"]]
    np.testing.assert_allclose(m["es"], g["es"], rtol=0, atol=1e-12)
    assert (m["leading_edge"] == g["leading_edge"]).all()
    assert (m["n_genes"] == g["n_genes"]).all()
    # NES: the null means of 2000 permutations agree to a few per cent
    assert np.allclose(m["nes"], g["nes"], rtol=0.06)
    # nominal p-values within Monte-Carlo error where gseapy resolves them
    resolved = g["p_value"] > 0.02
    se = np.sqrt(g["p_value"] * (1 - g["p_value"]) / 1000)
    assert (np.abs(m["p_value"] - g["p_value"])[resolved] <= 4 * se[resolved] + 1e-3).all()
    # the planted sets: gseapy says 0, the engine a real p-value below 1/permutations
    for name in ("TOP", "BOTTOM"):
        assert g.loc[name, "p_value"] == 0
        assert 0 < m.loc[name, "p_value"] < 1 / 2000
        assert runs.terms[name]["method"] == "multilevel"
    assert any("multilevel" in n for n in notes)
    np.testing.assert_allclose(runs.running_sum("TOP"), ref_runs.running_sum("TOP"), atol=1e-12)


def test_unknown_engine_is_refused(planted_sets):
    from myocit_omics.errors import InputError

    series, sets = planted_sets
    with pytest.raises(InputError, match="unknown GSEA engine"):
        run_prerank(series, sets, contrast_id="c", engine="fgsea")
