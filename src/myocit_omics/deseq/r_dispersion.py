"""DESeq2's own (R, Bioconductor 1.38) dispersion rules where pydeseq2 0.5.4 departs from them.

Vectorised over genes, on the same objective as :mod:`myocit_omics.deseq.dispersion` (the
Cox-Reid adjusted NB log-likelihood plus the log-normal prior). What each function reproduces,
read from the R sources (``DESeq2:::estimateDispersionsGeneEst`` and friends, C++ ``fitDisp``):

* :func:`fit_disp` - R's ``fitDisp``: gradient ascent on log(alpha) with an Armijo backtracking
  step (``kappa_0 = 1``, halved on failure, grown by 1.1 and halved every 5 accepted steps),
  stopping when the log posterior rises by less than ``tol = 1e-6`` or log(alpha) falls below
  ``log(minDisp / 10)``. Where pydeseq2 runs L-BFGS-B with a relative tolerance, R stops at the
  first tiny step on a flat likelihood.
* :func:`fit_disp_grid` - R's ``fitDispGrid``: a 20-point grid on log(alpha) from log(1e-8) to
  log(max(10, n)), refined once on 20 points around the best.
* :func:`gene_estimates` - ``estimateDispersionsGeneEst``: start at the moments estimate, keep
  the start where the log posterior did not rise by ``|lp| / 1e6`` ("noIncrease"), grid search
  genes that stopped at the first step or did not converge (when above ``10 * minDisp``).
* :func:`map_estimates` - ``estimateDispersionsMAP``: start at the gene estimate where it is above
  a tenth of the trend (else at the trend), grid search for genes that did not converge.
* :func:`parametric_trend` - ``estimateDispersionsFit`` / ``parametricDispersionFit``: only genes
  with gene-wise dispersion above ``100 * minDisp``; the outlying genes (ratio to the curve
  outside (1e-4, 15)) are re-selected from all of them at every iteration, from start values
  (0.1, 1); at most 10 iterations.
* :func:`prior_variance` - ``estimateDispersionsPriorVar``: with 3 or fewer residual degrees of
  freedom, R matches the histogram of log dispersion residuals to the expected sampling
  distribution ``log(chi2_df / df) + N(0, v)`` and takes the ``v`` of least Kullback-Leibler
  divergence (at least 0.25). R simulates that distribution (``set.seed(2)``, 10,000 draws for
  each of 200 values of ``v``) and smooths the divergences with ``loess(span = 0.2)``. The
  default (``method="r"``) uses R's very draws (reproduced by :mod:`myocit_omics.deseq.r_random`
  and stored as histograms in ``resources/deseq2_prior_var_hist.tsv``) and R's loess
  (:func:`loess_predict`: local quadratic fits at the k-d tree vertices, cubic Hermite
  interpolation between them), so R's number comes out. ``method="integrated"`` integrates the
  bin probabilities instead (no simulation noise; within 0.1 of R's value, not R's number).
"""

from __future__ import annotations

import functools
import io
from importlib import resources

import numpy as np
from scipy.special import gammaln, polygamma
from scipy.stats import chi2, norm

from myocit_omics.deseq.cox_reid import CoxReid
from myocit_omics.deseq.dispersion import (
    BLOCK_ELEMENTS,
    _nb_terms,
    gene_blocks,
    run_blocks,
)
from myocit_omics.deseq.r_random import PRIOR_VAR_BREAKS, PRIOR_VAR_GRID

#: R's simulated histograms of the prior variance search (see :mod:`myocit_omics.deseq.r_random`).
PRIOR_VAR_TABLE = "deseq2_prior_var_hist.tsv"

#: DESeq2's default floor on dispersions.
MIN_DISP = 1e-8


