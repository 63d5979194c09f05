"""The Cox-Reid term ``0.5 log det(X^T W X)`` and its derivative, for every gene, by a Schur complement.

A factor design (``~ patient + visit``) has many indicator columns with disjoint supports (one
per patient but the first): their block of ``M = X^T W X`` is diagonal for every weight vector.
Ordering the columns as ``[D | V]`` (D: a greedy set of columns with pairwise disjoint supports,
V: the others, here the intercept and the visit columns) gives

    M = [[diag(d), B], [B^T, C]],   S = C - B^T diag(1/d) B   (q x q, q = number of V columns)

    log det M = sum(log d) + log det S
    tr(M^-1 dM) = sum(dd / d) + tr(S^-1 (dC - dB^T E - E^T dB + E^T diag(dd) E)),  E = diag(1/d) B

for a weight derivative ``dw`` (``dd, dB, dC`` are the blocks of ``X^T diag(dw) X``). The work
per gene is ``O(k q^2 + q^3)`` instead of the ``O(p^3)`` of a factorisation of M: for the demo
design (p = 19, k = 15, q = 4) a few hundred flops, and one Cholesky factorisation of the small
``S`` serves the value and the derivative. Without disjoint columns (k = 0), ``S = M``.
Mathematically the same numbers as a Cholesky factorisation of M; they differ by rounding only.
"""

from __future__ import annotations

import numpy as np


def disjoint_columns(design: np.ndarray) -> list[int]:
    """Return a greedy set of design columns with pairwise disjoint non-zero rows.

    Columns are taken in order of increasing support (ties by position), so indicator columns of
    a factor come before the intercept and covariates that overlap them.
    """
    x = np.asarray(design, dtype=float)
    support = x != 0
    sizes = support.sum(axis=0)
    used = np.zeros(x.shape[0], dtype=bool)
    chosen = []
    for j in sorted(range(x.shape[1]), key=lambda c: (sizes[c], c)):
        if sizes[j] == 0 or (used & support[:, j]).any():
            continue
        chosen.append(j)
        used |= support[:, j]
    return sorted(chosen)


#: Up to this size, small Cholesky factors are computed entry by entry over all genes at once;
#: LAPACK's per-matrix call costs more than the arithmetic there (measured: 10x at q = 6).
SMALL_Q = 12


