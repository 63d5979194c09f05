import numpy as np
import pandas as pd
import pytest
from pydeseq2.dds import DeseqDataSet
from pydeseq2.default_inference import DefaultInference

from myocit_omics.deseq.vst import VstTrend, fit_vst_trend, vst_transform


def _pydeseq2_vst(counts: pd.DataFrame, meta: pd.DataFrame, *, use_design: bool) -> DeseqDataSet:
    dds = DeseqDataSet(
        counts=counts,
        metadata=meta,
        design="~patient + visit",
        quiet=True,
        inference=DefaultInference(n_cpus=1),
    )
    dds.vst(use_design=use_design)
    return dds


@pytest.mark.parametrize("use_design", [False, True])
def test_vst_matches_pydeseq2(nb_small, use_design):
    counts, meta = nb_small
    dds = _pydeseq2_vst(counts, meta, use_design=use_design)
    sf = dds.obs["size_factors"].to_numpy()
    design = dds.obsm["design_matrix"].to_numpy(dtype=float) if use_design else None
    trend = fit_vst_trend(counts.to_numpy(), sf, design=design)
    a0, a1 = dds.uns["vst_trend_coeffs"]
    assert trend.kind == "parametric"
    assert trend.blind is (not use_design)
    assert trend.a0 == pytest.approx(a0, rel=0.01)
    assert trend.a1 == pytest.approx(a1, rel=0.01)
    ours = vst_transform(counts.to_numpy(), sf, trend)
    assert ours.shape == counts.shape
    assert np.abs(ours - dds.layers["vst_counts"]).max() < 0.01


def test_vst_from_coeffs_is_pydeseq2_closed_form(nb_small):
    counts, meta = nb_small
    dds = _pydeseq2_vst(counts, meta, use_design=False)
    a0, a1 = dds.uns["vst_trend_coeffs"]
    out = vst_transform(counts.to_numpy(), dds.obs["size_factors"].to_numpy(), VstTrend.from_coeffs(a0, a1))
    np.testing.assert_allclose(out, dds.layers["vst_counts"], rtol=1e-12, atol=1e-12)


def test_vst_is_monotone_and_log2_like_for_large_counts():
    trend = VstTrend.from_coeffs(0.05, 1.0)
    q = np.array([[0.0, 10.0, 100.0, 1e4, 1e5]])
    v = vst_transform(q, np.ones(1), trend)
    assert np.all(np.diff(v[0]) > 0)
    # for large counts the VST approaches log2(q) (DESeq2's design)
    assert v[0, -1] - np.log2(1e5) == pytest.approx(v[0, -2] - np.log2(1e4), abs=0.01)


def test_vst_rejects_bad_input():
    with pytest.raises(ValueError, match="size_factors"):
        vst_transform(np.ones((3, 2)), np.array([1.0, 0.0, 1.0]), VstTrend.from_coeffs(0.1, 1.0))
    with pytest.raises(ValueError, match="non-negative"):
        vst_transform(np.array([[1.0, -1.0]]), np.ones(1), VstTrend.from_coeffs(0.1, 1.0))
    with pytest.raises(ValueError, match="a0"):
        VstTrend.from_coeffs(-0.1, 1.0)
    with pytest.raises(ValueError, match="zero counts"):
        fit_vst_trend(np.zeros((4, 3)), np.ones(4))


def test_vst_from_a_de_fit_uses_its_trend_without_refitting(nb_small):
    from myocit_omics.deseq import fit_deseq

    counts, meta = nb_small
    dds = fit_deseq(counts, meta, "~patient + visit")
    trend = VstTrend.from_deseq(dds)
    a0, a1 = dds.uns["trend_coeffs"]
    assert (trend.a0, trend.a1, trend.blind) == (a0, a1, False)
    sf = dds.obs["size_factors"].to_numpy()
    v = vst_transform(counts.to_numpy(), sf, trend)
    # DESeq2's trend at high counts: the VST differs from log2(normalised count) by a constant
    hi = counts.to_numpy().min(axis=0) > 2000
    assert hi.sum() > 5
    gap = v[:, hi] - np.log2(counts.to_numpy()[:, hi] / sf[:, None])
    assert np.ptp(gap) < 0.05
    with pytest.raises(ValueError, match="dispersion trend"):
        VstTrend.from_deseq(type("Fake", (), {"uns": {}, "var": {}})())


def test_vst_mean_trend_matches_pydeseq2_mean_fit(nb_small):
    from scipy.stats import trim_mean

    counts, meta = nb_small
    dds = DeseqDataSet(
        counts=counts, metadata=meta, design="~visit", quiet=True, inference=DefaultInference(n_cpus=1)
    )
    dds.vst(fit_type="mean")
    disp = dds.var["vst_genewise_dispersions"]
    mean_disp = trim_mean(disp[disp > 10 * dds.min_disp], proportiontocut=0.001)
    trend = VstTrend(a0=np.nan, a1=np.nan, kind="mean", mean_disp=float(mean_disp))
    out = vst_transform(counts.to_numpy(), dds.obs["size_factors"].to_numpy(), trend)
    np.testing.assert_allclose(out, dds.layers["vst_counts"], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(trend.dispersion(np.array([1.0, 100.0])), mean_disp)
