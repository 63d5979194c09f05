"""FastInference against stock pydeseq2 (DefaultInference) on seeded synthetic data."""

import numpy as np
import pandas as pd
import pytest
from pydeseq2 import utils
from pydeseq2.dds import DeseqDataSet
from pydeseq2.default_inference import DefaultInference
from pydeseq2.ds import DeseqStats
from scipy.stats import spearmanr

from myocit_omics.deseq import FastInference, fit_deseq, make_inference
from myocit_omics.deseq.dispersion import trigamma


def compare_results(ours: pd.DataFrame, ref: pd.DataFrame) -> dict[str, float]:
    """The issue's agreement measures between two pydeseq2 results tables."""
    ref = ref.reindex(ours.index)
    bm = (ref["baseMean"] >= 10) & ours["log2FoldChange"].notna() & ref["log2FoldChange"].notna()
    both = ours["pvalue"].notna() & ref["pvalue"].notna()
    return {
        "max_dlfc": float((ours["log2FoldChange"] - ref["log2FoldChange"])[bm].abs().max()),
        "spearman": float(spearmanr(ours["pvalue"][both], ref["pvalue"][both]).statistic),
        "call_mismatch": float(((ours["padj"] < 0.05) != (ref["padj"] < 0.05)).mean()),
        "n_sig": int((ref["padj"] < 0.05).sum()),
        "same_na": bool((ours["pvalue"].isna() == ref["pvalue"].isna()).mean() > 0.995),
    }


@pytest.fixture(scope="module")
def fitted_pair(nb_small):
    counts, meta = nb_small
    counts = counts.iloc[:, :1200]  # enough genes for the trend and the DE calls; keeps stock quick
    stock = DeseqDataSet(
        counts=counts,
        metadata=meta,
        design="~patient + visit",
        quiet=True,
        inference=DefaultInference(n_cpus=1),
    )
    stock.deseq2()
    fast = fit_deseq(counts, meta, "~patient + visit", behaviour="pydeseq2")
    return fast, stock


def test_fit_matches_stock_pydeseq2(fitted_pair):
    fast, stock = fitted_pair
    assert isinstance(fast.inference, FastInference)
    np.testing.assert_allclose(fast.uns["trend_coeffs"], stock.uns["trend_coeffs"], rtol=1e-3)
    for col in ("genewise_dispersions", "dispersions"):
        a, b = fast.var[col].to_numpy(), stock.var[col].to_numpy()
        ok = np.isfinite(a) & np.isfinite(b)
        close = np.abs(np.log(a[ok]) - np.log(b[ok])) < 1e-2
        assert close.mean() > 0.995, col
    assert (fast.var["replaced"] == stock.var["replaced"]).all()


@pytest.mark.parametrize("target", ["W4", "W24"])
def test_contrasts_match_stock_pydeseq2(fitted_pair, target):
    fast, stock = fitted_pair
    out = {}
    for name, dds in (("fast", fast), ("stock", stock)):
        st = DeseqStats(dds, contrast=["visit", target, "W0"], quiet=True, inference=dds.inference)
        st.summary()
        out[name] = st.results_df
    m = compare_results(out["fast"], out["stock"])
    assert m["n_sig"] > 20  # the synthetic data do carry visit effects
    assert m["max_dlfc"] < 0.01
    assert m["spearman"] >= 0.999
    assert m["call_mismatch"] <= 0.005
    assert m["same_na"]


def test_lfc_shrink_matches_stock_pydeseq2(fitted_pair):
    fast, stock = fitted_pair
    shrunk = {}
    for name, dds in (("fast", fast), ("stock", stock)):
        st = DeseqStats(dds, contrast=["visit", "W4", "W0"], quiet=True, inference=dds.inference)
        st.summary()
        st.lfc_shrink(coeff="visit[T.W4]")
        shrunk[name] = st.results_df
    bm = shrunk["stock"]["baseMean"] >= 10
    d = (shrunk["fast"]["log2FoldChange"] - shrunk["stock"]["log2FoldChange"])[bm].abs()
    # pydeseq2's L-BFGS-B stops at ftol=1e-8 of a scaled objective; ours runs Newton to the optimum
    assert d.max() < 0.05
    assert (d < 0.01).mean() > 0.995
    se = (shrunk["fast"]["lfcSE"] - shrunk["stock"]["lfcSE"])[bm].abs()
    assert (se < 0.01).mean() > 0.995


