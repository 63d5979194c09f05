"""Linking statistics: hand-worked examples and agreement with reference implementations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.multitest import multipletests

from myocit_omics.linking.stats import (
    bh_qvalues,
    delong_se,
    median_ci,
    paired_change,
    roc_auc,
    spearman,
    youden,
)


def test_paired_change_worked_example():
    before = np.arange(1.0, 9.0)
    after = before - np.arange(1.0, 9.0)  # changes -1 ... -8
    res = paired_change(before, after)
    assert res["n"] == 8
    assert res["estimate"] == -4.5  # median of -1..-8
    # 25th percentile: position 7 * 0.25 = 1.75 between -7 and -6 -> -6.25; 75th: 5.25 -> -2.75
    assert res["iqr_low"] == pytest.approx(-6.25) and res["iqr_high"] == pytest.approx(-2.75)
    # all 8 changes negative, no ties: exact two-sided p = 2 / 2^8
    assert res["p_value"] == pytest.approx(2 / 256)
    # n = 8: P(B <= 0) = 1/256 -> coverage 1 - 2/256 >= 95 %; P(B <= 1) = 9/256 -> 93 % < 95 %:
    # the 95 % CI is (x_(1), x_(8)) = (-8, -1)
    assert (res["ci_low"], res["ci_high"]) == (-8.0, -1.0)


def test_paired_change_leaves_out_incomplete_pairs_and_says_so():
    before = [1.0, 2.0, np.nan, 4.0]
    after = [2.0, np.nan, 5.0, 3.0]
    res = paired_change(before, after)
    assert res["n"] == 2 and res["estimate"] == 0.0  # changes +1 and -1
    assert "CI needs >= 6 pairs" in res["note"] and "2 of 4 without both values" in res["note"]
    empty = paired_change([np.nan], [1.0])
    assert empty["n"] == 0 and math.isnan(empty["estimate"]) and "no patient" in empty["note"]


def test_median_ci_coverage_rule():
    assert all(math.isnan(v) for v in median_ci([1, 2, 3, 4, 5]))  # 2/32 = 6.25 % > 5 %
    assert median_ci([1, 2, 3, 4, 5, 6]) == (1.0, 6.0)  # 2/64 = 3.1 % <= 5 %
    # n = 16: P(B <= 3) = 697/65536 -> 2.1 %; P(B <= 4) = 2517/65536 -> 7.7 %: k = 4 -> (x_4, x_13)
    assert median_ci(np.arange(1.0, 17.0)) == (4.0, 13.0)


def test_spearman_matches_scipy_and_exact_permutation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=7)
    y = x + rng.normal(scale=1.0, size=7)
    res = spearman(x, y, seed=3, n_boot=500, n_perm=20000)
    assert res["estimate"] == pytest.approx(stats.spearmanr(x, y).statistic)
    # exact permutation p by enumerating all 7! orderings
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rho = stats.spearmanr(x, y).statistic
    null = [stats.pearsonr(rx, ry[list(perm)]).statistic for perm in itertools.permutations(range(7))]
    exact = np.mean(np.abs(null) >= abs(rho) - 1e-12)
    assert res["p_value"] == pytest.approx(exact, abs=0.01)
    assert res["ci_low"] <= res["estimate"] <= res["ci_high"]


def test_spearman_is_seeded_and_handles_constant_input():
    x = np.arange(10.0)
    y = x**2
    assert spearman(x, y, seed=5) == spearman(x, y, seed=5)
    assert spearman(x, y, seed=5)["estimate"] == pytest.approx(1.0)
    const = spearman(x, np.ones(10), seed=5)
    assert math.isnan(const["estimate"]) and "constant" in const["note"]
    assert spearman([1, 2], [2, 1], seed=1)["note"] == "fewer than 3 complete pairs"


def test_roc_auc_worked_example():
    score = np.array([1.0, 2.0, 3.0, 3.0, 4.0, 5.0])
    label = np.array([0, 0, 0, 1, 1, 1])
    # positives 3, 4, 5 against negatives 1, 2, 3: 8 wins + 1 tie (3 vs 3) of 9 pairs
    res = roc_auc(score, label, seed=0, ci="delong")
    assert res["estimate"] == pytest.approx(8.5 / 9)
    assert res["estimate"] == pytest.approx(roc_auc_score(label, score))
    # DeLong: V10 = (5/6, 1, 1), V01 = (1, 1, 5/6); var (ddof 1) = 1/108 each; se = sqrt(2 * (1/108) / 3)
    assert delong_se(score[label == 1], score[label == 0]) == pytest.approx(math.sqrt(2 / 324))
    assert res["ci_high"] == 1.0  # clipped
    # Youden: cut-off 3 gives sens 3/3, spec 2/3; cut-off 4 sens 2/3, spec 3/3; the lower is kept
    assert (res["cutoff"], res["sensitivity"], res["specificity"]) == (3.0, 1.0, pytest.approx(2 / 3))
    assert res["direction"] == ">="


def test_roc_auc_inverse_direction_and_missing_labels():
    score = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 9.0])
    label = np.array([1, 1, 1, 0, 0, 0, None], dtype=object)  # last patient: outcome unknown
    res = roc_auc(score, label, seed=2)
    assert res["n"] == 6 and res["estimate"] == 1.0
    res = roc_auc(-score, label, seed=2)
    assert res["estimate"] == 0.0 and res["direction"] == "<="
    assert (res["sensitivity"], res["specificity"]) == (1.0, 1.0)
    one_class = roc_auc(score[:3], np.array([1, 1, 1]), seed=2)
    assert math.isnan(one_class["estimate"]) and "needs both outcomes" in one_class["note"]


def test_bootstrap_auc_ci_is_seeded_and_contains_the_estimate():
    rng = np.random.default_rng(4)
    label = np.array([1] * 7 + [0] * 9)
    score = rng.normal(size=16) + label
    a = roc_auc(score, label, seed=11)
    assert a == roc_auc(score, label, seed=11)
    assert a["ci_low"] <= a["estimate"] <= a["ci_high"]


def test_youden_worked():
    score = np.array([0.1, 0.4, 0.35, 0.8])
    label = np.array([0, 0, 1, 1])
    # t = 0.35: sens 2/2, spec 1/2 (0.1 < 0.35, 0.4 not) -> J 0.5; t = 0.8: sens 1/2, spec 1 -> J 0.5
    assert youden(score, label)["cutoff"] == 0.35


def test_bh_agrees_with_statsmodels_and_keeps_nan():
    rng = np.random.default_rng(7)
    p = rng.uniform(size=25) ** 2
    p[[3, 9]] = np.nan
    q = bh_qvalues(p)
    ok = np.isfinite(p)
    assert np.all(np.isnan(q[~ok]))
    np.testing.assert_allclose(q[ok], multipletests(p[ok], method="fdr_bh")[1])
    # by hand: p = (0.01, 0.04, 0.03) -> sorted 0.01, 0.03, 0.04 -> x m/rank: 0.03, 0.045, 0.04
    # -> running minimum from the top: 0.03, 0.04, 0.04
    np.testing.assert_allclose(bh_qvalues([0.01, 0.04, 0.03]), [0.03, 0.04, 0.04])
