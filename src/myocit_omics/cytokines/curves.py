"""Standard curves: weighted 4PL/5PL fits, back-calculation, recovery, LLOQ/ULOQ.

Model (5PL; 4PL is ``g = 1``)::

    y = A + (B - A) / (1 + (C / x) ** D) ** g        D > 0, g > 0, C > 0

``A`` is the response at zero concentration, ``B`` at infinite concentration (so the
same formula fits increasing (B > A) and decreasing curves and is monotone by
construction), ``C`` the inflection concentration, ``D`` the slope, ``g`` the asymmetry.
It is xPONENT's ``Logistic 5P`` with ``D`` of the opposite sign (see
../shared/domain/cytokine_exports.md 1.1). Back-calculation::

    x = C / (((B - A) / (y - A)) ** (1 / g) - 1) ** (1 / D)

defined only for responses strictly between ``A`` and ``B``; outside, the value is below or
above the curve (no extrapolation).

Weighting: residuals are divided by the observed response (weights ``1/y^2``, the
"most commonly used" choice for immunoassays; equivalent to fitting relative error, so the
low standards, where LLOQ is decided, count as much as the high ones). Responses at or below
zero (background-subtracted MFI) are floored to 1 % of the largest response for the weight.
Fitted with :func:`scipy.optimize.least_squares` (trust-region reflective, bounds), from a
few starting points, in transformed parameters (``log C``, ``log D``, ``log g``).

Model choice (``model="auto"``): 5PL when it has at least 7 standard points and its AICc
is lower than the 4PL's by more than 2, else 4PL.

Quantifiable range: for each standard level the replicates are back-calculated; recovery =
mean back-calculated / expected x 100; %CV of the back-calculated replicates. A level is
*ok* when its recovery is inside ``recovery_range`` (default 70-130 %) and, when the optional
precision rule ``max_cv_pct`` is set (e.g. 20, as bioanalytical guidance asks of calibrators
next to accuracy), its replicate %CV is at most that (a level without replicates is judged by
recovery alone). The rule is off by default: with the 1/y^2 weighting the curve bends through
the lowest standards, so a level whose duplicates are mostly noise can still recover well on
average; the rule keeps such a level out of the quantifiable range. LLOQ and ULOQ are
the lowest and highest expected concentrations of the longest run of consecutive ok levels
(MILLIPLEX/LabKey practice). A fit is *failed* when the optimiser does not converge, fewer
than 4 levels (5 for 5PL) have a usable response, the standards' responses are not
monotone in concentration (Spearman |rho| < 0.9), or no level is ok.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import optimize, stats

Model = Literal["4pl", "5pl", "auto"]


@dataclass
class CurveFit:
    """A fitted standard curve and its quality.

    Attributes
    ----------
    model
        ``4pl`` or ``5pl`` (``none`` when no fit was possible).
    params
        ``A, B, C, D, g`` (see the module docstring); NaN when failed.
    ok
        True when the curve may be used to back-calculate samples.
    reason
        Why the fit is not ok (empty when ok).
    r2
        Coefficient of determination of the responses (unweighted).
    lloq, uloq
        Quantifiable range in assay concentration (before dilution), NaN if none.
    standards
        Per standard level: ``expected``, ``n``, ``mean_signal``, ``backcalc``, ``recovery_pct``,
        ``cv_pct``, ``ok``.
    aicc
        AICc of the chosen model.
    """

    model: str
    params: dict[str, float]
    ok: bool
    reason: str = ""
    r2: float = float("nan")
    lloq: float = float("nan")
    uloq: float = float("nan")
    standards: list[dict[str, float | bool]] = field(default_factory=list)
    aicc: float = float("nan")

    @property
    def n_standards_ok(self) -> int:
        """Number of standard levels with recovery in range."""
        return int(sum(bool(s["ok"]) for s in self.standards))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Response at concentration ``x``."""
        p = self.params
        return logistic5(np.asarray(x, dtype=float), p["A"], p["B"], p["C"], p["D"], p["g"])

    def inverse(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Back-calculate concentrations; also return -1/0/+1 for below/inside/above the curve."""
        p = self.params
        return inverse5(np.asarray(y, dtype=float), p["A"], p["B"], p["C"], p["D"], p["g"])


def logistic5(x: np.ndarray, a: float, b: float, c: float, d: float, g: float) -> np.ndarray:
    """Return the 5PL response ``A + (B - A) / (1 + (C/x)^D)^g`` (x <= 0 gives A)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        t = np.where(x > 0, (c / np.where(x > 0, x, 1.0)) ** d, np.inf)
        return a + (b - a) / (1.0 + t) ** g


def inverse5(
    y: np.ndarray, a: float, b: float, c: float, d: float, g: float
) -> tuple[np.ndarray, np.ndarray]:
    """Invert the 5PL.

    Returns
    -------
    tuple of numpy.ndarray
        (concentration, side): side -1 where the response is at or beyond ``A`` (below the
        curve), +1 at or beyond ``B`` (above), 0 inside; concentration NaN where side != 0
        or the response is NaN.
    """
    y = np.asarray(y, dtype=float)
    frac = (y - a) / (b - a)
    side = np.where(frac <= 0, -1, np.where(frac >= 1, 1, 0))
    side = np.where(np.isnan(y), 0, side)
    inside = (frac > 0) & (frac < 1)
    x = np.full(y.shape, np.nan)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        q = (1.0 / frac[inside]) ** (1.0 / g) - 1.0
        x[inside] = c / q ** (1.0 / d)
    x[~np.isfinite(x)] = np.nan
    return x, side


def _aicc(rss: float, n: int, k: int) -> float:
    if rss <= 0 or n - k - 1 <= 0:
        return float("inf") if n - k - 1 <= 0 else -float("inf")
    return n * math.log(rss / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)


def _jacobian(p: np.ndarray, lx: np.ndarray, w: np.ndarray, five: bool) -> np.ndarray:
    """Jacobian of the weighted residuals of :func:`_fit_one` in its parameters (A, B, log C, log D[, log g]).

    With ``L = log C - log x``, ``t = exp(D L) = (C/x)^D``, ``u = (1 + t)^-g`` and
    ``s = t / (1 + t)``: ``df/dA = 1 - u``, ``df/dB = u``, ``df/dlog C = -(B - A) g u s D``,
    ``df/dlog D = -(B - A) g u s D L``, ``df/dlog g = -(B - A) g u log(1 + t)``; written with
    ``log(1 + t) = logaddexp(0, D L)`` so that no term overflows. Exact, where a finite-difference
    Jacobian costs a residual evaluation per parameter and scipy's bookkeeping around it.
    """
    a, b = p[0], p[1]
    d = math.exp(p[3])
    g = math.exp(p[4]) if five else 1.0
    big_l = p[2] - lx
    dl = d * big_l
    lp = np.logaddexp(0.0, dl)  # log(1 + t)
    u = np.exp(-g * lp)
    s = np.exp(dl - lp)  # t / (1 + t)
    common = -(b - a) * g * u
    cols = [1.0 - u, u, common * s * d, common * s * d * big_l]
    if five:
        cols.append(common * lp)
    return np.stack(cols, axis=1) * w[:, None]


def _fit_one(x: np.ndarray, y: np.ndarray, five: bool) -> tuple[np.ndarray, float, bool]:
    """Fit in scaled units; return (A, B, C, D, g), weighted RSS, converged."""
    scale = float(np.nanmax(np.abs(y))) or 1.0
    ys = y / scale
    w = 1.0 / np.maximum(np.abs(ys), 0.01)
    lx = np.log(x)
    order = np.argsort(x)
    lo, hi = float(np.median(ys[x == x[order[0]]])), float(np.median(ys[x == x[order[-1]]]))
    span = abs(hi - lo) or 1.0
    starts = []
    for c0 in (np.exp(np.median(lx)), np.exp(np.percentile(lx, 75)), np.exp(np.percentile(lx, 25))):
        for d0 in (1.0,):
            starts.append(
                [
                    lo - 0.02 * span * np.sign(hi - lo),
                    hi + 0.1 * span * np.sign(hi - lo),
                    math.log(c0),
                    math.log(d0),
                    0.0,
                ]
            )
    n_par = 5 if five else 4
    lxr = (float(lx.min()) - 12.0, float(lx.max()) + 12.0)
    big = 50.0 * (abs(lo) + abs(hi) + span)
    lower = [-big, -big, lxr[0], math.log(0.05), math.log(0.05)][:n_par]
    upper = [big, big, lxr[1], math.log(20.0), math.log(20.0)][:n_par]

    def resid(p: np.ndarray) -> np.ndarray:
        g = math.exp(p[4]) if five else 1.0
        return (logistic5(x, p[0], p[1], math.exp(p[2]), math.exp(p[3]), g) - ys) * w

    def jac(p: np.ndarray) -> np.ndarray:
        return _jacobian(p, lx, w, five)

    best: tuple[np.ndarray, float, bool] | None = None
    for s in starts:
        p0 = np.clip(np.array(s[:n_par]), np.array(lower) + 1e-9, np.array(upper) - 1e-9)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = optimize.least_squares(
                    resid, p0, jac=jac, bounds=(lower, upper), method="trf", x_scale="jac", max_nfev=2000
                )
        except (ValueError, np.linalg.LinAlgError):
            continue
        rss = float(np.sum(res.fun**2))
        if not np.isfinite(rss):
            continue
        if best is None or rss < best[1]:
            best = (res.x, rss, bool(res.success))
    if best is None:
        return np.full(5, np.nan), float("inf"), False
    p = best[0]
    out = np.array(
        [p[0] * scale, p[1] * scale, math.exp(p[2]), math.exp(p[3]), math.exp(p[4]) if five else 1.0]
    )
    return out, best[1], best[2]


def fit_standard_curve(
    conc: np.ndarray,
    signal: np.ndarray,
    *,
    model: Model = "auto",
    recovery_range: tuple[float, float] = (70.0, 130.0),
    max_cv_pct: float | None = None,
    min_levels: int = 4,
) -> CurveFit:
    """Fit a weighted 4PL/5PL curve to standards and derive the quantifiable range.

    Parameters
    ----------
    conc
        Expected concentrations of the standard wells (one per well; replicates repeat).
    signal
        Responses of those wells (MFI, Net MFI, ECL signal ...). NaN wells are ignored.
    model
        ``4pl``, ``5pl`` or ``auto`` (see the module docstring).
    recovery_range
        Recovery (%) a standard level must reach to count as quantifiable.
    max_cv_pct
        Optional precision rule: largest replicate %CV of a standard level's back-calculated
        concentrations for it to count as quantifiable (``None``: recovery alone, the default).
    min_levels
        Fewest distinct standard levels with a response needed to fit a 4PL (5PL needs one more).

    Returns
    -------
    CurveFit
        The fit; ``ok`` is False (with a reason) when it must not be used.
    """
    conc = np.asarray(conc, dtype=float)
    signal = np.asarray(signal, dtype=float)
    use = np.isfinite(conc) & np.isfinite(signal) & (conc > 0)
    x, y = conc[use], signal[use]
    nan_params = {k: float("nan") for k in "ABCDg"}
    levels = np.unique(x)
    if len(levels) < min_levels:
        return CurveFit(
            "none",
            nan_params,
            False,
            f"only {len(levels)} standard level(s) with a response; at least {min_levels} needed",
        )
    means = np.array([np.mean(y[x == v]) for v in levels])
    rho = stats.spearmanr(levels, means).statistic if np.ptp(means) > 0 else 0.0
    if not np.isfinite(rho) or abs(rho) < 0.9:
        return CurveFit(
            "none",
            nan_params,
            False,
            f"standards are not monotone in concentration (Spearman rho {rho:.2f} between "
            "expected concentration and signal)",
        )
    fits: dict[str, tuple[np.ndarray, float, bool]] = {}
    if model in ("4pl", "auto"):
        fits["4pl"] = _fit_one(x, y, five=False)
    if model in ("5pl", "auto") and len(levels) >= min_levels + 1:
        fits["5pl"] = _fit_one(x, y, five=True)
    if not fits:
        return CurveFit(
            "none",
            nan_params,
            False,
            f"5PL needs at least {min_levels + 1} standard levels, found {len(levels)}",
        )
    n = len(x)
    aic = {m: _aicc(f[1], n, 5 if m == "5pl" else 4) for m, f in fits.items()}
    if model == "auto":
        chosen = "5pl" if ("5pl" in fits and n >= 7 and aic["5pl"] < aic["4pl"] - 2.0) else "4pl"
    else:
        chosen = model
    p, _, converged = fits[chosen]
    params = dict(zip("ABCDg", (float(v) for v in p), strict=True))
    fit = CurveFit(chosen, params, ok=True, aicc=aic[chosen])
    if not converged or not np.all(np.isfinite(p)):
        fit.ok, fit.reason = False, "the optimiser did not converge"
        return fit
    if (params["B"] - params["A"]) * rho <= 0:
        fit.ok, fit.reason = False, "the fitted curve runs against the standards (wrong direction)"
        return fit
    pred = fit.predict(x)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    fit.r2 = 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    fit.standards = standard_recovery(fit, x, y, recovery_range=recovery_range, max_cv_pct=max_cv_pct)
    lloq, uloq = quantifiable_range(fit.standards)
    fit.lloq, fit.uloq = lloq, uloq
    if not np.isfinite(lloq):
        precision = f" with replicate %CV <= {max_cv_pct:g}" if max_cv_pct is not None else ""
        fit.ok, fit.reason = (
            False,
            (
                f"no standard level back-calculates within {recovery_range[0]:g}-"
                f"{recovery_range[1]:g} % recovery{precision}"
            ),
        )
    return fit


def standard_recovery(
    fit: CurveFit,
    x: np.ndarray,
    y: np.ndarray,
    *,
    recovery_range: tuple[float, float],
    max_cv_pct: float | None = None,
) -> list[dict[str, float | bool]]:
    """Back-calculate each standard level; recovery and %CV of the replicates.

    A level is ``ok`` when its recovery is inside ``recovery_range`` and, if ``max_cv_pct`` is
    given, its replicate %CV (when it has replicates) is at most ``max_cv_pct``.
    """
    out: list[dict[str, float | bool]] = []
    back, _ = fit.inverse(y)
    for v in np.unique(x):
        sel = x == v
        b = back[sel]
        bf = b[np.isfinite(b)]
        mean_b = float(np.mean(bf)) if len(bf) == sel.sum() and len(bf) else float("nan")
        rec = 100.0 * mean_b / v if np.isfinite(mean_b) else float("nan")
        cv = (
            float(100.0 * np.std(bf, ddof=1) / np.mean(bf))
            if len(bf) >= 2 and np.mean(bf) > 0
            else float("nan")
        )
        out.append(
            {
                "expected": float(v),
                "n": int(sel.sum()),
                "mean_signal": float(np.mean(y[sel])),
                "backcalc": mean_b,
                "recovery_pct": rec,
                "cv_pct": cv,
                "ok": bool(
                    np.isfinite(rec)
                    and recovery_range[0] <= rec <= recovery_range[1]
                    and (max_cv_pct is None or not np.isfinite(cv) or cv <= max_cv_pct)
                ),
            }
        )
    return out


def quantifiable_range(levels: list[dict[str, float | bool]]) -> tuple[float, float]:
    """LLOQ and ULOQ: the ends of the longest run of consecutive ok standard levels."""
    best: tuple[int, int] | None = None
    start = None
    for i, lv in enumerate([*levels, {"ok": False}]):
        if lv["ok"] and start is None:
            start = i
        elif not lv["ok"] and start is not None:
            if best is None or (i - start) > (best[1] - best[0] + 1):
                best = (start, i - 1)
            start = None
    if best is None:
        return float("nan"), float("nan")
    return float(levels[best[0]]["expected"]), float(levels[best[1]]["expected"])


def back_calculate(fit: CurveFit, signal: np.ndarray, dilution: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concentrations in the sample (assay concentration x dilution factor) and curve side.

    Parameters
    ----------
    fit
        A fitted curve (``fit.ok`` should be checked by the caller).
    signal
        Responses of the wells.
    dilution
        Dilution factor per well (NaN means 1).

    Returns
    -------
    tuple of numpy.ndarray
        (concentration, side) as :meth:`CurveFit.inverse`, concentration multiplied by the dilution.
    """
    x, side = fit.inverse(signal)
    d = np.where(np.isfinite(dilution) & (np.asarray(dilution) > 0), dilution, 1.0)
    return x * d, side