def test_irls_and_alpha_mle_match_per_gene_solvers(nb_small):
    counts, meta = nb_small
    rng = np.random.default_rng(3)
    cols = rng.choice(counts.shape[1], 60, replace=False)
    y = counts.to_numpy()[:, cols]
    y = y[:, y.sum(axis=0) > 0]
    x = pd.get_dummies(meta[["patient", "visit"]], drop_first=True).astype(float)
    x.insert(0, "Intercept", 1.0)
    x = x.to_numpy()
    sf = np.exp(np.random.default_rng(4).normal(0, 0.2, y.shape[0]))
    disp = np.full(y.shape[1], 0.1)
    fi = FastInference()
    beta, mu, hat, conv = fi.irls(y, sf, x, disp, min_mu=0.5, beta_tol=1e-8)
    assert beta.shape == (y.shape[1], x.shape[1]) and mu.shape == y.shape and hat.shape == y.shape
    for j in range(y.shape[1]):
        b, _m, h, _c = utils.irls_solver(y[:, j], sf, x, disp[j], 0.5, 1e-8)
        np.testing.assert_allclose(beta[j], b, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(hat[:, j], h, rtol=1e-6, atol=1e-10)
    mu_fit = np.maximum(mu, 0.5)
    alpha, conv = fi.alpha_mle(y, x, mu_fit, np.full(y.shape[1], 0.2), 1e-8, 10.0)
    assert conv.all()
    for j in range(y.shape[1]):
        ref, _ = utils.fit_alpha_mle(y[:, j], x, mu_fit[:, j], 0.2, 1e-8, 10.0)
        # both minimise the same objective; pydeseq2 stops at L-BFGS-B's tolerance
        assert np.log(alpha[j]) == pytest.approx(np.log(ref), abs=2e-3)


def test_wald_test_matches_per_gene_wald(fitted_pair):
    fast, _ = fitted_pair
    x = fast.obsm["design_matrix"].to_numpy(dtype=float)
    keep = np.flatnonzero(fast.var["non_zero"].to_numpy())[:50]
    lfc = fast.varm["LFC"].to_numpy()[keep]
    disp = fast.var["dispersions"].to_numpy()[keep]
    mu = fast.obs["size_factors"].to_numpy()[:, None] * np.exp(x @ lfc.T)
    ridge = np.diag(np.repeat(1e-6, x.shape[1]))
    contrast = np.zeros(x.shape[1])
    contrast[-1] = 1.0
    for alt in (None, "greaterAbs", "lessAbs", "greater", "less"):
        null = 0.0 if alt is None else 0.3
        p, s, se = FastInference(behaviour="pydeseq2").wald_test(x, disp, lfc, mu, ridge, contrast, null, alt)
        for j in range(50):
            rp, rs, rse = utils.wald_test(x, disp[j], lfc[j], mu[:, j], ridge, contrast, null, alt)
            assert p[j] == pytest.approx(rp, rel=1e-8, abs=1e-300)
            assert s[j] == pytest.approx(rs, rel=1e-8, abs=1e-12)
            assert se[j] == pytest.approx(rse, rel=1e-8)


def test_moment_estimates_and_trend_match_pydeseq2(nb_small):
    counts, meta = nb_small
    normed = counts.to_numpy(dtype=float)
    normed = normed[:, normed.sum(axis=0) > 0]
    x = np.column_stack([np.ones(len(meta)), (meta["visit"] == "W4").to_numpy(float)])
    sf = np.ones(len(meta))
    fi = FastInference()
    np.testing.assert_allclose(fi.fit_rough_dispersions(normed, x), utils.fit_rough_dispersions(normed, x))
    np.testing.assert_allclose(
        fi.fit_moments_dispersions(normed, sf), utils.fit_moments_dispersions(normed, sf)
    )
    means = pd.Series(normed.mean(axis=0))
    disp = pd.Series(0.05 + 2.0 / means * np.exp(np.random.default_rng(0).normal(0, 0.3, len(means))))
    ours = fi.dispersion_trend_gamma_glm(1 / means, disp)
    ref = DefaultInference(n_cpus=1).dispersion_trend_gamma_glm(1 / means, disp)
    assert ours[2] and ref[2]
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-3)


def test_trigamma_matches_scipy():
    from scipy.special import polygamma

    x = np.exp(np.random.default_rng(1).uniform(-8, 12, 5000))
    np.testing.assert_allclose(trigamma(x), polygamma(1, x), rtol=1e-12)


def test_make_inference_and_input_checks(nb_small):
    assert isinstance(make_inference(), FastInference)
    assert isinstance(make_inference(fast=False, n_cpus=1), DefaultInference)
    counts, meta = nb_small
    with pytest.raises(ValueError, match="different samples"):
        fit_deseq(counts, meta.iloc[1:], "~visit")
    bad = counts.astype(float)
    bad.iloc[2, 5] = 1.5
    with pytest.raises(ValueError, match="non-negative integer"):
        fit_deseq(bad, meta, "~visit")


def test_cooks_outlier_replacement_and_refit_match_stock():
    # two groups of 8 (>= 7 replicates, so DESeq2 replaces outliers and refits those genes)
    rng = np.random.default_rng(11)
    n_genes = 400
    base = np.exp(rng.normal(4.0, 1.5, n_genes))
    disp = 0.05 + 1.0 / base
    group = np.repeat(["A", "B"], 8)
    effect = np.where(rng.random(n_genes) < 0.2, rng.normal(0, 1.5, n_genes), 0.0)
    mu = base[None, :] * np.exp(np.outer(group == "B", effect))
    counts = rng.negative_binomial(1 / disp, 1 / (1 + mu * disp))
    outliers = rng.choice(n_genes, 15, replace=False)
    counts[3, outliers] = counts[3, outliers] * 40 + 200
    idx = [f"S{i:02d}" for i in range(16)]
    df = pd.DataFrame(counts, index=idx, columns=[f"G{j:03d}" for j in range(n_genes)])
    meta = pd.DataFrame({"group": group}, index=idx)
    stock = DeseqDataSet(
        counts=df, metadata=meta, design="~group", quiet=True, inference=DefaultInference(n_cpus=1)
    )
    stock.deseq2()
    fast = fit_deseq(df, meta, "~group", behaviour="pydeseq2")
    assert stock.var["replaced"].sum() >= 10  # the refit path is exercised
    assert (fast.var["replaced"] == stock.var["replaced"]).all()
    assert (fast.var["refitted"] == stock.var["refitted"]).all()
    res = {}
    for name, dds in (("fast", fast), ("stock", stock)):
        st = DeseqStats(dds, contrast=["group", "B", "A"], quiet=True, inference=dds.inference)
        st.summary()
        res[name] = st.results_df
    m = compare_results(res["fast"], res["stock"])
    assert m["max_dlfc"] < 0.01
    assert m["spearman"] >= 0.999
    assert m["call_mismatch"] <= 0.005
    assert (res["fast"]["pvalue"].isna() == res["stock"]["pvalue"].isna()).all()
