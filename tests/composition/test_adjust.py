"""Composition-adjusted IFN expression: per-gene residuals, coefficients frozen on the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myocit_omics.composition.adjust import fit_adjustment, fit_signature_adjustment
from myocit_omics.errors import InputError


def _cohort(seed=0, n_ref=20, n=60):
    """ISGs that follow IFN activity and the monocyte share; healthy references have no IFN activity."""
    rng = np.random.default_rng(seed)
    genes = [f"ISG{i}" for i in range(30)]
    load = rng.uniform(1.0, 1.6, size=30)
    mono_load = rng.uniform(0.5, 1.0, size=30)

    def draw(k, active):
        activity = rng.uniform(0.5, 3.0, size=k) if active else np.zeros(k)
        mono = rng.normal(0, 0.5, size=k)
        log = 6 + np.outer(activity, load) + np.outer(mono, mono_load) + rng.normal(0, 0.2, size=(k, 30))
        return pd.DataFrame(log, columns=genes), pd.DataFrame({"monocyte": mono}), activity

    ref = draw(n_ref, False)
    pat = draw(n, True)
    return ref, pat


def test_adjustment_frozen_on_healthy_references_separates_ifn_from_the_monocyte_share():
    (ref_log, ref_cov, _), (log, cov, activity) = _cohort()
    adj = fit_adjustment(ref_log, ref_cov, list(ref_log.columns), ["monocyte"])
    assert adj.coefficients.shape == (30, 1) and np.all(np.abs(adj.coefficients[:, 0] - 0.75) < 0.45)
    raw_score = log.mean(axis=1)
    adj_score = adj.apply(log, cov).mean(axis=1)
    err_raw = np.abs(np.polyval(np.polyfit(activity, raw_score, 1), activity) - raw_score)
    err_adj = np.abs(np.polyval(np.polyfit(activity, adj_score, 1), activity) - adj_score)
    moved = np.abs(cov["monocyte"]) > np.quantile(np.abs(cov["monocyte"]), 0.75)
    assert err_adj.mean() < err_raw.mean()
    assert err_adj[moved].mean() < 0.5 * err_raw[moved].mean()
    # a sample's adjusted values depend only on itself and the frozen coefficients
    one = adj.apply(log.iloc[:5], cov.iloc[:5])
    assert np.allclose(one.to_numpy(), adj.apply(log, cov).iloc[:5].to_numpy())
    assert list(adj.table().columns) == ["gene", "coef_monocyte", "r_squared_reference"]


def test_an_unknown_cell_type_or_too_few_references_is_refused():
    (ref_log, ref_cov, _), _ = _cohort()
    with pytest.raises(InputError, match="no composition estimate"):
        fit_adjustment(ref_log, ref_cov, ["ISG1"], ["pdc"])
    with pytest.raises(InputError, match="too few reference samples"):
        fit_adjustment(ref_log.iloc[:3], ref_cov.iloc[:3], ["ISG1"], ["monocyte"])


def _mixture(seed=3, n=40):
    """A true mixture: CPM profiles of four cell types, ISGs raised by IFN activity in every cell alike.

    Each profile sums to 1e6, so a sample's counts per million are ``sum_c f_c S_gc`` and a pure
    marker of cell type c moves by ``log2(f_c / f_ref,c)``: that is its marker score.
    """
    rng = np.random.default_rng(seed)
    types = ["neutrophil", "monocyte", "t_cell", "other"]
    genes = [f"ISG{i}" for i in range(30)] + [f"G{i}" for i in range(200)]
    sig = rng.lognormal(3, 1, size=(4, len(genes)))
    sig[1, :30] *= rng.uniform(3, 10, size=30)  # ISGs higher in monocytes
    sig = sig / sig.sum(axis=1, keepdims=True) * 1e6
    signature = pd.DataFrame(sig, index=types, columns=genes)
    f_ref = np.array([0.55, 0.1, 0.25, 0.1])
    shift = rng.normal(0, 0.6, size=(n, 4))
    frac = f_ref * 2.0**shift
    frac /= frac.sum(axis=1, keepdims=True)
    load = np.r_[rng.uniform(1, 1.6, 30), np.zeros(200)]
    # reference-like samples whose IFN activity follows the monocyte share (the confound of pooled:W0)
    activity = 2.0 + 1.5 * shift[:, 1] + rng.normal(0, 0.2, size=n)
    log = pd.DataFrame(np.log2(frac @ sig) + np.outer(activity, load), columns=genes)
    markers = pd.DataFrame(np.log2(frac / f_ref), columns=types)
    ref_log = pd.DataFrame(np.log2(f_ref @ sig)[None, :], columns=genes)
    return signature, f_ref, log, markers, activity, load, ref_log


def test_signature_adjustment_removes_a_mixture_composition_exactly_whatever_the_reference_ifn():
    signature, f_ref, log, markers, activity, load, ref_log = _mixture()
    isgs = [g for g in log.columns if g.startswith("ISG")]
    reference = pd.DataFrame([f_ref], columns=signature.index)
    for scored in (["neutrophil", "monocyte", "t_cell", "other"], ["neutrophil", "monocyte", "t_cell"]):
        adj = fit_signature_adjustment(signature, reference, isgs, scored)
        assert adj.scored == tuple(c in scored for c in signature.index)
        assert np.allclose(adj.weights.sum(axis=1), 1.0)
        out = adj.apply(log, markers[scored])
        # what is left is the reference level plus the IFN part, exactly (the unscored share closed to 1)
        left = out[isgs].to_numpy() - ref_log[isgs].to_numpy()
        assert np.allclose(left, np.outer(activity, load[:30]), atol=1e-9)
        assert out.loc[:, "G0"].equals(log.loc[:, "G0"])  # genes outside the list stay as they are
    # first order: close for these shifts, not exact
    first = fit_signature_adjustment(signature, reference, isgs, list(signature.index), form="first_order")
    err = (
        first.apply(log, markers)[isgs].to_numpy() - ref_log[isgs].to_numpy() - np.outer(activity, load[:30])
    )
    assert 0 < np.abs(err).mean() < 0.25
    # the regression on the same samples absorbs the IFN activity that follows the monocyte share
    reg = fit_adjustment(log, markers, isgs, ["monocyte"])
    r_reg = np.corrcoef(reg.apply(log, markers)[isgs].mean(axis=1), activity)[0, 1]
    r_sig = np.corrcoef(out[isgs].mean(axis=1), activity)[0, 1]
    assert r_sig > 0.9999 and r_reg < 0.8, (r_sig, r_reg)
    # a sample's adjusted values depend only on itself and the frozen weights
    adj = fit_signature_adjustment(signature, reference, isgs, list(signature.index))
    assert np.allclose(adj.apply(log.iloc[:3], markers.iloc[:3]), adj.apply(log, markers).iloc[:3])
    table = adj.table()
    assert table.iloc[0, 0] == "(reference fractions)" and list(table.columns)[1] == "weight_neutrophil"


def test_a_signature_without_scored_cell_types_or_an_unknown_form_is_refused():
    signature, f_ref, *_ = _mixture()
    reference = pd.DataFrame([f_ref], columns=signature.index)
    with pytest.raises(InputError, match="cannot be used"):
        fit_signature_adjustment(signature, reference, ["ISG1"], ["pdc"])
    with pytest.raises(InputError, match="unknown form"):
        fit_signature_adjustment(signature, reference, ["ISG1"], ["monocyte"], form="quadratic")
