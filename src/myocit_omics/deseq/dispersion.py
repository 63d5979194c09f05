"""Vectorised negative-binomial dispersion estimation, DESeq2 style, over all genes at once.

Every function takes counts as a samples x genes array (the pydeseq2 and AnnData layout) and
works on blocks of genes with array operations only: method-of-moments starting values, the
Cox-Reid adjusted dispersion MLE (and the MAP with a log-normal prior) by a safeguarded Newton
method on log(alpha), and DESeq2's parametric trend ``asympt_disp + extra_pois / mean`` fitted
as a gamma GLM with the outlier-dropping iterations of DESeq2 / pydeseq2.

The semantics follow pydeseq2 0.5.4 (``pydeseq2.utils`` and ``pydeseq2.dds``): the same
objective, bounds, starting values and outlier rules, so results agree with pydeseq2 to the
optimiser's tolerance.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.special import digamma, gammaln

#: Genes per block: bounds memory (a few arrays of block x samples doubles) and keeps caches warm.
BLOCK_ELEMENTS = 1 << 21


def gene_blocks(
    n_genes: int, n_samples: int, *, n_coefs: int = 1, block_elements: int = BLOCK_ELEMENTS
) -> list[slice]:
    """Split ``range(n_genes)`` into slices of about ``block_elements`` cells each.

    A gene costs ``max(n_samples, n_coefs**2)`` cells (its counts, or its p x p matrices).

    Parameters
    ----------
    n_genes
        Number of genes.
    n_samples
        Number of samples.
    n_coefs
        Number of design columns p.
    block_elements
        Target number of cells per block.

    Returns
    -------
    list of slice
        Contiguous gene slices covering all genes.
    """
    width = max(n_samples, n_coefs * n_coefs, 1)
    size = max(1, block_elements // width)
    return [slice(start, min(start + size, n_genes)) for start in range(0, n_genes, size)]


def run_blocks(fn: Callable[[slice], None], blocks: list[slice], *, n_threads: int = 1) -> None:
    """Call ``fn`` on every block, on ``n_threads`` threads (numpy and LAPACK release the GIL).

    ``fn`` writes its results into disjoint slices of preallocated arrays. BLAS is held to one
    thread per worker: its products here are small, and its own threads only spin and
    oversubscribe the machine (measured: twice the CPU time for the same wall time).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        limits: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    else:
        limits = threadpool_limits(limits=1, user_api="blas")
    with limits:
        if n_threads <= 1 or len(blocks) <= 1:
            for sl in blocks:
                fn(sl)
            return
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            for _ in pool.map(fn, blocks):
                pass


def default_threads(n_cpus: int | None) -> int:
    """Threads to use for ``n_cpus`` (None: every CPU of the machine)."""
    if n_cpus is None:
        return max(1, os.cpu_count() or 1)
    return max(1, int(n_cpus))


def design_outer(design: np.ndarray) -> np.ndarray:
    """Row-wise outer products of the design: ``(n_samples, p * p)``."""
    x = np.asarray(design, dtype=float)
    return np.einsum("ni,nj->nij", x, x).reshape(x.shape[0], -1)


class Gram:
    """Every gene's ``X^T diag(w_g) X`` from one matrix product.

    ``W @ outer`` (genes x samples times samples x p^2) gives all the weighted Gram matrices;
    factor designs have many repeated (and all-zero) columns in ``outer``, so the product is
    taken over the distinct columns only and expanded afterwards.

    Parameters
    ----------
    design
        Design matrix, samples x p.
    """

    def __init__(self, design: np.ndarray) -> None:
        x = np.asarray(design, dtype=float)
        self.p = x.shape[1]
        self.outer = design_outer(x)
        self.unique, inverse = np.unique(self.outer, axis=1, return_inverse=True)
        self.inverse = np.asarray(inverse).reshape(-1)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        """Return ``X^T diag(w_g) X`` for each row ``w_g`` of ``w`` (genes x samples): genes x p x p."""
        return (w @ self.unique)[:, self.inverse].reshape(-1, self.p, self.p)

    def quadratic_diag(self, m: np.ndarray) -> np.ndarray:
        """Return ``x_j^T M_g x_j`` for every gene g and sample j: genes x samples."""
        return m.reshape(m.shape[0], -1) @ self.outer.T


