"""Vectorised negative-binomial GLM kernels: batched IRLS, Wald tests and apeGLM-prior shrinkage.

Counts and means are samples x genes, coefficients genes x p, as in pydeseq2. Each kernel runs
over blocks of genes (:func:`myocit_omics.deseq.dispersion.gene_blocks`) with matrix products
for every gene's ``X^T W X`` at once and batched LAPACK solves, and reproduces the per-gene
semantics of pydeseq2 0.5.4 (``utils.irls_solver``, ``utils.wald_test``, ``utils.nbinomGLM``).
The rare genes where the per-gene algorithm leaves its fast path (IRLS diverging, an optimiser
failing) are handed to pydeseq2's own per-gene routine, so their results are pydeseq2's.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.special import gammaln
from scipy.stats import norm

from myocit_omics.deseq.cox_reid import CoxReid
from myocit_omics.deseq.dispersion import BLOCK_ELEMENTS, Gram, gene_blocks, run_blocks


def nb_nll_genes(
    y: np.ndarray, mu: np.ndarray, alpha: np.ndarray, *, lgamma_y1: np.ndarray | None = None
) -> np.ndarray:
    """Return pydeseq2's ``nb_nll`` for one dispersion per gene (genes x samples input), per gene.

    ``lgamma_y1`` (the row sums of ``gammaln(y + 1)``) may be passed when already computed.
    """
    n = y.shape[1]
    r = 1.0 / alpha
    rr = r[:, None]
    if lgamma_y1 is None:
        lgamma_y1 = gammaln(y + 1.0).sum(axis=1)
    cells = (y + rr) * np.log(rr + mu) - y * np.log(mu) - gammaln(y + rr)
    return n * r * np.log(alpha) + n * gammaln(r) + lgamma_y1 + cells.sum(axis=1)


def irls_block(
    counts: np.ndarray,
    size_factors: np.ndarray,
    design: np.ndarray,
    disp: np.ndarray,
    *,
    min_mu: float = 0.5,
    beta_tol: float = 1e-8,
    min_beta: float = -30,
    max_beta: float = 30,
    optimizer: Literal["BFGS", "L-BFGS-B"] = "L-BFGS-B",
    maxiter: int = 250,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """IRLS for a block of genes at once, with pydeseq2's per-gene stopping rule.

    Parameters
    ----------
    counts
        Raw counts, samples x genes.
    size_factors
        One per sample.
    design
        Design matrix, samples x p.
    disp
        Dispersion per gene.
    min_mu, beta_tol, min_beta, max_beta, optimizer, maxiter
        As in :func:`pydeseq2.utils.irls_solver`.

    Returns
    -------
    beta : numpy.ndarray
        Coefficients, genes x p (natural log scale).
    mu : numpy.ndarray
        Fitted means, samples x genes (not thresholded, as DESeq2 returns them).
    hat : numpy.ndarray
        Diagonal of the hat matrix, samples x genes.
    converged : numpy.ndarray
        Per gene.
    """
    x = np.asarray(design, dtype=float)
    p = x.shape[1]
    sf = np.asarray(size_factors, dtype=float)
    y = np.ascontiguousarray(np.asarray(counts, dtype=float).T)  # genes x samples
    disp = np.asarray(disp, dtype=float)
    g = y.shape[0]
    # X^T W X + 1e-6 I by blocks (a Schur complement on the factor columns), as pydeseq2's ridge
    cr = CoxReid(x)
    ridge = 1e-6
    log_sf = np.log(sf)

    if np.linalg.matrix_rank(x) == p:
        q, r = np.linalg.qr(x)
        with np.errstate(divide="ignore"):
            beta = np.linalg.solve(r, q.T @ np.log(y / sf + 0.1).T).T
    else:
        beta = np.zeros((g, p))
        with np.errstate(divide="ignore"):
            beta[:, 0] = np.log(y / sf).mean(axis=1)
    mu = np.maximum(sf * np.exp(beta @ x.T), min_mu)
    dev = np.full(g, 1000.0)
    fallback = np.zeros(g, dtype=bool)
    active = np.arange(g)
    lgamma_y1 = gammaln(y + 1.0).sum(axis=1)
    i = 0
    while active.size:
        ma, ya, da = mu[active], y[active], disp[active]
        w = ma / (1.0 + ma * da[:, None])
        z = np.log(ma) - log_sf + (ya - ma) / ma
        rhs = (w * z) @ x
        beta_hat = cr.solve(w, rhs, ridge=ridge)
        i += 1
        diverged = (np.abs(beta_hat) > max_beta).any(axis=1) | (i >= maxiter)
        fallback[active[diverged]] = True
        keep = ~diverged
        act = active[keep]
        beta[act] = beta_hat[keep]
        mu[act] = np.maximum(sf * np.exp(beta[act] @ x.T), min_mu)
        old = dev[act]
        new = -2.0 * nb_nll_genes(y[act], mu[act], disp[act], lgamma_y1=lgamma_y1[act])
        dev[act] = new
        ratio = np.abs(new - old) / (np.abs(new) + 0.1)
        active = act[ratio > beta_tol]

    converged = np.ones(g, dtype=bool)
    if fallback.any():
        from pydeseq2.utils import irls_solver

        for j in np.flatnonzero(fallback):
            b, _mu, _h, conv = irls_solver(
                counts=y[j],
                size_factors=sf,
                design_matrix=x,
                disp=float(disp[j]),
                min_mu=min_mu,
                beta_tol=beta_tol,
                min_beta=min_beta,
                max_beta=max_beta,
                optimizer=optimizer,
                maxiter=maxiter,
            )
            beta[j] = b
            mu[j] = np.maximum(sf * np.exp(x @ b), min_mu)
            converged[j] = conv

    w = mu / (1.0 + mu * disp[:, None])
    hat = w * cr.leverages(w, ridge=ridge)
    mu_out = sf * np.exp(beta @ x.T)
    return beta, mu_out.T, hat.T, converged


def irls(
    counts: np.ndarray,
    size_factors: np.ndarray,
    design: np.ndarray,
    disp: np.ndarray,
    *,
    n_threads: int = 1,
    **options: object,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`irls_block` over all genes in memory-bounded blocks on ``n_threads`` threads."""
    n, g = counts.shape
    p = np.asarray(design).shape[1]
    beta = np.empty((g, p))
    mu = np.empty((n, g))
    hat = np.empty((n, g))
    conv = np.empty(g, dtype=bool)
    disp = np.asarray(disp, dtype=float)

    def one(sl: slice) -> None:
        beta[sl], mu[:, sl], hat[:, sl], conv[sl] = irls_block(
            counts[:, sl], size_factors, design, disp[sl], **options
        )

    run_blocks(
        one, gene_blocks(g, n, n_coefs=p, block_elements=BLOCK_ELEMENTS // n_threads), n_threads=n_threads
    )
    return beta, mu, hat, conv


def wald_test(
    design: np.ndarray,
    disp: np.ndarray,
    lfc: np.ndarray,
    mu: np.ndarray,
    ridge_factor: np.ndarray,
    contrast: np.ndarray,
    lfc_null: float,
    alt_hypothesis: Literal["greaterAbs", "lessAbs", "greater", "less"] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wald tests of ``contrast`` for all genes at once (pydeseq2's ``utils.wald_test``, vectorised).

    Parameters
    ----------
    design
        Design matrix, samples x p.
    disp
        Dispersion per gene.
    lfc
        Coefficients, genes x p (natural log).
    mu
        Fitted means, samples x genes.
    ridge_factor
        p x p ridge added to ``X^T W X`` before inversion.
    contrast
        Contrast vector, length p.
    lfc_null
        Null log fold change (natural log), subtracted from every coefficient as pydeseq2 does.
    alt_hypothesis
        None (two-sided) or one of ``greaterAbs``, ``lessAbs``, ``greater``, ``less``.

    Returns
    -------
    p_value, statistic, se : numpy.ndarray
        One value per gene.
    """
    x = np.asarray(design, dtype=float)
    n, p = x.shape
    c = np.asarray(contrast, dtype=float)
    lfc = np.asarray(lfc, dtype=float)
    disp = np.asarray(disp, dtype=float)
    g = lfc.shape[0]
    gram = Gram(x)
    se = np.empty(g)
    for sl in gene_blocks(g, n, n_coefs=p):
        m_s = np.asarray(mu[:, sl], dtype=float).T
        w = m_s / (1.0 + m_s * disp[sl, None])
        m = gram(w)
        h = np.linalg.inv(m + ridge_factor)
        hc = h @ c
        se[sl] = np.sqrt(np.einsum("gi,gij,gj->g", hc, m, hc))
    if alt_hypothesis is None:
        stat = ((lfc - lfc_null) @ c) / se
        pval = 2.0 * norm.sf(np.abs(stat))
        return pval, stat, se

    def greater(null: float) -> tuple[np.ndarray, np.ndarray]:
        s = np.fmax((lfc - null) / se[:, None], 0) @ c
        return s, norm.sf(s)

    def less(null: float) -> tuple[np.ndarray, np.ndarray]:
        s = np.fmin((lfc - null) / se[:, None], 0) @ c
        return s, norm.sf(np.abs(s))

    if alt_hypothesis == "greater":
        stat, pval = greater(lfc_null)
    elif alt_hypothesis == "less":
        stat, pval = less(lfc_null)
    elif alt_hypothesis == "greaterAbs":
        stat = (np.sign(lfc) * np.fmax((np.abs(lfc) - lfc_null) / se[:, None], 0)) @ c
        pval = 2.0 * norm.sf(np.abs(stat))
    elif alt_hypothesis == "lessAbs":
        s_above, p_above = greater(-abs(lfc_null))
        s_below, p_below = less(abs(lfc_null))
        stat = np.where(np.abs(s_below) < np.abs(s_above), s_below, s_above)
        pval = np.maximum(p_above, p_below)
    else:
        msg = (
            f"alt_hypothesis={alt_hypothesis!r} is not supported; "
            "expected None, 'greaterAbs', 'lessAbs', 'greater' or 'less'"
        )
        raise ValueError(msg)
    return pval, stat, se


def _shrink_parts(
    beta: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    size: np.ndarray,
    offset: np.ndarray,
    *,
    no_shrink_scale: float,
    prior_scale: float,
    shrink_index: int,
    order: int,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """apeGLM-prior objective of ``nbinomFn`` per gene, with gradient, Hessian and NB curvature weights."""
    p = x.shape[1]
    mask = np.zeros(p, dtype=bool)
    mask[shrink_index] = True
    eta = beta @ x.T + offset  # genes x samples
    s = size[:, None]
    bs = beta[:, shrink_index]
    prior = (beta[:, ~mask] ** 2).sum(axis=1) / (2 * no_shrink_scale**2) + np.log1p((bs / prior_scale) ** 2)
    nll = -(y * (eta - offset) - (y + s) * np.logaddexp(eta, np.log(s))).sum(axis=1)
    f = prior + nll
    if order == 0:
        return f, None, None, None
    expit = 1.0 / (1.0 + s * np.exp(-eta))  # e^eta / (s + e^eta)
    d_nll = (y - (y + s) * expit) @ x
    d_prior = np.where(mask, 0.0, beta / no_shrink_scale**2)
    d_prior[:, shrink_index] = 2 * bs / (prior_scale**2 + bs**2)
    grad = d_prior - d_nll
    frac = (y + s) * expit * (1.0 - expit)  # = (y + s) s e^eta / (s + e^eta)^2
    h_diag = np.where(mask, 0.0, 1.0 / no_shrink_scale**2) * np.ones_like(beta)
    h_diag[:, shrink_index] = 2 * (prior_scale**2 - bs**2) / (prior_scale**2 + bs**2) ** 2
    xtwx = Gram(x)(frac)
    hess = xtwx + h_diag[:, :, None] * np.eye(p)[None]
    # pydeseq2's returned inverse Hessian adds the prior curvature to every row of each column.
    pyd_hess = xtwx + h_diag[:, None, :]
    return f, grad, hess, pyd_hess


def lfc_shrink_block(
    design: np.ndarray,
    counts: np.ndarray,
    size: np.ndarray,
    offset: np.ndarray,
    *,
    prior_no_shrink_scale: float,
    prior_scale: float,
    shrink_index: int = 1,
    max_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MAP coefficients under pydeseq2's apeGLM-style prior for a block of genes (Newton, line search).

    Minimises the objective of :func:`pydeseq2.utils.nbinomFn` from pydeseq2's starting point
    ``0.1 * (-1)^k`` by Newton steps on a positive-definite modification of the Hessian with an
    Armijo line search. Returns what :func:`pydeseq2.utils.nbinomGLM` returns, gene by gene:
    coefficients (genes x p), the inverse of pydeseq2's Hessian expression at the optimum
    (genes x p x p) and a convergence flag.
    """
    x = np.asarray(design, dtype=float)
    p = x.shape[1]
    y = np.ascontiguousarray(np.asarray(counts, dtype=float).T)
    size = np.asarray(size, dtype=float)
    offset = np.asarray(offset, dtype=float)
    g = y.shape[0]
    opts = {
        "no_shrink_scale": prior_no_shrink_scale,
        "prior_scale": prior_scale,
        "shrink_index": shrink_index,
    }
    beta = np.tile(0.1 * (-1.0) ** np.arange(p), (g, 1))
    cnst = np.maximum(_shrink_parts(np.zeros((g, p)), x, y, size, offset, order=0, **opts)[0], 1.0)
    f_cur = _shrink_parts(beta, x, y, size, offset, order=0, **opts)[0]
    converged = np.zeros(g, dtype=bool)
    active = np.arange(g)
    eye = np.eye(p)[None]
    for _ in range(max_iter):
        if active.size == 0:
            break
        b = beta[active]
        _f, grad, hess, _ = _shrink_parts(b, x, y[active], size[active], offset, order=1, **opts)
        small = np.abs(grad).max(axis=1) / cnst[active] <= 1e-10
        lam = np.linalg.eigvalsh(hess)[:, 0]
        shift = np.where(lam > 1e-8 * np.abs(hess).max(axis=(1, 2)), 0.0, -lam + 1e-6 + 1e-6 * np.abs(lam))
        step = -np.linalg.solve(hess + shift[:, None, None] * eye, grad[:, :, None])[:, :, 0]
        f0 = f_cur[active]
        t = np.ones(active.size)
        accepted = np.zeros(active.size, dtype=bool)
        new_b, new_f = b.copy(), f0.copy()
        todo = ~small & np.isfinite(step).all(axis=1)
        for _ls in range(50):
            if not todo.any():
                break
            idx = np.flatnonzero(todo)
            cand = b[idx] + t[idx, None] * step[idx]
            fc = _shrink_parts(cand, x, y[active[idx]], size[active[idx]], offset, order=0, **opts)[0]
            slope = (grad[idx] * step[idx]).sum(axis=1) * t[idx]
            ok = np.isfinite(fc) & (fc <= f0[idx] + 1e-4 * np.minimum(slope, 0.0) + 1e-13 * np.abs(f0[idx]))
            good = idx[ok]
            new_b[good], new_f[good] = cand[ok], fc[ok]
            accepted[good] = True
            todo[good] = False
            t[idx[~ok]] *= 0.5
        moved = np.abs(new_b - b).max(axis=1)
        rel_drop = (f0 - new_f) / np.maximum(np.maximum(np.abs(f0), np.abs(new_f)), 1.0)
        beta[active], f_cur[active] = new_b, new_f
        stop = small | (accepted & ((moved < 1e-10) | (rel_drop <= 1e-14)))
        converged[active[stop]] = True
        active = active[~(stop | ~accepted)]
    if (~converged).any():
        from pydeseq2.utils import nbinomGLM

        for j in np.flatnonzero(~converged):
            bj, _inv, conv = nbinomGLM(
                design_matrix=x,
                counts=y[j],
                size=size[j],
                offset=offset,
                prior_no_shrink_scale=prior_no_shrink_scale,
                prior_scale=prior_scale,
                optimizer="L-BFGS-B",
                shrink_index=shrink_index,
            )
            beta[j] = bj
            converged[j] = conv
    _, _, _, pyd_hess = _shrink_parts(beta, x, y, size, offset, order=1, **opts)
    return beta, np.linalg.inv(pyd_hess), converged


def lfc_shrink(
    design: np.ndarray,
    counts: np.ndarray,
    size: np.ndarray,
    offset: np.ndarray,
    *,
    prior_no_shrink_scale: float,
    prior_scale: float,
    shrink_index: int = 1,
    n_threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`lfc_shrink_block` over all genes in memory-bounded blocks on ``n_threads`` threads."""
    n, g = counts.shape
    p = np.asarray(design).shape[1]
    beta = np.empty((g, p))
    inv_h = np.empty((g, p, p))
    conv = np.empty(g, dtype=bool)
    size = np.asarray(size, dtype=float)

    def one(sl: slice) -> None:
        beta[sl], inv_h[sl], conv[sl] = lfc_shrink_block(
            design,
            counts[:, sl],
            size[sl],
            offset,
            prior_no_shrink_scale=prior_no_shrink_scale,
            prior_scale=prior_scale,
            shrink_index=shrink_index,
        )

    run_blocks(
        one, gene_blocks(g, n, n_coefs=p, block_elements=BLOCK_ELEMENTS // n_threads), n_threads=n_threads
    )
    return beta, inv_h, conv
