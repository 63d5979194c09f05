"""Statistics for a 16-patient trial: paired change, Spearman, ROC AUC, Benjamini-Hochberg.

Every function takes plain arrays, keeps only complete pairs (and says how many), and returns
a dict with ``n``, ``estimate``, ``ci_low``, ``ci_high``, ``p_value``, ``method`` and
``note`` (why something is NA). Resampling is seeded by the caller (``config.seed``).

- Paired change: median of (after - before) with its IQR; exact distribution-free 95 % CI of
  the median from order statistics (binomial); Wilcoxon signed-rank p (exact when there are no
  ties or zeros, else the normal approximation, as scipy chooses).
- Spearman: rho; permutation p (two-sided); bootstrap percentile CI over patient pairs.
- ROC AUC: Mann-Whitney AUC (ties count one half), CI by stratified bootstrap (default) or
  DeLong; p from the two-sided Mann-Whitney U test; the Youden cut-off.
- BH q values across a family (NaN p values stay NaN and do not count).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, Literal

import numpy as np
from scipy import stats


def _pairs(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _empty(n: int, method: str, note: str) -> dict[str, Any]:
    return {"n": n, "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan,
            "method": method, "note": note}


def median_ci(values: Any, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact distribution-free CI of a median from order statistics.

    Parameters
    ----------
    values
        The sample (NaN removed by the caller).
    confidence
        Coverage (at least this much).

    Returns
    -------
    tuple[float, float]
        ``(x_(k), x_(n-k+1))`` with the largest k whose coverage
        ``1 - 2 * P(Binom(n, 1/2) <= k - 1)`` is at least ``confidence``; NaNs when even
        the sample range does not reach that coverage (n < 6 for 95 %).
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return math.nan, math.nan
    alpha = 1 - confidence
    k = 0
    for cand in range(1, n // 2 + 1):
        if 2 * stats.binom.cdf(cand - 1, n, 0.5) <= alpha + 1e-12:
            k = cand
    if k == 0:
        return math.nan, math.nan
    return float(x[k - 1]), float(x[n - k])


def paired_change(before: Any, after: Any, *, confidence: float = 0.95) -> dict[str, Any]:
    """Median change with IQR, exact CI and Wilcoxon signed-rank p.

    Parameters
    ----------
    before, after
        Values of the same patients at two visits (NaN where missing; such pairs are left out
        and ``n`` says how many pairs were used).
    confidence
        CI coverage.

    Returns
    -------
    dict
        ``n``, ``estimate`` (median of after - before), ``ci_low``/``ci_high``, ``iqr_low``/
        ``iqr_high`` (25th/75th percentile of the change), ``p_value``, ``method``, ``note``.
    """
    n_in = len(np.asarray(before))
    b, a = _pairs(before, after)
    method = "Wilcoxon signed-rank; median change, exact order-statistic CI"
    d = a - b
    n = len(d)
    if n == 0:
        out = _empty(0, method, "no patient with both visits")
        out.update(iqr_low=math.nan, iqr_high=math.nan)
        return out
    lo, hi = median_ci(d, confidence=confidence)
    out = {"n": n, "estimate": float(np.median(d)), "ci_low": lo, "ci_high": hi,
           "iqr_low": float(np.percentile(d, 25)), "iqr_high": float(np.percentile(d, 75)),
           "p_value": math.nan, "method": method, "note": ""}
    notes = [f"{n_in - n} of {n_in} without both values"] if n_in > n else []
    if math.isnan(lo):
        notes.append(f"CI needs >= 6 pairs for {confidence:.0%}")
    if np.all(d == 0):
        notes.append("no change in any pair: no test")
    elif n >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy notes when it falls back from the exact test
            res = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
        out["p_value"] = float(res.pvalue)
    else:
        notes.append("one pair: no test")
    out["note"] = "; ".join(notes)
    return out


def _rank_rows(a: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties share their mean rank) along the last axis; no NaN expected.

    The same numbers as ``scipy.stats.rankdata(a, axis=-1)`` (ranks are exact half-integers),
    for all rows at once without scipy's per-call overhead.
    """
    a = np.asarray(a, dtype=float)
    shape = a.shape
    n = shape[-1]
    if n == 0 or a.size == 0:
        return np.zeros(shape)
    flat = a.reshape(-1, n)
    order = np.argsort(flat, axis=1, kind="stable")
    srt = np.take_along_axis(flat, order, axis=1)
    pos = np.broadcast_to(np.arange(n), flat.shape)
    first = np.ones(flat.shape, dtype=bool)
    first[:, 1:] = srt[:, 1:] != srt[:, :-1]
    last = np.ones(flat.shape, dtype=bool)
    last[:, :-1] = first[:, 1:]
    start = np.maximum.accumulate(np.where(first, pos, 0), axis=1)
    end = np.minimum.accumulate(np.where(last, pos, n - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(flat.shape)
    np.put_along_axis(ranks, order, (start + end) / 2.0 + 1.0, axis=1)
    return ranks.reshape(shape)


@functools.lru_cache(maxsize=16)
def _draws(seed: int, n: int, n_perm: int, n_boot: int) -> tuple[np.ndarray, np.ndarray]:
    """Permutations (n_perm x n) and bootstrap indices (n_boot x n) of a seeded generator.

    Every test of one family draws the same numbers (same seed, same n), so they are drawn
    once; the arrays are read-only.
    """
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((n_perm, n)), axis=1)
    idx = rng.integers(0, n, size=(n_boot, n))
    perms.flags.writeable = False
    idx.flags.writeable = False
    return perms, idx


def _pearson_rows(rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    num = (rx * ry).sum(axis=-1)
    den = np.sqrt((rx**2).sum(axis=-1) * (ry**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def spearman(x: Any, y: Any, *, seed: int, n_boot: int = 2000, n_perm: int = 9999,
             confidence: float = 0.95) -> dict[str, Any]:
    """Spearman rho with a permutation p and a bootstrap percentile CI.

    Parameters
    ----------
    x, y
        Paired values (incomplete pairs are left out).
    seed
        Seed of the permutations and resamples.
    n_boot, n_perm
        Numbers of bootstrap resamples and permutations.
    confidence
        CI coverage.

    Returns
    -------
    dict
        ``n``, ``estimate`` (rho), ``ci_low``, ``ci_high``, ``p_value``, ``method``, ``note``.
    """
    n_in = len(np.asarray(x))
    x, y = _pairs(x, y)
    n = len(x)
    gap = f"{n_in - n} of {n_in} without both values" if n_in > n else ""
    method = f"Spearman; permutation p ({n_perm}); bootstrap percentile CI ({n_boot})"
    if n < 3:
        return _empty(n, method, "fewer than 3 complete pairs")
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rho = float(_pearson_rows(rx[None, :], ry[None, :])[0])
    if math.isnan(rho):
        return _empty(n, method, "one variable is constant")
    perms, idx = _draws(seed, n, n_perm, n_boot)
    null = _pearson_rows(np.broadcast_to(rx, (n_perm, n)), ry[perms])
    p = (1 + np.sum(np.abs(null) >= abs(rho) - 1e-12)) / (n_perm + 1)
    boot = _pearson_rows(_rank_rows(x[idx]), _rank_rows(y[idx]))
    boot = boot[np.isfinite(boot)]
    alpha = 1 - confidence
    lo, hi = (np.quantile(boot, [alpha / 2, 1 - alpha / 2]) if len(boot) else (math.nan, math.nan))
    note = "" if len(boot) == n_boot else f"{n_boot - len(boot)} constant resamples left out of the CI"
    note = "; ".join(x for x in (gap, note) if x)
    return {"n": n, "estimate": rho, "ci_low": float(lo), "ci_high": float(hi), "p_value": float(p),
            "method": method, "note": note}


def auc_mann_whitney(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUC = P(score of a positive > score of a negative) + 1/2 P(tie)."""
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def delong_se(pos: np.ndarray, neg: np.ndarray) -> float:
    """DeLong standard error of the Mann-Whitney AUC.

    Parameters
    ----------
    pos, neg
        Scores of the positive and negative cases.

    Returns
    -------
    float
        ``sqrt(var(V10)/m + var(V01)/n)`` with the structural components V10 (per positive)
        and V01 (per negative); NaN with fewer than 2 cases in a class.
    """
    m, k = len(pos), len(neg)
    if m < 2 or k < 2:
        return math.nan
    diff = pos[:, None] - neg[None, :]
    psi = (diff > 0) + 0.5 * (diff == 0)
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    return float(math.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / k))


def youden(score: np.ndarray, label: np.ndarray, *, higher_is_positive: bool = True) -> dict[str, float]:
    """Cut-off maximising sensitivity + specificity - 1.

    Parameters
    ----------
    score
        Scores.
    label
        1 for positive, 0 for negative.
    higher_is_positive
        Whether a case is called positive when ``score >= cutoff`` (else ``score <= cutoff``).

    Returns
    -------
    dict
        ``cutoff`` (an observed score; ties broken towards the lowest cut-off), ``sensitivity``,
        ``specificity``, ``youden_j``.
    """
    pos, neg = score[label == 1], score[label == 0]
    best = {"cutoff": math.nan, "sensitivity": math.nan, "specificity": math.nan, "youden_j": -math.inf}
    for t in np.unique(score):
        if higher_is_positive:
            sens, spec = float(np.mean(pos >= t)), float(np.mean(neg < t))
        else:
            sens, spec = float(np.mean(pos <= t)), float(np.mean(neg > t))
        j = sens + spec - 1
        if j > best["youden_j"] + 1e-12:
            best = {"cutoff": float(t), "sensitivity": sens, "specificity": spec, "youden_j": j}
    return best


def roc_auc(score: Any, label: Any, *, seed: int, ci: Literal["bootstrap", "delong"] = "bootstrap",
            n_boot: int = 2000, confidence: float = 0.95) -> dict[str, Any]:
    """ROC AUC with a CI, Mann-Whitney p and the Youden cut-off.

    Parameters
    ----------
    score
        Baseline values.
    label
        Outcome: 1/True positive, 0/False negative, NaN/None unknown (left out).
    seed
        Seed of the stratified bootstrap.
    ci
        ``bootstrap`` (stratified percentile) or ``delong`` (normal, clipped to [0, 1]).
    n_boot
        Bootstrap resamples.
    confidence
        CI coverage.

    Returns
    -------
    dict
        ``n``, ``n_positive``, ``estimate`` (AUC, higher score = positive), ``ci_low``,
        ``ci_high``, ``p_value``, ``cutoff``, ``sensitivity``, ``specificity``, ``direction``
        (``>=`` or ``<=``: how the cut-off calls a positive), ``method``, ``note``.
    """
    s = np.asarray(score, dtype=float)
    lab = np.array([math.nan if v is None else float(v) for v in np.asarray(label, dtype=object)])
    keep = np.isfinite(s) & np.isfinite(lab)
    s, lab = s[keep], lab[keep].astype(int)
    pos, neg = s[lab == 1], s[lab == 0]
    method = f"ROC AUC (Mann-Whitney); {ci} CI" + (f" ({n_boot})" if ci == "bootstrap" else "") + \
        "; Mann-Whitney U p; Youden cut-off"
    out = _empty(len(s), method, "")
    out.update(n_positive=len(pos), cutoff=math.nan, sensitivity=math.nan, specificity=math.nan,
               direction="NA")
    if len(pos) == 0 or len(neg) == 0:
        out["note"] = f"needs both outcomes: {len(pos)} positive, {len(neg)} negative"
        return out
    auc = auc_mann_whitney(pos, neg)
    out["estimate"] = auc
    alpha = 1 - confidence
    if ci == "delong":
        se = delong_se(pos, neg)
        z = stats.norm.ppf(1 - alpha / 2)
        out["ci_low"], out["ci_high"] = max(0.0, auc - z * se), min(1.0, auc + z * se)
    else:
        rng = np.random.default_rng(seed)
        bp = pos[rng.integers(0, len(pos), size=(n_boot, len(pos)))]
        bn = neg[rng.integers(0, len(neg), size=(n_boot, len(neg)))]
        diff = bp[:, :, None] - bn[:, None, :]
        boot = ((diff > 0) + 0.5 * (diff == 0)).mean(axis=(1, 2))
        out["ci_low"], out["ci_high"] = (float(v) for v in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["p_value"] = float(stats.mannwhitneyu(pos, neg, alternative="two-sided").pvalue)
    higher = auc >= 0.5
    yj = youden(s, lab, higher_is_positive=higher)
    out.update(cutoff=yj["cutoff"], sensitivity=yj["sensitivity"], specificity=yj["specificity"],
               direction=">=" if higher else "<=")
    if min(len(pos), len(neg)) < 3:
        out["note"] = f"only {len(pos)} positive and {len(neg)} negative: AUC very uncertain"
    return out


def bh_qvalues(p: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted p values (q); NaN stays NaN and is not counted.

    Parameters
    ----------
    p
        p values of one family.

    Returns
    -------
    np.ndarray
        q values, same order, ``min(1, min_{j >= i} p_(j) * m / j)``.
    """
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return q
    order = np.argsort(p[ok])
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    vals = np.empty(m)
    vals[order] = np.minimum(ranked, 1.0)
    q[ok] = vals
    return q


def _rank_design(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[1, ranks of z]`` (resamples x n x (k+1)) and its pseudo-inverse, for :func:`_rank_residuals`."""
    rz = np.stack([_rank_rows(z[..., j]) for j in range(z.shape[-1])], axis=-1)
    design = np.concatenate([np.ones((*rz.shape[:2], 1)), rz], axis=2)
    return design, np.linalg.pinv(design)


@functools.lru_cache(maxsize=8)
def _boot_design(z_bytes: bytes, shape: tuple[int, int], draws: tuple[int, int, int, int]) -> tuple[
        np.ndarray, np.ndarray]:
    """:func:`_rank_design` of the bootstrap resamples of covariates ``z`` (cached: shared by a family)."""
    z = np.frombuffer(z_bytes, dtype=float).reshape(shape)
    design, pinv = _rank_design(z[_draws(*draws)[1]])
    design.flags.writeable = False
    pinv.flags.writeable = False
    return design, pinv


def _rank_residuals(r: np.ndarray, design: np.ndarray, pinv: np.ndarray) -> np.ndarray:
    """Residuals of ranks ``r`` (resamples x n) on ``design`` (resamples x n x (k+1)), least squares."""
    beta = pinv @ r[..., None]
    return r - (design @ beta)[..., 0]


def partial_spearman(x: Any, y: Any, covariates: Any, *, seed: int, n_boot: int = 2000, n_perm: int = 9999,
                     confidence: float = 0.95) -> dict[str, Any]:
    """Partial Spearman correlation of x and y given covariates, with bootstrap CI and permutation p.

    The ranks of x and of y are each regressed (least squares, with an intercept) on the ranks of
    the covariates; the estimate is the Pearson correlation of the two residuals. The CI
    resamples the complete cases (ranks recomputed in each resample); the permutation p permutes
    the residuals of y.

    Parameters
    ----------
    x, y
        Paired values.
    covariates
        n x k values (a case with any missing value is left out).
    seed, n_boot, n_perm, confidence
        As in :func:`spearman`.

    Returns
    -------
    dict
        ``n``, ``estimate``, ``ci_low``, ``ci_high``, ``p_value``, ``method``, ``note``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    z = np.asarray(covariates, dtype=float).reshape(len(x), -1)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(z).all(axis=1)
    n_in, k = len(x), z.shape[1]
    x, y, z = x[ok], y[ok], z[ok]
    n = len(x)
    method = (f"partial Spearman given {k} covariate(s); permutation p ({n_perm}); "
              f"bootstrap percentile CI ({n_boot})")
    gap = f"{n_in - n} of {n_in} without all values" if n_in > n else ""
    if n < k + 4:
        return _empty(n, method, f"fewer than {k + 4} complete cases")

    design, pinv = _rank_design(z[None, :, :])
    ex = _rank_residuals(_rank_rows(x[None, :]), design, pinv)
    ey = _rank_residuals(_rank_rows(y[None, :]), design, pinv)
    rho = float(_pearson_rows(ex, ey)[0])
    if math.isnan(rho):
        return _empty(n, method, "a residual is constant")
    draws = (seed, n, n_perm, n_boot)
    perms, idx = _draws(*draws)
    null = _pearson_rows(np.broadcast_to(ex[0], (n_perm, n)), ey[0][perms])
    p = (1 + np.sum(np.abs(null) >= abs(rho) - 1e-12)) / (n_perm + 1)
    zc = np.ascontiguousarray(z)
    with np.errstate(invalid="ignore", divide="ignore"):
        design, pinv = _boot_design(zc.tobytes(), zc.shape, draws)
        boot = _pearson_rows(_rank_residuals(_rank_rows(x[idx]), design, pinv),
                             _rank_residuals(_rank_rows(y[idx]), design, pinv))
    boot = boot[np.isfinite(boot)]
    alpha = 1 - confidence
    lo, hi = (np.quantile(boot, [alpha / 2, 1 - alpha / 2]) if len(boot) else (math.nan, math.nan))
    note = "" if len(boot) == n_boot else f"{n_boot - len(boot)} degenerate resamples left out of the CI"
    return {"n": n, "estimate": rho, "ci_low": float(lo), "ci_high": float(hi), "p_value": float(p),
            "method": method, "note": "; ".join(s for s in (gap, note) if s)}
