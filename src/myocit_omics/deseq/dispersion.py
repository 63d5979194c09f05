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

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln, polygamma

#: Genes per block: bounds memory (a few arrays of block x samples doubles) and keeps caches warm.
BLOCK_ELEMENTS = 1 << 21


def gene_blocks(n_genes: int, n_samples: int, *, block_elements: int = BLOCK_ELEMENTS) -> list[slice]:
    """Split ``range(n_genes)`` into slices holding about ``block_elements`` matrix cells each.

    Parameters
    ----------
    n_genes
        Number of genes.
    n_samples
        Number of samples.
    block_elements
        Target number of gene x sample cells per block.

    Returns
    -------
    list of slice
        Contiguous gene slices covering all genes.
    """
    size = max(1, block_elements // max(n_samples, 1))
    return [slice(start, min(start + size, n_genes)) for start in range(0, n_genes, size)]


def design_outer(design: np.ndarray) -> np.ndarray:
    """Row-wise outer products of the design: ``(n_samples, p * p)``.

    ``W @ design_outer(X)`` gives every gene's ``X^T diag(w) X`` in one matrix product.
    """
    x = np.asarray(design, dtype=float)
    return np.einsum("ni,nj->nij", x, x).reshape(x.shape[0], -1)


def lstsq_fit(design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Least-squares fitted values of every column of ``targets`` on ``design`` (no intercept added)."""
    x = np.asarray(design, dtype=float)
    coef, *_ = np.linalg.lstsq(x, targets, rcond=None)
    return x @ coef


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


def _nll_alpha_part(y: np.ndarray, mu: np.ndarray, log_alpha: np.ndarray) -> np.ndarray:
    """Return the alpha-dependent part of the NB negative log-likelihood, per gene (genes x samples input).

    Written in a form that stays accurate when alpha is tiny (no cancellation of huge terms).
    """
    alpha = np.exp(log_alpha)[:, None]
    r = 1.0 / alpha
    terms = r * np.log1p(mu * alpha) + y * np.log(r + mu) - (gammaln(y + r) - gammaln(r))
    return terms.sum(axis=1)


@dataclass(frozen=True)
class _CoxReid:
    """Pieces of the Cox-Reid term for one block: the design outer products."""

    outer: np.ndarray  # (n, p*p)
    p: int


def _cr_value(cr: _CoxReid, w: np.ndarray) -> np.ndarray:
    m = (w @ cr.outer).reshape(-1, cr.p, cr.p)
    return 0.5 * np.linalg.slogdet(m)[1]


def _objective(
    y: np.ndarray,
    mu: np.ndarray,
    a: np.ndarray,
    *,
    cr: _CoxReid | None,
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
    cr: _CoxReid | None,
    prior_mean: np.ndarray | None,
    prior_var: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivative of the objective with respect to log(alpha)."""
    alpha = np.exp(a)
    r = (1.0 / alpha)[:, None]
    mu_r = mu + r
    g = digamma(r) - digamma(y + r) + np.log1p(mu / r) + (y - mu) / mu_r
    dg = polygamma(1, r) - polygamma(1, y + r) - mu / (r * mu_r) - (y - mu) / mu_r**2
    r1 = r[:, 0]
    sum_g = g.sum(axis=1)
    grad = -r1 * sum_g
    hess = r1 * sum_g + r1**2 * dg.sum(axis=1)
    if cr is not None:
        p = cr.p
        w = mu / (1.0 + mu * alpha[:, None])
        m = (w @ cr.outer).reshape(-1, p, p)
        dm = (-(w**2) @ cr.outer).reshape(-1, p, p)
        d2m = ((2.0 * w**3) @ cr.outer).reshape(-1, p, p)
        m_inv = np.linalg.inv(m)
        a_mat = m_inv @ dm
        d1 = 0.5 * np.einsum("gii->g", a_mat)
        d2 = 0.5 * (-np.einsum("gij,gji->g", a_mat, a_mat) + np.einsum("gij,gji->g", m_inv, d2m))
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
    a = np.clip(np.log(np.asarray(alpha_hat, dtype=float)), lo, hi)
    prior_mean = np.log(np.asarray(alpha_hat, dtype=float)) if prior_reg else None
    prior_var = prior_disp_var if prior_reg else None
    cr = _CoxReid(design_outer(design), np.asarray(design).shape[1]) if cr_reg else None

    n_genes = a.shape[0]
    converged = np.zeros(n_genes, dtype=bool)
    active = np.arange(n_genes)
    f_cur = _objective(y, m, a, cr=cr, prior_mean=prior_mean, prior_var=prior_var)
    for _ in range(max_iter):
        if active.size == 0:
            break
        ya, ma, aa = y[active], m[active], a[active]
        pm = prior_mean[active] if prior_mean is not None else None
        grad, hess = _derivatives(ya, ma, aa, cr=cr, prior_mean=pm, prior_var=prior_var)
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
        small_grad = np.abs(grad) < 1e-6 * np.maximum(1.0, np.abs(f0))
        stopped = accepted & (moved < tol)
        finished = at_bound | stopped | ~accepted | small_grad
        conv = at_bound | stopped | small_grad
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
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`alpha_mle_block` over all genes, in memory-bounded blocks (samples x genes input)."""
    n, g = counts.shape
    alpha = np.empty(g)
    conv = np.empty(g, dtype=bool)
    for sl in gene_blocks(g, n):
        alpha[sl], conv[sl] = alpha_mle_block(
            counts[:, sl],
            mu[:, sl],
            np.asarray(alpha_hat)[sl],
            design=design,
            min_disp=min_disp,
            max_disp=max_disp,
            prior_disp_var=prior_disp_var,
            cr_reg=cr_reg,
            prior_reg=prior_reg,
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