def lstsq_fit(design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Least-squares fitted values of every column of ``targets`` on ``design`` (no intercept added)."""
    x = np.asarray(design, dtype=float)
    # X (X^+ Y): two thin products, linear in samples and genes
    return x @ (np.linalg.pinv(x) @ targets)


def rough_dispersions(normed_counts: np.ndarray, design: np.ndarray) -> np.ndarray:
    """DESeq2's rough dispersion estimate from a linear model of normalised counts.

    Parameters
    ----------
    normed_counts
        Normalised counts, samples x genes.
    design
        Design matrix with intercept, samples x p.

    Returns
    -------
    numpy.ndarray
        One value per gene, at least 0.

    Raises
    ------
    ValueError
        If there are as many samples as design columns (no residual degrees of freedom).
    """
    x = np.asarray(design, dtype=float)
    n, p = x.shape
    if n == p:
        msg = (
            f"the design has {p} columns for {n} samples: no replicates to estimate the dispersion; "
            "expected fewer design columns than samples"
        )
        raise ValueError(msg)
    y_hat = np.maximum(lstsq_fit(x, normed_counts), 1.0)
    alpha = (((normed_counts - y_hat) ** 2 - y_hat) / ((n - p) * y_hat**2)).sum(axis=0)
    return np.maximum(alpha, 0.0)


def moments_dispersions(normed_counts: np.ndarray, size_factors: np.ndarray) -> np.ndarray:
    """DESeq2's method-of-moments dispersion, for genes that are not all zero.

    Like pydeseq2, all-zero genes are dropped from the result (callers pass non-zero genes).
    """
    keep = ~(normed_counts == 0).all(axis=0)
    normed = normed_counts[:, keep]
    s_mean_inv = float(np.mean(1.0 / np.asarray(size_factors, dtype=float)))
    mu = normed.mean(axis=0)
    sigma = normed.var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num((sigma - s_mean_inv * mu) / mu**2)


def lin_reg_mu(
    counts: np.ndarray, size_factors: np.ndarray, design: np.ndarray, *, min_mu: float = 0.5
) -> np.ndarray:
    """Return initial means from a least-squares fit of normalised counts (samples x genes)."""
    sf = np.asarray(size_factors, dtype=float)[:, None]
    mu = sf * lstsq_fit(design, counts / sf)
    return np.maximum(mu, min_mu)


def trigamma(x: np.ndarray) -> np.ndarray:
    """Trigamma function for positive arrays (6x faster than ``scipy.special.polygamma(1, x)``).

    Recurrence up to 10 then the asymptotic series to ``z^-13``; relative error below 1e-13.
    """
    x = np.asarray(x, dtype=float)
    out = np.zeros_like(x)
    z = x.copy()
    low = z < 10
    if low.any():
        zl = z[low]
        acc = np.zeros_like(zl)
        for k in range(10):
            acc += 1.0 / (zl + k) ** 2
        out[low] = acc
        z[low] = zl + 10
    iz = 1.0 / z
    iz2 = iz * iz
    tail = 1 / 6 - iz2 * (1 / 30 - iz2 * (1 / 42 - iz2 * (1 / 30 - iz2 * (5 / 66 - iz2 * 691 / 2730))))
    return out + iz + 0.5 * iz2 + iz * iz2 * tail


#: Above this inverse dispersion (alpha < 0.02), asymptotic series replace digamma/lgamma differences.
_R_ASYMPTOTIC = 50.0


def _nb_terms(
    y: np.ndarray, mu: np.ndarray, r: np.ndarray, *, order: int, value: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Per-cell NB terms in the inverse dispersion ``r`` (genes x samples; ``r`` genes x 1).

    Returns the alpha-dependent part of the negative log-likelihood
    ``r log1p(mu/r) + y log(r + mu) - (lgamma(y + r) - lgamma(r))`` and, with ``order`` >= 1 and
    2, ``g = psi(r) - psi(y + r) + log1p(mu/r) + (y - mu)/(mu + r)`` and ``dg/dr``. For large
    ``r`` these are differences of nearly equal numbers; there they are computed from Stirling's
    series in a cancellation-free form, so Poisson-like genes are optimised as accurately as any.
    With ``value=False`` the first term is not computed (None).
    """
    big = r[:, 0] >= _R_ASYMPTOTIC
    t = np.empty_like(y) if value else None
    g = np.empty_like(y) if order >= 1 else None
    dg = np.empty_like(y) if order >= 2 else None
    small = ~big
    if small.all():
        small = slice(None)
        big = np.zeros(0, dtype=bool)
    elif big.all():
        big = slice(None)
        small = np.zeros(0, dtype=bool)
    if isinstance(small, slice) or small.any():
        ys, ms, rs = y[small], mu[small], r[small]
        if t is not None:
            t[small] = rs * np.log1p(ms / rs) + ys * np.log(rs + ms) - (gammaln(ys + rs) - gammaln(rs))
        if g is not None:
            mr = ms + rs
            g[small] = digamma(rs) - digamma(ys + rs) + np.log1p(ms / rs) + (ys - ms) / mr
        if dg is not None:
            dg[small] = trigamma(rs) - trigamma(ys + rs) - ms / (rs * mr) - (ys - ms) / mr**2
    if isinstance(big, slice) or big.any():
        yb, mb, rb = y[big], mu[big], r[big]
        ry = rb + yb
        delta = (mb - yb) / ry
        l1 = np.log1p(delta)
        inv_r, inv_ry = 1.0 / rb, 1.0 / ry
        # Stirling: S(z) = 1/(12 z) - 1/(360 z^3) + 1/(1260 z^5)
        ds = (inv_ry - inv_r) / 12 - (inv_ry**3 - inv_r**3) / 360 + (inv_ry**5 - inv_r**5) / 1260
        if t is not None:
            t[big] = ry * l1 + 0.5 * np.log1p(yb * inv_r) + yb - ds
        if g is not None:
            # log1p(delta) - delta / (1 + delta), by its series when delta is small
            d = delta
            series = d * d * (0.5 - d * (2 / 3 - d * (0.75 - d * (0.8 - d * (5 / 6)))))
            lead = np.where(np.abs(d) < 1e-2, series, l1 - d / (1.0 + d))
            psi_diff = (
                -0.5 * yb * inv_r * inv_ry
                + (inv_ry**2 - inv_r**2) / 12
                - (inv_ry**4 - inv_r**4) / 120
                + (inv_ry**6 - inv_r**6) / 252
            )
            g[big] = lead + psi_diff
        if dg is not None:
            mr = mb + rb
            tri = (
                (inv_r**2 - inv_ry**2) / 2
                + (inv_r**3 - inv_ry**3) / 6
                - (inv_r**5 - inv_ry**5) / 30
                + (inv_r**7 - inv_ry**7) / 42
            )
            dg[big] = -((yb - mb) ** 2) / (mr**2 * ry) + tri
    return t, g, dg


def _nll_alpha_part(y: np.ndarray, mu: np.ndarray, log_alpha: np.ndarray) -> np.ndarray:
    """Return the alpha-dependent part of the NB negative log-likelihood per gene (genes x samples)."""
    r = np.exp(-log_alpha)[:, None]
    t, _, _ = _nb_terms(y, mu, r, order=0)
    return t.sum(axis=1)


def _cr_value(gram: Gram, w: np.ndarray) -> np.ndarray:
    if gram.p == 1:  # intercept-only (blind VST): X^T W X is a scalar
        return 0.5 * np.log(w @ gram.outer[:, 0])
    m = gram(w)
    try:  # Cholesky is cheaper than LU; M is positive definite for a full-rank design
        chol = np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        return 0.5 * np.linalg.slogdet(m)[1]
    return np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)