def _cholesky_and_inverse(s: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Return ``L`` (lower Cholesky factor) and ``L^-1`` of every matrix of ``s`` (genes x q x q).

    None if a matrix is not positive definite (or not finite).
    """
    q = s.shape[1]
    if q > SMALL_Q:
        try:
            chol = np.linalg.cholesky(s)
        except np.linalg.LinAlgError:
            return None
        return chol, np.linalg.inv(chol)
    # genes last: every entry is a contiguous vector over genes
    a = np.ascontiguousarray(s.transpose(1, 2, 0))
    low = np.zeros_like(a)
    inv = np.zeros_like(a)
    for j in range(q):
        v = a[j, j] - np.einsum("kg,kg->g", low[j, :j], low[j, :j]) if j else a[j, j]
        if not np.all(v > 0):
            return None
        piv = np.sqrt(v)
        low[j, j] = piv
        for i in range(j + 1, q):
            low[i, j] = (a[i, j] - np.einsum("kg,kg->g", low[i, :j], low[j, :j]) if j else a[i, j]) / piv
    for i in range(q):
        inv_d = 1.0 / low[i, i]
        inv[i, i] = inv_d
        for c in range(i):
            inv[i, c] = -np.einsum("kg,kg->g", low[i, c:i], inv[c:i, c]) * inv_d
    return low.transpose(2, 0, 1), inv.transpose(2, 0, 1)


class CoxReid:
    """``0.5 log det(X^T W X)`` per gene and its derivative along ``dW``, by a Schur complement.

    Parameters
    ----------
    design
        Design matrix, samples x p (full column rank).
    """

    def __init__(self, design: np.ndarray) -> None:
        x = np.asarray(design, dtype=float)
        n, p = x.shape
        dcols = disjoint_columns(x)
        vcols = [j for j in range(p) if j not in set(dcols)]
        self.p, self.k, self.q = p, len(dcols), len(vcols)
        xd, xv = x[:, dcols], x[:, vcols]
        k, q = self.k, self.q
        # each sample lies in at most one D column: d_i = sum_j w_j xd_ji^2, B_ia = sum_j w_j xd_ji xv_ja
        prod_d = xd * xd
        prod_b = (xd[:, :, None] * xv[:, None, :]).reshape(n, k * q)
        prod_c = (xv[:, :, None] * xv[:, None, :]).reshape(n, q * q)
        products = np.concatenate([prod_d, prod_b, prod_c], axis=1)
        # factor designs repeat (and zero) many product columns: multiply by the distinct ones only
        self._unique, inverse = np.unique(products, axis=1, return_inverse=True)
        self._inverse = np.asarray(inverse).reshape(-1)
        self._dcols, self._vcols = dcols, vcols
        self._x = x
        # per sample: its D column (k: none) and the value there, for the leverages
        nonzero = xd != 0
        self._which = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), k)
        self._c = np.concatenate([xd, np.zeros((n, 1))], axis=1)[np.arange(n), self._which]
        self._xv = xv

    def _blocks(self, w: np.ndarray, ridge: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``d`` (genes x k), ``B`` (genes x k x q), ``C`` (genes x q x q) of ``X^T W X + ridge I``."""
        g, k, q = w.shape[0], self.k, self.q
        vals = (w @ self._unique)[:, self._inverse]
        d = vals[:, :k]
        b = vals[:, k : k + k * q].reshape(g, k, q)
        c = vals[:, k + k * q :].reshape(g, q, q)
        if ridge:
            d = d + ridge
            c = c + ridge * np.eye(q)
        return d, b, c

    def _factor(
        self, w: np.ndarray, ridge: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Return ``d``, ``B``, ``E = B / d`` and ``L^-1`` (``S = L L^T``), None unless S is definite."""
        d, b, c = self._blocks(w, ridge)
        e = b / d[:, :, None]
        if not self.q:
            return d, b, e, np.zeros((w.shape[0], 0, 0))
        factors = _cholesky_and_inverse(c - np.matmul(b.transpose(0, 2, 1), e))
        return None if factors is None else (d, b, e, factors[1])

    def _full(self, w: np.ndarray, ridge: float) -> np.ndarray:
        """Return every gene's ``X^T diag(w) X + ridge I`` (genes x p x p), for the fallbacks."""
        x = self._x
        return np.einsum("gn,ni,nj->gij", w, x, x) + ridge * np.eye(self.p)

    def solve(self, w: np.ndarray, rhs: np.ndarray, *, ridge: float = 0.0) -> np.ndarray:
        """Solve ``(X^T diag(w_g) X + ridge I) beta_g = rhs_g`` for every gene (``rhs`` genes x p)."""
        parts = self._factor(w, ridge)
        if parts is None:
            return np.linalg.solve(self._full(w, ridge), rhs[:, :, None])[:, :, 0]
        d, b, e, l_inv = parts
        r_d, r_v = rhs[:, self._dcols], rhs[:, self._vcols]
        t = r_v - np.einsum("gka,gk->ga", e, r_d)
        u = np.einsum("gab,gb->ga", l_inv, t)
        beta_v = np.einsum("gba,gb->ga", l_inv, u)
        beta = np.empty_like(rhs, dtype=float)
        beta[:, self._vcols] = beta_v
        beta[:, self._dcols] = (r_d - np.einsum("gka,ga->gk", b, beta_v)) / d
        return beta

    def leverages(self, w: np.ndarray, *, ridge: float = 0.0) -> np.ndarray:
        """Return ``x_j^T (X^T diag(w_g) X + ridge I)^-1 x_j`` for every gene g and sample j."""
        parts = self._factor(w, ridge)
        if parts is None:
            m_inv = np.linalg.inv(self._full(w, ridge))
            return np.einsum("ni,gij,nj->gn", self._x, m_inv, self._x)
        d, _b, e, l_inv = parts
        g = w.shape[0]
        # x_j^T M^-1 x_j = c_j^2 / d_i + z_j^T S^-1 z_j with z_j = v_j - c_j E_i (i: the D column of j)
        d_pad = np.concatenate([d, np.ones((g, 1))], axis=1)
        e_pad = np.concatenate([e, np.zeros((g, 1, self.q))], axis=1)
        z = self._xv[None, :, :] - self._c[None, :, None] * e_pad[:, self._which, :]
        y = np.einsum("gab,gnb->gna", l_inv, z)
        return self._c**2 / d_pad[:, self._which] + (y * y).sum(axis=2)

    def terms(self, w: np.ndarray, dw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Return ``0.5 log det(X^T W X)`` and, with ``dw``, ``0.5 tr((X^T W X)^-1 X^T dW X)``.

        Parameters
        ----------
        w
            Weights, genes x samples (positive).
        dw
            Derivative of the weights along the parameter, genes x samples, or None.

        Returns
        -------
        half_logdet : numpy.ndarray
            Per gene.
        half_trace : numpy.ndarray or None
            Per gene (None without ``dw``).
        """
        d, b, c = self._blocks(w)
        half = 0.5 * np.log(d).sum(axis=1)
        factors = None
        if self.q:
            e = b / d[:, :, None]
            s = c - np.matmul(b.transpose(0, 2, 1), e)
            factors = _cholesky_and_inverse(s)
            if factors is None:  # not positive definite (to rounding): LU, as for any matrix
                half = half + 0.5 * np.linalg.slogdet(s)[1]
            else:
                half = half + np.log(np.diagonal(factors[0], axis1=1, axis2=2)).sum(axis=1)
        if dw is None:
            return half, None
        dd, db, dc = self._blocks(dw)
        trace = (dd / d).sum(axis=1)
        if self.q:
            et_db = np.matmul(e.transpose(0, 2, 1), db)
            t = dc - et_db - et_db.transpose(0, 2, 1) + np.matmul(e.transpose(0, 2, 1), dd[:, :, None] * e)
            if factors is not None:
                # tr(S^-1 T) = sum((L^-1 T) * L^-1) with S = L L^T (L^-1 T L^-T is symmetric)
                l_inv = factors[1]
                trace = trace + (np.matmul(l_inv, t) * l_inv).sum(axis=(1, 2))
            else:
                trace = trace + np.trace(np.linalg.solve(s, t), axis1=1, axis2=2)
        return half, 0.5 * trace


__all__ = ["CoxReid", "disjoint_columns"]
