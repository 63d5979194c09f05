"""Compiled (numba) kernel of the GSEA engine's multilevel splitting: fgsea's incremental moves.

A Metropolis round of :func:`myocit_omics.de.gsea_engine.multilevel_log_pvalues` proposes, for every
sample (a sorted row of set positions), to replace one position by a random one; numpy pays a copy, a
sort and a cumulative sum over the whole padded (sets x samples x genes) block per round. Here each
row is walked through its rounds on its own, as fgsea's C++ does (``fgseaMultilevelSupplement``):
the proposal is placed by one shift of the sorted row, O(k), and its ES+ is one pass over the k
positions, with no temporary arrays.

The proposals are drawn by the caller with numpy, exactly as the numpy kernel draws them, and every
floating-point operation is the numpy kernel's in the same order (cumulative sum left to right, then
divide, subtract, add), so both kernels give the same samples and scores bit for bit
(``tests/de/test_gsea_engine.py``). numba compiles on first use and caches the machine code next to
this file (``cache=True``), so the compile cost is paid once per installation, not per run.
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a declared dependency; the numpy kernel remains
    njit = None

#: True when the compiled kernel is available (numba importable).
HAVE_NUMBA = njit is not None


def _perturb_rows(pos: np.ndarray, score: np.ndarray, wts_pad: np.ndarray, k_row: np.ndarray,
                  bound_row: np.ndarray, inv_row: np.ndarray, js: np.ndarray, qs: np.ndarray) -> None:
    """Apply ``js.shape[0]`` rounds of proposals to every row of ``pos`` in place (see the module doc).

    Parameters
    ----------
    pos
        (R, K) int64 rows, the first ``k_row[r]`` entries sorted and repeat-free, the rest padding.
    score
        (R,) ES+ of each row, updated with the accepted moves.
    wts_pad
        Gene weights in rank order (the padding position's weight is never read here).
    k_row, bound_row, inv_row
        Per row: set size, the level's bound (a move is kept only if ES+ stays above it) and
        ``1 / (n - k)``.
    js, qs
        (rounds, R) proposals: replace entry ``js[t, r]`` of row ``r`` by position ``qs[t, r]``.
    """
    n_rows, width = pos.shape
    cand = np.empty(width, dtype=np.int64)
    cw = np.empty(width)
    for r in range(n_rows):
        k = k_row[r]
        inv = inv_row[r]
        bnd = bound_row[r]
        row = pos[r]
        for t in range(js.shape[0]):
            q = qs[t, r]
            j = js[t, r]
            # q already in the (sorted) row: the proposal is refused
            lo, hi = 0, k
            while lo < hi:
                mid = (lo + hi) // 2
                if row[mid] < q:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < k and row[lo] == q:
                continue
            # the row without entry j, with q at its sorted place; its weights summed in that order
            a = 0
            placed = False
            total = 0.0
            for i in range(k):
                if i == j:
                    continue
                v = row[i]
                if not placed and q < v:
                    cand[a] = q
                    cw[a] = wts_pad[q]
                    total += cw[a]
                    a += 1
                    placed = True
                cand[a] = v
                cw[a] = wts_pad[v]
                total += cw[a]
                a += 1
            if not placed:
                cand[a] = q
                cw[a] = wts_pad[q]
                total += cw[a]
            # ES+ exactly as the numpy kernel: cumsum / total - pos / (n - k) + i / (n - k)
            c = 0.0
            best = -np.inf
            for i in range(k):
                c += cw[i]
                val = c / total
                val -= cand[i] * inv
                val += i * inv
                if val > best:
                    best = val
            if best > bnd:
                for i in range(k):
                    row[i] = cand[i]
                score[r] = best


perturb_rows = njit(cache=True, nogil=True)(_perturb_rows) if HAVE_NUMBA else None