def _objective(
    y: np.ndarray,
    mu: np.ndarray,
    a: np.ndarray,
    *,
    cr: Gram | None,
    prior_mean: np.ndarray | None,
    prior_var: float | None,
) -> np.ndarray:
    f = _nll_alpha_part(y, mu, a)
    if cr is not None:
        w = mu / (1.0 + mu * np.exp(a)[:, None])
        f = f + _cr_value(cr, w)
    if prior_mean is not None and prior_var is not None:
        f = f + (a - prior_mean) ** 2 / (2.0 * prior_var)
    return f


def _derivatives(
    y: np.ndarray,
    mu: np.ndarray,
    a: np.ndarray,
    *,
    cr: Gram | None,
    prior_mean: np.ndarray | None,
    prior_var: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivative of the objective with respect to log(alpha)."""
    alpha = np.exp(a)
    r = np.exp(-a)[:, None]
    _, g, dg = _nb_terms(y, mu, r, order=2, value=False)
    r1 = r[:, 0]
    sum_g = g.sum(axis=1)
    grad = -r1 * sum_g
    hess = r1 * sum_g + r1**2 * dg.sum(axis=1)
    if cr is not None:
        w = mu / (1.0 + mu * alpha[:, None])
        w2 = w * w
        if cr.p == 1:  # intercept-only: X^T W X is a scalar, closed forms
            x2 = cr.outer[:, 0]
            m1, dm1, d2m1 = w @ x2, -(w2 @ x2), 2.0 * ((w2 * w) @ x2)
            d1 = 0.5 * dm1 / m1
            d2 = 0.5 * (-((dm1 / m1) ** 2) + d2m1 / m1)
        else:
            m_inv = np.linalg.inv(cr(w))
            a_mat = m_inv @ cr(-w2)
            d1 = 0.5 * np.trace(a_mat, axis1=1, axis2=2)
            # tr(A A) and tr(M^-1 d2M) as elementwise sums (M^-1 and d2M are symmetric)
            tr_aa = (a_mat * a_mat.transpose(0, 2, 1)).sum(axis=(1, 2))
            d2 = 0.5 * (-tr_aa + (m_inv * cr(2.0 * w2 * w)).sum(axis=(1, 2)))
        grad = grad + alpha * d1
        hess = hess + alpha * d1 + alpha**2 * d2
    if prior_mean is not None and prior_var is not None:
        grad = grad + (a - prior_mean) / prior_var
        hess = hess + 1.0 / prior_var
    return grad, hess


def alpha_mle_block(
    counts: np.ndarray,
    mu: np.ndarray,
    alpha_hat: np.ndarray,
    *,
    design: np.ndarray,
    min_disp: float,
    max_disp: float,
    prior_disp_var: float | None = None,
    cr_reg: bool = True,
    prior_reg: bool = False,
    max_iter: int = 100,
    tol: float = 1e-8,
    pgtol: float = 1e-5,
    ftol: float = 2.220446049250313e-09,
    newton_stop: float = 1e-4,
    start: np.ndarray | None = None,
    lbfgsb_first_step: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Dispersion MLE (or MAP) for a block of genes by a safeguarded Newton method on log(alpha).

    Minimises pydeseq2's objective (``fit_alpha_mle``): the NB negative log-likelihood plus
    ``0.5 log det(X^T W X)`` (Cox-Reid, if ``cr_reg``) plus
    ``(log alpha - log alpha_hat)^2 / (2 prior_disp_var)`` (if ``prior_reg``), over
    ``log alpha`` in ``[log min_disp, log max_disp]``, starting from ``alpha_hat``. Newton steps
    where the curvature is positive, gradient steps elsewhere, each with an Armijo backtracking
    line search and projection onto the bounds.

    Parameters
    ----------
    counts, mu
        Counts and fitted means, samples x genes.
    alpha_hat
        Starting values (and prior means when ``prior_reg``), one per gene.
    design
        Design matrix, samples x p.
    min_disp, max_disp
        Bounds on the dispersion.
    prior_disp_var
        Variance of the log-normal prior (required with ``prior_reg``).
    cr_reg, prior_reg
        Whether to add the Cox-Reid term and the prior term.
    max_iter
        Maximum Newton iterations.
    tol
        Convergence tolerance on the step in log(alpha).
    pgtol, ftol
        L-BFGS-B's stopping rules as scipy applies them for pydeseq2: stop when the projected
        gradient is at most ``pgtol``, or when a step lowers the objective by a relative
        ``ftol`` or less. Matching them makes flat objectives (genes with one or two reads) stop
        where pydeseq2 stops rather than at a distant optimum.
    newton_stop
        Stop after a full Newton step (positive curvature) shorter than this in log(alpha); the
        remaining error is of the order of its square.
    start
        Start values when they differ from ``alpha_hat`` (R's MAP starts at the gene-wise estimate).
    lbfgsb_first_step
        Stop, as L-BFGS-B does, where its first unit gradient step lowers the objective by at most
        a relative ``ftol`` (pydeseq2's behaviour on flat likelihoods). False: go on to the optimum.

    Returns
    -------
    alpha : numpy.ndarray
        Estimated dispersions, one per gene.
    converged : numpy.ndarray
        Whether each gene's optimisation converged.
    """
    if prior_reg and prior_disp_var is None:
        msg = "prior_disp_var is None: a prior variance is required when prior_reg=True"
        raise ValueError(msg)
    y = np.ascontiguousarray(np.asarray(counts, dtype=float).T)
    m = np.ascontiguousarray(np.asarray(mu, dtype=float).T)
    lo, hi = np.log(min_disp), np.log(max_disp)
    a = np.clip(np.log(np.asarray(alpha_hat if start is None else start, dtype=float)), lo, hi)
    prior_mean = np.log(np.asarray(alpha_hat, dtype=float)) if prior_reg else None
    prior_var = prior_disp_var if prior_reg else None
    cr = Gram(design) if cr_reg else None

    n_genes = a.shape[0]
    converged = np.zeros(n_genes, dtype=bool)
    active = np.arange(n_genes)
    f_cur = _objective(y, m, a, cr=cr, prior_mean=prior_mean, prior_var=prior_var)
    # L-BFGS-B's first iteration on a boxed variable is a unit step along the projected gradient
    # (x1 = clip(x0 - g)); when that lowers the objective by a relative ftol or less it stops there.
    # On a flat likelihood (a start at the floor, genes with one or two reads) pydeseq2 therefore
    # stays at its start, where a Newton method would walk to a distant optimum.
    stuck = np.zeros(n_genes, dtype=bool)
    if lbfgsb_first_step:
        grad0, _ = _derivatives(y, m, a, cr=cr, prior_mean=prior_mean, prior_var=prior_var)
        first = np.clip(a - grad0, lo, hi)
        f_first = _objective(y, m, first, cr=cr, prior_mean=prior_mean, prior_var=prior_var)
        drop0 = (f_cur - f_first) / np.maximum(np.maximum(np.abs(f_cur), np.abs(f_first)), 1.0)
        stuck = np.isfinite(f_first) & (f_first <= f_cur) & (drop0 <= ftol) & (np.abs(grad0) > pgtol)
    if stuck.any():
        a[stuck], f_cur[stuck] = first[stuck], f_first[stuck]
        converged[stuck] = True
        active = active[~stuck]
    for _ in range(max_iter):
        if active.size == 0:
            break
        ya, ma, aa = y[active], m[active], a[active]
        pm = prior_mean[active] if prior_mean is not None else None
        grad, hess = _derivatives(ya, ma, aa, cr=cr, prior_mean=pm, prior_var=prior_var)
        # L-BFGS-B's stopping rule (as pydeseq2 uses it): a projected gradient below pgtol.
        proj = np.where(((aa <= lo) & (grad > 0)) | ((aa >= hi) & (grad < 0)), 0.0, grad)
        flat = np.abs(proj) <= pgtol
        if flat.any():
            converged[active[flat]] = True
            keep = ~flat
            active, ya, ma, aa, grad, hess = (
                active[keep],
                ya[keep],
                ma[keep],
                aa[keep],
                grad[keep],
                hess[keep],
            )
            pm = pm[keep] if pm is not None else None
            if active.size == 0:
                break
        step = np.where(hess > 0, -grad / np.where(hess > 0, hess, 1.0), -np.sign(grad))
        step = np.clip(step, -2.0, 2.0)
        # At a bound with the descent direction pointing outwards: converged there.
        at_bound = ((aa <= lo) & (step < 0)) | ((aa >= hi) & (step > 0))
        f0 = f_cur[active]
        t = np.ones_like(aa)
        accepted = np.zeros(aa.shape, dtype=bool)
        new_a = aa.copy()
        new_f = f0.copy()
        todo = ~at_bound & np.isfinite(step)
        for _ls in range(40):
            if not todo.any():
                break
            idx = np.flatnonzero(todo)
            cand = np.clip(aa[idx] + t[idx] * step[idx], lo, hi)
            pm_i = pm[idx] if pm is not None else None
            fc = _objective(ya[idx], ma[idx], cand, cr=cr, prior_mean=pm_i, prior_var=prior_var)
            decrease = (cand - aa[idx]) * grad[idx]
            slack = 1e-4 * np.minimum(decrease, 0.0) + 1e-12 * np.abs(f0[idx])
            ok = np.isfinite(fc) & (fc <= f0[idx] + slack)
            good = idx[ok]
            new_a[good] = cand[ok]
            new_f[good] = fc[ok]
            accepted[good] = True
            todo[good] = False
            t[idx[~ok]] *= 0.5
        moved = np.abs(new_a - aa)
        # A failed line search at a point with a tiny gradient is a converged optimum too.
        small_grad = np.abs(grad) < 1e-8 * np.maximum(1.0, np.abs(f0))
        rel_drop = (f0 - new_f) / np.maximum(np.maximum(np.abs(f0), np.abs(new_f)), 1.0)
        # A full Newton step this small leaves an error of order step^2: accept it and stop.
        newton_done = accepted & (hess > 0) & (t == 1.0) & (moved < newton_stop)
        stopped = accepted & ((moved < tol) | (rel_drop <= ftol) | newton_done)
        finished = at_bound | stopped | ~accepted
        conv = at_bound | stopped | (~accepted & small_grad)
        a[active] = new_a
        f_cur[active] = new_f
        converged[active[finished & conv]] = True
        active = active[~finished]
    return np.exp(a), converged


def alpha_mle(
    counts: np.ndarray,
    mu: np.ndarray,
    alpha_hat: np.ndarray,
    *,
    design: np.ndarray,
    min_disp: float,
    max_disp: float,
    prior_disp_var: float | None = None,
    cr_reg: bool = True,
    prior_reg: bool = False,
    n_threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`alpha_mle_block` over all genes in memory-bounded blocks on ``n_threads`` threads."""
    n, g = counts.shape
    alpha = np.empty(g)
    conv = np.empty(g, dtype=bool)
    alpha_hat = np.asarray(alpha_hat, dtype=float)

    def one(sl: slice) -> None:
        alpha[sl], conv[sl] = alpha_mle_block(
            counts[:, sl],
            mu[:, sl],
            alpha_hat[sl],
            design=design,
            min_disp=min_disp,
            max_disp=max_disp,
            prior_disp_var=prior_disp_var,
            cr_reg=cr_reg,
            prior_reg=prior_reg,
        )

    p = np.asarray(design).shape[1]
    run_blocks(
        one, gene_blocks(g, n, n_coefs=p, block_elements=BLOCK_ELEMENTS // n_threads), n_threads=n_threads
    )
    return alpha, conv


def gamma_glm_trend(
    covariates: np.ndarray, targets: np.ndarray, *, max_iter: int = 100, tol: float = 1e-12
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Fit ``targets ~ a0 + a1 * covariates`` as a gamma GLM with identity link.

    Minimises ``mean(targets / mu + log mu)`` (pydeseq2's ``dispersion_trend_gamma_glm``) by
    Fisher scoring, which for the gamma family is Newton's method on that objective.

    Returns
    -------
    coeffs : numpy.ndarray
        ``[a0, a1]``.
    predictions : numpy.ndarray
        Fitted trend at ``covariates``.
    converged : bool
        Whether the fit converged with both coefficients positive.
    """
    x = np.column_stack([np.ones_like(covariates, dtype=float), np.asarray(covariates, dtype=float)])
    y = np.asarray(targets, dtype=float)
    coef = np.array([1.0, 1.0])
    converged = False
    for _ in range(max_iter):
        mu = x @ coef
        if np.any(mu <= 0):
            break
        w = 1.0 / mu**2
        new = np.linalg.solve((x.T * w) @ x, (x.T * w) @ y)
        if np.any(~np.isfinite(new)):
            break
        # keep the mean positive: halve the step until it is
        step = new - coef
        for _h in range(50):
            if np.all(x @ (coef + step) > 0):
                break
            step *= 0.5
        coef = coef + step
        if np.all(np.abs(step) <= tol * np.maximum(np.abs(coef), 1e-12)) or np.max(np.abs(step)) < 1e-15:
            converged = True
            break
    converged = converged and bool(np.all(coef > 1e-10))
    return coef, x @ coef, converged


def parametric_trend(
    normed_means: np.ndarray, dispersions: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """DESeq2's parametric dispersion trend with its iterative dropping of outlying genes.

    Parameters
    ----------
    normed_means
        Mean of normalised counts per gene (genes with mean 0 are not used).
    dispersions
        Gene-wise dispersion estimates.

    Returns
    -------
    coeffs : numpy.ndarray or None
        ``[a0, a1]`` with trend ``a0 + a1 / mean``, or None when the fit fails (DESeq2 and
        pydeseq2 then fall back to a mean dispersion).
    used : numpy.ndarray
        Boolean mask of the genes the final fit used.
    """
    with np.errstate(divide="ignore"):
        cov = 1.0 / np.asarray(normed_means, dtype=float)
    disp = np.asarray(dispersions, dtype=float)
    keep = np.isfinite(cov) & np.isfinite(disp)
    old = np.array([0.1, 0.1])
    coeffs = np.array([1.0, 1.0])
    while (coeffs > 1e-10).all() and (np.log(np.abs(coeffs / old)) ** 2).sum() >= 1e-6:
        old = coeffs
        coeffs, pred, ok = gamma_glm_trend(cov[keep], disp[keep])
        if not ok or (coeffs <= 1e-10).any():
            return None, keep
        ratio = disp[keep] / pred
        drop = (ratio < 1e-4) | (ratio >= 15)
        idx = np.flatnonzero(keep)
        keep[idx[drop]] = False
    return coeffs, keep
