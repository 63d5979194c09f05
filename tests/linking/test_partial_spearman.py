"""Partial Spearman of IFN change against clinical change given covariates."""

from __future__ import annotations

import numpy as np
from scipy import stats

from myocit_omics.linking.stats import partial_spearman, spearman


def test_a_shared_covariate_explains_the_correlation_away():
    rng = np.random.default_rng(0)
    z = rng.normal(size=60)
    x, y = z + rng.normal(scale=0.4, size=60), z + rng.normal(scale=0.4, size=60)
    plain = spearman(x, y, seed=1, n_boot=500, n_perm=999)
    part = partial_spearman(x, y, z, seed=1, n_boot=500, n_perm=999)
    assert plain["estimate"] > 0.7 and plain["p_value"] < 0.01
    assert abs(part["estimate"]) < 0.25 and part["p_value"] > 0.05
    assert part["ci_low"] < 0 < part["ci_high"]


def test_a_direct_link_survives_the_covariates_and_matches_the_residual_formula():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(40, 2))
    x = z[:, 0] + rng.normal(size=40)
    y = x + z[:, 1] + rng.normal(scale=0.5, size=40)
    res = partial_spearman(x, y, z, seed=2, n_boot=500, n_perm=999)
    # the same thing by hand: residuals of the ranks on the covariates' ranks
    rz = np.column_stack([np.ones(40), stats.rankdata(z[:, 0]), stats.rankdata(z[:, 1])])

    def resid(a):
        r = stats.rankdata(a)
        return r - rz @ np.linalg.lstsq(rz, r, rcond=None)[0]

    expected = np.corrcoef(resid(x), resid(y))[0, 1]
    assert abs(res["estimate"] - expected) < 1e-10
    assert res["estimate"] > 0.5 and res["p_value"] < 0.01 and res["ci_low"] > 0
    assert res["n"] == 40 and "2 covariate(s)" in res["method"]


def test_incomplete_cases_are_left_out_and_said():
    rng = np.random.default_rng(2)
    x, y, z = rng.normal(size=12), rng.normal(size=12), rng.normal(size=12)
    y[0], z[1] = np.nan, np.nan
    res = partial_spearman(x, y, z, seed=0, n_boot=200, n_perm=199)
    assert res["n"] == 10 and "2 of 12 without all values" in res["note"]
    few = partial_spearman(x[:5], y[2:7], np.column_stack([z[2:7], z[2:7] ** 2]), seed=0)
    assert np.isnan(few["estimate"]) and "complete cases" in few["note"]