def _value_grad(
    y: np.ndarray,
    mu: np.ndarray,
    a: np.ndarray,
    *,
    cr: CoxReid,
    prior_mean: np.ndarray | None,
    prior_var: float | None,
    grad: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the objective of :func:`myocit_omics.deseq.dispersion._objective` and its slope in log(alpha).

    Genes x samples ``y`` and ``mu``; the NB terms are shared by value and slope, and the Cox-Reid
    term and its slope come from one factorisation (:class:`myocit_omics.deseq.cox_reid.CoxReid`).
    No second derivative: R's line search does not use it.
    """
    alpha = np.exp(a)
    r = np.exp(-a)[:, None]
    t, g, _ = _nb_terms(y, mu, r, order=1 if grad else 0)
    f = t.sum(axis=1)
    w = mu / (1.0 + mu * alpha[:, None])
    half_logdet, half_trace = cr.terms(w, -(w * w) if grad else None)
    f = f + half_logdet
    slope = None
    if grad:
        slope = -r[:, 0] * g.sum(axis=1) + alpha * half_trace
    if prior_mean is not None and prior_var is not None:
        f = f + (a - prior_mean) ** 2 / (2.0 * prior_var)
        if grad:
            slope = slope + (a - prior_mean) / prior_var
    return f, slope


def _r_log_posterior(
    y: np.ndarray,
    mu: np.ndarray,
    a: np.ndarray,
    *,
    cr: CoxReid,
    prior_mean: np.ndarray | None,
    prior_var: float | None,
) -> np.ndarray:
    """R's C++ ``log_posterior`` per gene (genes x samples ``y``, ``mu``), term for term as R writes it.

    ``sum(lgamma(y + 1/alpha) - lgamma(1/alpha) - y log(mu + 1/alpha) - 1/alpha log(1 + mu alpha))``
    minus half the log determinant, plus the prior. Near ``alpha = 1e-8`` the lgamma difference
    loses about 1e-7 to cancellation (lgamma(1e8) is 1.7e9); where the likelihood is flatter than
    that (a gene whose counts fit a Poisson), R's grid search picks its point by that rounding,
    typically the floor. :func:`_value_grad` computes the same function without the cancellation;
    the grid search uses this one so that it picks R's point.
    """
    alpha = np.exp(a)[:, None]
    r = 1.0 / alpha
    ll = (gammaln(y + r) - gammaln(r) - y * np.log(mu + r) - r * np.log(1.0 + mu * alpha)).sum(axis=1)
    w = 1.0 / (1.0 / mu + alpha)
    half_logdet, _ = cr.terms(w)
    out = ll - half_logdet
    if prior_mean is not None and prior_var is not None:
        out = out - 0.5 * (a - prior_mean) ** 2 / prior_var
    return out


def fit_disp(
    counts: np.ndarray,
    mu: np.ndarray,
    log_alpha: np.ndarray,
    *,
    design: np.ndarray,
    prior_mean: np.ndarray | None = None,
    prior_var: float | None = None,
    min_log_alpha: float = np.log(MIN_DISP / 10),
    kappa_0: float = 1.0,
    tol: float = 1e-6,
    maxit: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """R's ``fitDisp`` for a block of genes (counts and mu samples x genes).

    Returns
    -------
    log_alpha, iterations, initial_lp, last_lp : numpy.ndarray
        Per gene, as the C++ routine returns them.
    """
    y = np.ascontiguousarray(np.asarray(counts, dtype=float).T)
    m = np.ascontiguousarray(np.asarray(mu, dtype=float).T)
    cr = CoxReid(design)
    a = np.asarray(log_alpha, dtype=float).copy()
    n_genes = a.shape[0]
    pm_all = None if prior_mean is None else np.asarray(prior_mean, dtype=float)

    def lp_dlp(idx: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # value and slope together: a candidate is accepted nearly always, and then R needs its slope
        pm = None if pm_all is None else pm_all[idx]
        f, grad = _value_grad(y[idx], m[idx], at, cr=cr, prior_mean=pm, prior_var=prior_var)
        return -f, -grad

    everyone = np.arange(n_genes)
    lp, dlp = lp_dlp(everyone, a)
    initial_lp = lp.copy()
    kappa = np.full(n_genes, kappa_0)
    iters = np.zeros(n_genes, dtype=int)
    accepts = np.zeros(n_genes, dtype=int)
    active = everyone.copy()
    eps = 1e-4
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(maxit):
            if active.size == 0:
                break
            iters[active] += 1
            aa, dd, kk = a[active], dlp[active], kappa[active]
            prop = aa + kk * dd
            kk = np.where(prop < -30.0, (-30.0 - aa) / dd, kk)
            kk = np.where(aa + kk * dd > 10.0, (10.0 - aa) / dd, kk)
            cand = aa + kk * dd
            lp_new, dlp_new = lp_dlp(active, cand)
            ok = -lp_new <= -lp[active] - kk * eps * dd**2
            kappa[active] = np.where(ok, kk, kk / 2.0)
            acc = active[ok]
            stop = np.zeros(active.shape, dtype=bool)
            if acc.size:
                a[acc] = cand[ok]
                change = lp_new[ok] - lp[acc]
                lp[acc] = lp_new[ok]
                done = (change < tol) | (a[acc] < min_log_alpha)
                stop[np.flatnonzero(ok)[done]] = True
                go = acc[~done]
                if go.size:
                    accepts[go] += 1
                    dlp[go] = dlp_new[ok][~done]
                    kappa[go] = np.minimum(kappa[go] * 1.1, kappa_0)
                    halve = accepts[go] % 5 == 0
                    kappa[go[halve]] /= 2.0
            active = active[~stop]
    return a, iters, initial_lp, lp


def fit_disp_grid(
    counts: np.ndarray,
    mu: np.ndarray,
    *,
    design: np.ndarray,
    prior_mean: np.ndarray | None = None,
    prior_var: float | None = None,
) -> np.ndarray:
    """R's ``fitDispGridWrapper`` for a block of genes: the dispersion (not its log) per gene.

    The grid points are scored with R's own arithmetic (:func:`_r_log_posterior`): on a flat
    likelihood the winning point is decided by its rounding, not by the likelihood.
    """
    y = np.ascontiguousarray(np.asarray(counts, dtype=float).T)
    m = np.ascontiguousarray(np.asarray(mu, dtype=float).T)
    n_genes, n = y.shape
    cr = CoxReid(design)
    grid = np.linspace(np.log(1e-8), np.log(max(10.0, float(n))), 20)
    delta = grid[1] - grid[0]
    pm = None if prior_mean is None else np.asarray(prior_mean, dtype=float)

    def best(points: np.ndarray) -> np.ndarray:
        # points: genes x 20; the first maximum of the log posterior, as Armadillo's index_max
        vals = np.empty(points.shape)
        for t in range(points.shape[1]):
            vals[:, t] = _r_log_posterior(y, m, points[:, t], cr=cr, prior_mean=pm, prior_var=prior_var)
        vals = np.where(np.isnan(vals), -np.inf, vals)
        return points[np.arange(n_genes), np.argmax(vals, axis=1)]

    a_hat = best(np.broadcast_to(grid, (n_genes, grid.size)))
    fine = a_hat[:, None] + np.linspace(-delta, delta, 20)[None, :]
    return np.exp(best(fine))


def _blocked(fn, counts: np.ndarray, n_coefs: int, n_threads: int, outputs: list[np.ndarray], *arrays):
    """Run ``fn(counts_block, *array_blocks) -> tuple`` over gene blocks into ``outputs``."""
    n, g = counts.shape

    def one(sl: slice) -> None:
        res = fn(counts[:, sl], *[arr[:, sl] if arr.ndim == 2 else arr[sl] for arr in arrays])
        for out, r in zip(outputs, res, strict=True):
            out[sl] = r

    run_blocks(
        one,
        gene_blocks(g, n, n_coefs=n_coefs, block_elements=BLOCK_ELEMENTS // n_threads),
        n_threads=n_threads,
    )


def gene_estimates(
    counts: np.ndarray,
    mu: np.ndarray,
    alpha_init: np.ndarray,
    *,
    design: np.ndarray,
    min_disp: float = MIN_DISP,
    max_disp: float = 10.0,
    maxit: int = 100,
    n_threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Gene-wise dispersions as R's ``estimateDispersionsGeneEst`` (``niter = 1``).

    Parameters
    ----------
    counts, mu
        Counts and fitted means (floored at ``minmu``), samples x genes, non-zero genes only.
    alpha_init
        Start values: the smaller of the rough and moments estimates, within the bounds.
    design
        Design matrix, samples x p.
    min_disp, max_disp
        R's ``minDisp`` and ``maxDisp = max(10, n)``.

    Returns
    -------
    alpha : numpy.ndarray
        Dispersion per gene, within ``[min_disp, max_disp]``.
    converged : numpy.ndarray
        R's ``dispGeneEstConv`` (neither at the first step nor at ``maxit``).
    """
    x = np.asarray(design, dtype=float)
    g = counts.shape[1]
    alpha = np.empty(g)
    conv = np.empty(g, dtype=bool)
    alpha_init = np.asarray(alpha_init, dtype=float)

    def one(c: np.ndarray, m: np.ndarray, init: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_a, iters, initial_lp, last_lp = fit_disp(
            c, m, np.log(init), design=x, min_log_alpha=np.log(min_disp / 10), maxit=maxit
        )
        est = np.minimum(np.exp(log_a), max_disp)
        no_increase = last_lp < initial_lp + np.abs(initial_lp) / 1e6
        est = np.where(no_increase, init, est)
        ok = (iters < maxit) & (iters != 1)
        refit = ~ok & (est > min_disp * 10)
        if refit.any():
            est[refit] = fit_disp_grid(c[:, refit], m[:, refit], design=x)
        return np.clip(est, min_disp, max_disp), ok

    _blocked(
        one, np.asarray(counts), x.shape[1], n_threads, [alpha, conv], np.asarray(mu, dtype=float), alpha_init
    )
    return alpha, conv


def map_estimates(
    counts: np.ndarray,
    mu: np.ndarray,
    disp_gene: np.ndarray,
    disp_fit: np.ndarray,
    prior_var: float,
    *,
    design: np.ndarray,
    min_disp: float = MIN_DISP,
    max_disp: float = 10.0,
    maxit: int = 100,
    n_threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """MAP dispersions as R's ``estimateDispersionsMAP`` (before the dispersion-outlier rule).

    Returns
    -------
    alpha : numpy.ndarray
        MAP dispersion per gene within ``[min_disp, max_disp]``.
    converged : numpy.ndarray
        ``iterations < maxit`` (the others are grid searched, as in R).
    """
    x = np.asarray(design, dtype=float)
    g = counts.shape[1]
    alpha = np.empty(g)
    conv = np.empty(g, dtype=bool)
    disp_gene = np.asarray(disp_gene, dtype=float)
    disp_fit = np.asarray(disp_fit, dtype=float)
    init = np.where(disp_gene > 0.1 * disp_fit, disp_gene, disp_fit)
    init = np.where(np.isnan(init), disp_fit, init)

    def one(
        c: np.ndarray, m: np.ndarray, start: np.ndarray, fit: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        prior_mean = np.log(fit)
        log_a, iters, _lp0, _lp = fit_disp(
            c,
            m,
            np.log(start),
            design=x,
            prior_mean=prior_mean,
            prior_var=prior_var,
            min_log_alpha=np.log(min_disp / 10),
            maxit=maxit,
        )
        est = np.exp(log_a)
        ok = iters < maxit
        if (~ok).any():
            est[~ok] = fit_disp_grid(
                c[:, ~ok], m[:, ~ok], design=x, prior_mean=prior_mean[~ok], prior_var=prior_var
            )
        return np.clip(est, min_disp, max_disp), ok

    _blocked(
        one,
        np.asarray(counts),
        x.shape[1],
        n_threads,
        [alpha, conv],
        np.asarray(mu, dtype=float),
        init,
        disp_fit,
    )
    return alpha, conv


def _gamma_identity_glm(
    cov: np.ndarray, y: np.ndarray, start: np.ndarray, maxit: int = 25
) -> tuple[np.ndarray, bool]:
    """R's ``glm(y ~ cov, family = Gamma("identity"), start = start)``: IRLS, deviance tolerance 1e-8."""
    x = np.column_stack([np.ones_like(cov), cov])
    coef = np.asarray(start, dtype=float)
    mu = x @ coef
    if np.any(mu <= 0):
        return coef, False
    dev_old = 2 * np.sum(-np.log(y / mu) + (y - mu) / mu)
    for _ in range(maxit):
        w = 1.0 / mu**2  # identity link: working response is y, weights 1 / V(mu) = 1 / mu^2
        new = np.linalg.solve((x.T * w) @ x, (x.T * w) @ y)
        mu_new = x @ new
        # R's glm.fit halves the step when the mean leaves the valid region (identity link, mu > 0)
        halvings = 0
        while np.any(mu_new <= 0) and halvings < 50:
            new = (new + coef) / 2
            mu_new = x @ new
            halvings += 1
        if np.any(mu_new <= 0):
            return new, False
        dev = 2 * np.sum(-np.log(y / mu_new) + (y - mu_new) / mu_new)
        coef, mu = new, mu_new
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            return coef, True
        dev_old = dev
    return coef, False


def parametric_trend(
    base_mean: np.ndarray, disp_gene: np.ndarray, *, min_disp: float = MIN_DISP
) -> np.ndarray | None:
    """R's parametric dispersion trend ``asymptDisp + extraPois / mean``, or None where R gives up.

    R then substitutes a local regression (locfit); callers here fall back to the mean trend,
    as pydeseq2 does, and say so.

    Returns
    -------
    numpy.ndarray or None
        ``[asymptDisp, extraPois]``.
    """
    use = np.asarray(disp_gene, dtype=float) > 100 * min_disp
    use &= np.isfinite(disp_gene) & (np.asarray(base_mean) > 0)
    means = np.asarray(base_mean, dtype=float)[use]
    disps = np.asarray(disp_gene, dtype=float)[use]
    if means.size == 0:
        return None
    coefs = np.array([0.1, 1.0])
    for _ in range(11):
        residuals = disps / (coefs[0] + coefs[1] / means)
        good = (residuals > 1e-4) & (residuals < 15)
        old = coefs
        coefs, converged = _gamma_identity_glm(1.0 / means[good], disps[good], old)
        if not np.all(coefs > 0):
            return None
        if np.sum(np.log(coefs / old) ** 2) < 1e-6 and converged:
            return coefs
    return None


def _log_chi2_bin_probs(
    df: int, variances: np.ndarray, breaks: np.ndarray, n_draws: int = 10_000
) -> np.ndarray:
    """P(bin) for ``log(chi2_df) - log(df) + N(0, v)``, each v, restricted to the breaks' range."""
    # quadrature over u = log(chi2_df / df)
    u = np.linspace(-40.0, 6.0, 4601)
    du = u[1] - u[0]
    dens = chi2.pdf(df * np.exp(u), df) * df * np.exp(u)
    dens = dens / (dens.sum() * du)
    out = np.empty((variances.size, breaks.size - 1))
    for i, v in enumerate(variances):
        if v <= 0:
            cdf = (u[None, :] <= breaks[:, None]).astype(float)
        else:
            cdf = norm.cdf((breaks[:, None] - u[None, :]) / np.sqrt(v))
        cum = (cdf * dens[None, :]).sum(axis=1) * du
        probs = np.diff(cum)
        out[i] = probs / probs.sum()
    if n_draws:
        # the histogram R's 10,000 draws give on average: bins expecting less than half a draw are empty
        out = np.round(out * n_draws)
        out = out / out.sum(axis=1, keepdims=True)
    return out


@functools.cache
def _r_simulated_probs(df: int) -> np.ndarray:
    """Bin proportions of R's simulated draws (200 x 40) for ``df`` in 1..3, from the stored table."""
    text = resources.files("myocit_omics").joinpath("resources", PRIOR_VAR_TABLE).read_text("utf-8")
    table = np.loadtxt(io.StringIO(text), skiprows=1, delimiter="\t", dtype=np.int64)
    counts = table[table[:, 0] == df][:, 2:].astype(float)
    if counts.shape != (PRIOR_VAR_GRID.size, PRIOR_VAR_BREAKS.size - 1):
        msg = f"{PRIOR_VAR_TABLE} has no complete table for {df} residual df"
        raise ValueError(msg)
    return counts / counts.sum(axis=1, keepdims=True)


def _local_quadratic(x: np.ndarray, y: np.ndarray, at: np.ndarray, span: float) -> np.ndarray:
    """Loess's local fit at each of ``at``: intercept, slope and half curvature (rows of ``at``).

    A weighted quadratic fit on the ``floor(n * span)`` nearest points, tricube weights on the
    distance scaled by the farthest of them (R's ``surface = "direct"``, 1-D, span < 1).
    """
    q = int(np.floor(x.size * span))
    dist = np.abs(at[:, None] - x[None, :])
    h = np.partition(dist, q - 1, axis=1)[:, q - 1]
    w = (1.0 - np.clip(dist / h[:, None], 0.0, 1.0) ** 3) ** 3
    t = x[None, :] - at[:, None]
    moments = [np.sum(w * t**k, axis=1) for k in range(5)]
    rhs = np.stack([np.sum(w * y[None, :] * t**k, axis=1) for k in range(3)], axis=-1)
    lhs = np.stack([np.stack([moments[i + j] for j in range(3)], axis=-1) for i in range(3)], axis=-2)
    return np.linalg.solve(lhs, rhs[..., None])[..., 0]


def _loess_vertices(x: np.ndarray, span: float, cell: float = 0.2) -> np.ndarray:
    """Return the vertices of loess's k-d tree in 1-D (``ehg126``, ``ehg124``; no ties in ``x``).

    The bounding interval widened by 0.5 % each side, then cells of more than
    ``floor(n * span * cell)`` points split at their ``(l + u) %/% 2``-th point.
    """
    xs = np.sort(x)
    n = xs.size
    fc = int(np.floor(n * span * cell))
    lo, hi = float(xs[0]), float(xs[-1])
    margin = 0.005 * max(hi - lo, 1e-10 * max(abs(lo), abs(hi)) + 1e-30)
    verts = [lo - margin, hi + margin]
    cells = [(1, n, lo - margin, hi + margin)]
    while cells:
        first, last, left, right = cells.pop()
        if last - first + 1 <= fc:
            continue
        mid = (first + last) // 2
        split = float(xs[mid - 1])
        if split in (left, right):
            continue
        verts.append(split)
        cells += [(first, mid, left, split), (mid + 1, last, split, right)]
    return np.unique(verts)


def loess_predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, span: float) -> np.ndarray:
    """R's ``predict(loess(y ~ x, span = span), x_new)`` for 1-D ``x`` without ties, span < 1.

    Degree 2, gaussian family, ``surface = "interpolate"``: local quadratic fits (value and slope)
    at the vertices of loess's k-d tree, cubic Hermite interpolation between them (``ehg128``).
    Agrees with R to about 1e-15.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x_new = np.asarray(x_new, dtype=float)
    verts = _loess_vertices(x, span)
    coef = _local_quadratic(x, y, verts, span)
    k = np.clip(np.searchsorted(verts, x_new, side="right") - 1, 0, verts.size - 2)
    width = verts[k + 1] - verts[k]
    h = (x_new - verts[k]) / width
    phi0 = (1 - h) ** 2 * (1 + 2 * h)
    phi1 = h**2 * (3 - 2 * h)
    psi0 = h * (1 - h) ** 2
    psi1 = -(h**2) * (1 - h)
    return phi0 * coef[k, 0] + phi1 * coef[k + 1, 0] + (psi0 * coef[k, 1] + psi1 * coef[k + 1, 1]) * width


def prior_variance(
    disp_gene: np.ndarray,
    disp_fit: np.ndarray,
    *,
    n_samples: int,
    n_coefs: int,
    min_disp: float = MIN_DISP,
    method: str = "r",
) -> tuple[float, float]:
    """R's ``estimateDispersionsPriorVar``: the prior variance of log dispersions and ``varLogDispEsts``.

    Parameters
    ----------
    disp_gene, disp_fit
        Gene-wise and trend dispersions of the non-zero genes.
    n_samples, n_coefs
        Rows and columns of the design matrix.
    method : {"r", "integrated"}
        At 3 or fewer residual df: ``"r"`` (default) matches the residual histogram against R's own
        simulated draws and smooths the divergences with R's loess, giving R's number;
        ``"integrated"`` uses the exact bin probabilities instead (no simulation noise, not R's
        number). See the module docstring.

    Returns
    -------
    prior_var : float
        ``max(varLogDispEsts - trigamma(df / 2), 0.25)``, or with ``df <= 3`` R's matching of the
        residual histogram (see the module docstring), at least 0.25.
    var_log_disp_ests : float
        Squared MAD of the log residuals of the genes with dispersion >= 100 * minDisp.
    """
    if method not in ("r", "integrated"):
        msg = f"prior variance method must be 'r' or 'integrated', not {method!r}"
        raise ValueError(msg)
    disp_gene = np.asarray(disp_gene, dtype=float)
    above = disp_gene >= 100 * min_disp
    residuals = np.log(disp_gene[above]) - np.log(np.asarray(disp_fit, dtype=float)[above])
    residuals = residuals[np.isfinite(residuals)]
    if residuals.size == 0:
        msg = "no gene-wise dispersion is above 100 x minDisp: the dispersion prior cannot be estimated"
        raise ValueError(msg)
    mad = np.median(np.abs(residuals - np.median(residuals))) * 1.482602218505602
    var_log = float(mad**2)
    df = n_samples - n_coefs
    if df <= 0:
        return var_log, var_log
    if df > 3:
        return float(max(var_log - polygamma(1, df / 2), 0.25)), var_log
    breaks = PRIOR_VAR_BREAKS
    obs = residuals[(residuals > breaks[0]) & (residuals < breaks[-1])]
    obs_counts, _ = np.histogram(-obs, bins=-breaks[::-1])  # R's bins are right-closed: (a, b]
    obs_dens = obs_counts[::-1] / (obs.size * 0.5)

    def kl_of(rand_dens: np.ndarray) -> np.ndarray:
        # R: small <- min(z[z > 0]) over the observed and the simulated densities, per grid point
        both = np.concatenate([np.broadcast_to(obs_dens, rand_dens.shape), rand_dens], axis=1)
        small = np.where(both > 0, both, np.inf).min(axis=1, keepdims=True)
        return np.sum(obs_dens * (np.log(obs_dens + small) - np.log(rand_dens + small)), axis=1)

    fine = np.linspace(0, 8, 1000)
    if method == "r":
        kl = kl_of(_r_simulated_probs(df) / 0.5)
        best = fine[np.argmin(loess_predict(PRIOR_VAR_GRID, kl, fine, span=0.2))]
        return float(max(best, 0.25)), var_log

    # R's 200-point grid, then its 1000-point grid around the best point (the divergence is smooth)
    coarse = PRIOR_VAR_GRID
    best = coarse[np.argmin(kl_of(_log_chi2_bin_probs(df, coarse, breaks) / 0.5))]
    fine = fine[np.abs(fine - best) <= 2 * (coarse[1] - coarse[0])]
    return float(max(fine[np.argmin(kl_of(_log_chi2_bin_probs(df, fine, breaks) / 0.5))], 0.25)), var_log


__all__ = [
    "MIN_DISP",
    "fit_disp",
    "fit_disp_grid",
    "gene_estimates",
    "loess_predict",
    "map_estimates",
    "parametric_trend",
    "prior_variance",
]
