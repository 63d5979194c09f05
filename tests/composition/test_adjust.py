"""Composition-adjusted IFN expression: per-gene residuals, coefficients frozen on the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myocit_omics.composition.adjust import fit_adjustment
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
