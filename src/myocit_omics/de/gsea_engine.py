"""Preranked GSEA in numpy: gseapy's statistics at fgsea's speed.

The enrichment score is the weighted Kolmogorov-Smirnov running sum of Subramanian et al. (2005)
exactly as gseapy computes it (``gseapy.algorithm.enrichment_score``): hits step up by
``|r|^weight / sum(|r_hit|^weight)``, misses step down by ``1 / (N - k)``, and the ES is the
running sum's maximum or minimum, whichever is larger in absolute value (the minimum on a tie).

The running sum is piecewise linear, so its maximum is reached right after a hit and its minimum
right before one: the ES of a set needs only the sorted positions of its ``k`` genes and their
weights, O(k) instead of O(N) (the observation behind R's fgsea, Korotkevich et al. 2021). The
gene-set permutation null of gseapy (``k`` random positions of the ranking) is therefore drawn
once per set size and shared by every set of that size, as fgsea does. NES, nominal p-value and
FDR follow gseapy's definitions (``normalize``, ``gsea_pval``, ``gsea_fdr``):

* NES = ES / mean of the null ES of the same sign;
* p = #(null ES >= ES) / #(null ES >= 0) for ES >= 0, and the mirror image for ES < 0;
* FDR = (fraction of all normalised null ES beyond the NES) / (fraction of observed NES beyond it),
  within the NES's sign, capped at 1.

Where fewer than ``min_exceed`` null ES reach the observed one, the permutation p-value has no
resolution (gseapy reports 0); the p-value is then estimated by fgsea's multilevel splitting
(Korotkevich et al. 2021, bioRxiv 060012): a population of random gene sets is pushed by
Metropolis moves above successive medians of its own ES, each level halving the probability, so
that p-values far below ``1 / permutations`` are estimated with bounded relative error.
Everything is seeded by one integer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

#: Below this many permutation ES as extreme as the observed one, the p-value is multilevel.
MIN_EXCEED = 10

#: Smallest multilevel p-value estimated; a set reaching it gets p = EPS (an upper bound), as with
#: fgsea's ``eps`` (1e-10 in its first multilevel releases, 1e-50 now). Each factor 2 costs one level:
#: on the demo's W4 vs W0 contrast the IFN sets sit far below 1e-10 and 1e-20 doubled the GSEA time.
#: 1e-10 is seven orders below the permutation resolution and beyond any multiple-testing threshold.
EPS = 1e-10


def _weights(ranking: np.ndarray, weight: float) -> np.ndarray:
    r = np.abs(np.asarray(ranking, dtype=float))
    return np.ones_like(r) if weight == 0 else r**weight


def _es_parts(pos: np.ndarray, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Running-sum values right after each hit (``up``) and right before it (``down``).

    ``pos`` is (..., k) sorted positions, ``w`` their weights; returns two (..., k) arrays.
    """
    k = pos.shape[-1]
    c = np.cumsum(w, axis=-1)
    s = c[..., -1:]
    miss = (pos - np.arange(k)) / (n - k)
    return c / s - miss, (c - w) / s - miss


def es_from_positions(pos: np.ndarray, wts: np.ndarray, n: int) -> np.ndarray:
    """Enrichment scores of gene sets given by sorted positions in the ranking.

    Parameters
    ----------
    pos
        (m, k) positions, each row sorted ascending and without repeats.
    wts
        Weights of every ranked gene (``|r|^weight``), length ``n``.
    n
        Number of ranked genes.

    Returns
    -------
    numpy.ndarray
        (m,) signed ES: the running sum's maximum when it exceeds the minimum in absolute value,
        else the minimum (gseapy's rule). The running sum ends at 0, which counts as a value.
    """
    up, down = _es_parts(pos, wts[pos], n)
    mx = np.maximum(up.max(axis=-1), 0.0)
    mn = np.minimum(down.min(axis=-1), 0.0)
    return np.where(np.abs(mx) > np.abs(mn), mx, mn)


def es_plus(pos: np.ndarray, wts: np.ndarray, n: int) -> np.ndarray:
    """Return the running sum's maximum (the positive ES) of sorted position rows."""
    up, _ = _es_parts(pos, wts[pos], n)
    return np.maximum(up.max(axis=-1), 0.0)


def running_sum(wts: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """Return the full running enrichment score (length ``n``) of one set, for plots and leading edges."""
    n = wts.size
    tag = np.zeros(n, dtype=bool)
    tag[hits] = True
    k = int(tag.sum())
    step = np.where(tag, wts / wts[tag].sum(), -1.0 / (n - k))
    return np.cumsum(step)


def random_subsets(rng: np.random.Generator, n: int, k: int, m: int) -> np.ndarray:
    """``m`` uniform random ``k``-subsets of ``range(n)``, rows sorted (int64, shape (m, k)).

    Draws with replacement and redraws repeated entries until every row is repeat-free; the
    procedure treats every position alike, so each row is a uniform k-subset.
    """
    if k > n:
        raise ValueError(f"cannot draw {k} of {n} positions")
    pos = np.sort(rng.integers(0, n, size=(m, k)), axis=1)
    while True:
        dup = np.zeros(pos.shape, dtype=bool)
        dup[:, 1:] = pos[:, 1:] == pos[:, :-1]
        n_dup = int(dup.sum())
        if n_dup == 0:
            return pos
        pos[dup] = rng.integers(0, n, size=n_dup)
        pos.sort(axis=1)


def _trigamma(x: float) -> float:
    """Asymptotic series of the trigamma function, exact to 1e-9 for x >= 20."""
    return 1 / x + 1 / (2 * x**2) + 1 / (6 * x**3) - 1 / (30 * x**5)


def _es_plus_padded(pos: np.ndarray, wts_pad: np.ndarray, inv_nk: np.ndarray, steps: np.ndarray,
                    pad: np.ndarray | None) -> np.ndarray:
    """:func:`es_plus` of (S, M, K) position blocks padded with position ``n`` (weight 0); may be negative.

    ``inv_nk`` is (S, 1, 1) ``1 / (n - k_s)``, ``steps`` (S, 1, K) ``arange(K) / (n - k_s)`` and ``pad``
    (S, 1, K) true on the padding columns (``j >= k_s``), which never count as a maximum (``None``: no
    padding).
    """
    c = np.cumsum(wts_pad[pos], axis=-1)
    c /= c[..., -1:]
    c -= pos * inv_nk
    c += steps
    if pad is not None:
        c[np.broadcast_to(pad, c.shape)] = -np.inf
    return c.max(axis=-1)


def multilevel_log_pvalues(
    wts: np.ndarray,
    ks: Sequence[int],
    ess: Sequence[float],
    *,
    rng: np.random.Generator,
    sample_size: int = 101,
    eps: float = EPS,
    max_levels: int = 400,
    rounds: int = 20,
    compiled: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate log P(ES+ >= es) of random k-subsets by fgsea's multilevel splitting, many sets at once.

    Every set keeps its own population of ``sample_size`` random subsets; the populations move in
    lockstep (one level, then ``rounds`` Metropolis rounds of one proposed swap per sample), all
    sets' samples in one numpy array padded to the largest size, so the per-call overhead of numpy
    is paid once per round for all sets rather than once per set. A set leaves the loop when its
    median reaches its ES or its probability falls below ``eps``.

    Parameters
    ----------
    wts
        Weights of the ranked genes in rank order (for negative ES pass them reversed).
    ks
        Set sizes.
    ess
        Observed positive enrichment scores, one per set.
    rng
        Random generator.
    sample_size
        Population size per level (fgsea's ``sampleSize``).
    eps
        Stop below this probability (the estimate is then ``eps``, an upper bound).
    max_levels
        Safety bound on the number of levels.
    rounds
        Metropolis rounds per level (each sample gets one proposed swap per round); 20 keeps the
        estimate unbiased within its error for set sizes 5-200 against 10^6 permutations
        (``benchmarks/gsea_speed.py --check``).
    compiled
        Move the samples with the compiled kernel (:mod:`myocit_omics.de.gsea_kernels`, numba) or
        with numpy; both give the same result bit for bit. None: the compiled one when numba is
        importable.

    Returns
    -------
    log_p : numpy.ndarray
        Natural log of the estimated probability per set.
    log2err : numpy.ndarray
        fgsea's standard deviation of log2(p) for the number of levels used, per set.
    """
    # the compiled kernel's module imports numba (~0.1 s): only when multilevel splitting runs
    from myocit_omics.de.gsea_kernels import HAVE_NUMBA

    if compiled is None:
        compiled = HAVE_NUMBA
    elif compiled and not HAVE_NUMBA:
        raise ValueError("compiled=True needs numba, which is not importable; expected compiled=None "
                         "or False")
    n = wts.size
    ks = np.asarray(ks, dtype=np.int64)
    es = np.asarray(ess, dtype=float)
    n_sets, m = ks.size, sample_size
    kmax = int(ks.max())
    wts_pad = np.append(np.asarray(wts, dtype=float), 0.0)
    pos = np.full((n_sets, m, kmax), n, dtype=np.int64)
    for s, k in enumerate(ks):
        pos[s, :, :k] = random_subsets(rng, n, int(k), m)
    cols = np.arange(kmax)
    inv_nk = (1.0 / (n - ks))[:, None, None]
    steps = cols[None, None, :] * inv_nk
    pad = cols[None, None, :] >= ks[:, None, None]
    pad = pad if pad.any() else None  # one size: no padding to mask
    score = _es_plus_padded(pos, wts_pad, inv_nk, steps, pad)
    log_p = np.zeros(n_sets)
    levels = np.zeros(n_sets, dtype=np.int64)
    active = np.ones(n_sets, dtype=bool)
    log_eps = np.log(eps)
    while True:
        bound = np.median(score, axis=1)
        above = score > bound[:, None]
        frac = above.mean(axis=1)
        # every sample tied at the median: no more splitting possible
        active &= (bound < es) & (log_p >= log_eps) & (frac > 0) & (levels < max_levels)
        act = np.flatnonzero(active)
        if act.size == 0:
            break
        log_p[act] += np.log(frac[act])
        levels[act] += 1
        new_pos = np.empty((act.size, m, kmax), dtype=np.int64)
        new_score = np.empty((act.size, m))
        for i, s in enumerate(act):
            keep = np.flatnonzero(above[s])
            pick = np.concatenate([keep, rng.choice(keep, size=m - keep.size)])
            new_pos[i] = pos[s, pick]
            new_score[i] = score[s, pick]
        if compiled:
            pos[act], score[act] = _perturb_compiled(rng, new_pos, new_score, wts_pad, n, ks[act],
                                                     bound[act], inv_nk[act], rounds)
        else:
            pos[act], score[act] = _perturb_padded(rng, new_pos, new_score, wts_pad, n, ks[act],
                                                   bound[act], inv_nk[act], steps[act],
                                                   None if pad is None else pad[act], rounds)
    hit = (score >= es[:, None]).mean(axis=1)
    with np.errstate(divide="ignore"):
        tail = np.where(hit > 0, np.log(hit), np.log(0.5 / m))
    log_p = np.maximum(log_p + tail, log_eps)
    # fgsea's error estimate: sqrt(levels * (trigamma((s + 1) / 2) - trigamma(s + 1))) / log(2)
    per_level = _trigamma((m + 1) / 2) - _trigamma(m + 1)
    log2err = np.sqrt((levels + 1) * per_level) / np.log(2)
    return log_p, log2err


def _draw_proposals(rng: np.random.Generator, k_row: np.ndarray, n: int,
                    rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw every round's proposals at once: the column to replace (below each row's ``k``), the new position.

    Per-round generator calls dominated small sets; both kernels draw here, so they follow the same
    random stream.
    """
    js = (rng.random(size=(rounds, k_row.size)) * k_row).astype(np.int64)
    qs = rng.integers(0, n, size=(rounds, k_row.size))
    return js, qs


def _perturb_compiled(
    rng: np.random.Generator, pos: np.ndarray, score: np.ndarray, wts_pad: np.ndarray, n: int,
    ks: np.ndarray, bound: np.ndarray, inv_nk: np.ndarray, rounds: int,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_perturb_padded` by the compiled kernel (:func:`~myocit_omics.de.gsea_kernels.perturb_rows`).

    Same proposals, same arithmetic: the same samples and scores bit for bit, without the per-round
    copy, sort and cumulative sum of the whole padded block.
    """
    from myocit_omics.de.gsea_kernels import perturb_rows

    n_sets, m, kmax = pos.shape
    k_row = np.repeat(ks, m)
    js, qs = _draw_proposals(rng, k_row, n, rounds)
    flat = np.ascontiguousarray(pos.reshape(n_sets * m, kmax))
    flat_score = np.ascontiguousarray(score.reshape(n_sets * m), dtype=float)
    perturb_rows(flat, flat_score, wts_pad, k_row, np.repeat(np.asarray(bound, dtype=float), m),
                 np.repeat(inv_nk.reshape(n_sets), m), js, qs)
    return flat.reshape(pos.shape), flat_score.reshape(score.shape)


def _perturb_padded(
    rng: np.random.Generator, pos: np.ndarray, score: np.ndarray, wts_pad: np.ndarray, n: int,
    ks: np.ndarray, bound: np.ndarray, inv_nk: np.ndarray, steps: np.ndarray, pad: np.ndarray | None,
    rounds: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Metropolis moves (swap one set gene for one other gene) kept only while ES+ stays above ``bound``.

    ``pos`` is (S, M, K) padded with ``n``; set ``s`` swaps one of its first ``ks[s]`` columns.
    The proposal is symmetric and the target uniform on {ES+ > bound}, so accepting exactly the
    moves that stay above the bound leaves that conditional distribution invariant. The padding
    (position ``n``) stays in the last columns, as every real position is below ``n``.
    """
    n_sets, m, kmax = pos.shape
    flat = pos.reshape(n_sets * m, kmax)
    rows = np.arange(n_sets * m)
    js, qs = _draw_proposals(rng, np.repeat(ks, m), n, rounds)
    cand = np.empty_like(pos)
    cflat = cand.reshape(n_sets * m, kmax)
    bnd = bound[:, None]
    for j, q in zip(js, qs, strict=True):
        fresh = ~(flat == q[:, None]).any(axis=1)
        np.copyto(cflat, flat)
        cflat[rows, j] = q
        cflat.sort(axis=1, kind="stable")  # timsort: linear on rows with one entry out of place
        s = _es_plus_padded(cand, wts_pad, inv_nk, steps, pad)
        ok = (fresh.reshape(n_sets, m)) & (s > bnd)
        pos[ok] = cand[ok]
        score[ok] = s[ok]
    return pos, score


def multilevel_log_pvalue(
    wts: np.ndarray,
    k: int,
    es: float,
    *,
    rng: np.random.Generator,
    sample_size: int = 101,
    eps: float = EPS,
    max_levels: int = 400,
    rounds: int = 20,
) -> tuple[float, float]:
    """Estimate log P(ES+ >= es) of one random k-subset (:func:`multilevel_log_pvalues` for one set).

    Returns
    -------
    log_p : float
        Natural log of the estimated probability.
    log2err : float
        fgsea's standard deviation of log2(p) for the number of levels used.
    """
    log_p, err = multilevel_log_pvalues(wts, [k], [es], rng=rng, sample_size=sample_size, eps=eps,
                                        max_levels=max_levels, rounds=rounds)
    return float(log_p[0]), float(err[0])


def _multilevel_groups(todo: Sequence[int], es: np.ndarray,
                       sizes: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Group the multilevel sets by the sign of their ES and by size (the largest at most twice the smallest).

    Sets of one group share one padded array in :func:`multilevel_log_pvalues`; bounding the size
    ratio bounds the padding (wasted work) at half of the array.
    """
    out = []
    for sign in (1, -1):
        idx = sorted((i for i in todo if (es[i] >= 0) == (sign > 0)), key=lambda i: (sizes[i], i))
        while idx:
            lim = 2 * sizes[idx[0]]
            group = [i for i in idx if sizes[i] <= lim]
            idx = idx[len(group):]
            out.append((sign, np.array(group, dtype=np.int64)))
    return out


@dataclass
class PrerankResult:
    """Result of :func:`prerank` for the tested sets (in input order).

    Attributes
    ----------
    names
        Set names.
    es, nes, pval, fdr
        Enrichment score, normalised ES, nominal p-value and FDR q-value per set.
    pval_method
        ``permutation`` or ``multilevel`` per set (``multilevel`` at ``eps`` is an upper bound).
    log2err
        Standard error of log2(p) for multilevel p-values (NaN for permutation ones).
    hits
        Sorted positions of each set's genes in the ranking.
    lead
        Leading-edge positions per set (gseapy's order: by rank for ES >= 0, reversed below 0).
    n_exceed
        Null ES at least as extreme as the observed one, per set.
    permutations
        Number of permutations.
    weights
        ``|r|^weight`` of the ranking (for running sums).
    """

    names: list[str]
    es: np.ndarray
    nes: np.ndarray
    pval: np.ndarray
    fdr: np.ndarray
    pval_method: list[str]
    log2err: np.ndarray
    hits: list[np.ndarray]
    lead: list[np.ndarray]
    n_exceed: np.ndarray
    permutations: int
    weights: np.ndarray = field(repr=False)

    def running_sum(self, i: int) -> np.ndarray:
        """Full running enrichment score of set ``i``."""
        return running_sum(self.weights, self.hits[i])


def _gsea_fdr(nes: np.ndarray, null_sorted: Mapping[int, np.ndarray], mult: Mapping[int, int]) -> np.ndarray:
    """Compute gseapy's ``gsea_fdr`` over the normalised nulls (each size once per set of that size)."""
    nnes = np.sort(nes)
    sizes = list(null_sorted)
    allpos = allneg = 0.0
    higher_pos = np.zeros(nes.size)
    lower_neg = np.zeros(nes.size)
    for size in sizes:
        v, c = null_sorted[size], mult[size]
        zero = np.searchsorted(v, 0.0, side="left")
        allpos += c * (v.size - zero)
        allneg += c * zero
        higher_pos += c * (v.size - np.searchsorted(v, nes, side="left"))
        lower_neg += c * np.searchsorted(v, nes, side="right")
    nes_pos = nnes.size - np.searchsorted(nnes, 0.0, side="left")
    nes_neg = np.searchsorted(nnes, 0.0, side="left")
    nes_higher = nnes.size - np.searchsorted(nnes, nes, side="left")
    nes_lower = np.searchsorted(nnes, nes, side="right")
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = (higher_pos / allpos) / (nes_higher / nes_pos)
        neg = (lower_neg / allneg) / (nes_lower / nes_neg)
    fdr = np.where(nes >= 0, pos, neg)
    fdr = np.where(np.isfinite(fdr), np.minimum(fdr, 1.0), 1.0)
    return fdr


def prerank(
    ranking: np.ndarray,
    hits: Sequence[np.ndarray],
    *,
    names: Sequence[str] | None = None,
    permutations: int = 1000,
    seed: int = 0,
    weight: float = 1.0,
    multilevel: bool = True,
    min_exceed: int = MIN_EXCEED,
    sample_size: int = 101,
    eps: float = EPS,
) -> PrerankResult:
    """Preranked GSEA of gene sets given as positions in a ranking sorted largest first.

    Parameters
    ----------
    ranking
        The ranking statistic, sorted descending (length N).
    hits
        Per set, the positions (0-based) of its genes in the ranking; repeats are ignored.
    names
        Set names (default ``set0``, ``set1``, ...).
    permutations
        Gene-set permutations per set size (p-value resolution of the permutation p-value).
    seed
        Seed of every random draw (the same seed gives the same result).
    weight
        The weighted-KS exponent (1 as in GSEA).
    multilevel
        Estimate p-values by multilevel splitting where fewer than ``min_exceed`` null ES reach
        the observed one (else such p-values are gseapy's, possibly 0).
    min_exceed
        See ``multilevel``.
    sample_size, eps
        Multilevel population size and smallest p-value estimated.

    Returns
    -------
    PrerankResult
    """
    if permutations < 1:
        raise ValueError("at least one permutation is needed")
    r = np.asarray(ranking, dtype=float)
    if r.ndim != 1 or r.size < 2:
        raise ValueError("the ranking needs at least two genes")
    if np.any(np.diff(r) > 0):
        raise ValueError("the ranking must be sorted largest first")
    n = r.size
    wts = _weights(r, weight)
    hit_list = [np.unique(np.asarray(h, dtype=np.int64)) for h in hits]
    names = list(names) if names is not None else [f"set{i}" for i in range(len(hit_list))]
    m = len(hit_list)
    if any(h.size == 0 or h.size >= n for h in hit_list):
        raise ValueError("every set needs at least one and fewer than N ranked genes")
    if any(h[0] < 0 or h[-1] >= n for h in hit_list):
        raise ValueError("positions out of the ranking")
    sizes = np.array([h.size for h in hit_list])
    es = np.empty(m)
    lead: list[np.ndarray] = []
    for i, h in enumerate(hit_list):
        up, down = _es_parts(h, wts[h], n)
        mx, mn = max(up.max(), 0.0), min(down.min(), 0.0)
        es[i] = mx if abs(mx) > abs(mn) else mn
        if es[i] >= 0:
            lead.append(h[: int(np.argmax(up)) + 1])
        else:
            lead.append(h[int(np.argmin(down)):][::-1])

    rng = np.random.default_rng(seed)
    uniq = np.unique(sizes)
    # one shared population of random subsets: the first k columns of a row in random order are
    # a uniform k-subset, so every size reuses the same draws (fgsea's nesting of sizes)
    base = rng.permuted(random_subsets(rng, n, int(uniq.max()), permutations), axis=1)
    pos_mean, neg_mean = {}, {}
    null_sorted_es: dict[int, np.ndarray] = {}
    nes_null_sorted: dict[int, np.ndarray] = {}
    mult = {int(s): int((sizes == s).sum()) for s in uniq}
    for size in uniq:
        size = int(size)
        null = es_from_positions(np.sort(base[:, :size], axis=1), wts, n)
        pos, neg = null[null >= 0], null[null < 0]
        pos_mean[size] = pos.mean() if pos.size else np.nan
        neg_mean[size] = neg.mean() if neg.size else np.nan
        null_sorted_es[size] = np.sort(null)
        normed = np.where(null >= 0, null / pos_mean[size], -null / neg_mean[size])
        nes_null_sorted[size] = np.sort(normed)
    nes = np.empty(m)
    pval = np.empty(m)
    n_exceed = np.zeros(m, dtype=np.int64)
    frac_sign = np.empty(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(m):
            size, e = int(sizes[i]), es[i]
            v = null_sorted_es[size]
            if e >= 0:
                nes[i] = e / pos_mean[size]
                n_sign = v.size - np.searchsorted(v, 0.0, side="left")
                n_exceed[i] = v.size - np.searchsorted(v, e, side="left")
            else:
                nes[i] = -e / neg_mean[size]
                n_sign = np.searchsorted(v, 0.0, side="left")
                n_exceed[i] = np.searchsorted(v, e, side="left")
            pval[i] = n_exceed[i] / n_sign if n_sign else np.nan
            frac_sign[i] = n_sign / v.size
    fdr = _gsea_fdr(nes, nes_null_sorted, mult)
    method = ["permutation"] * m
    log2err = np.full(m, np.nan)
    if multilevel:
        todo = [i for i in np.flatnonzero(n_exceed < min_exceed)
                if np.isfinite(es[i]) and frac_sign[i] > 0]
        for sign, group in _multilevel_groups(todo, es, sizes):
            w = wts if sign > 0 else wts[::-1]
            sub = np.random.default_rng([seed, sign + 1, int(group[0])])
            log_ps, errs = multilevel_log_pvalues(w, sizes[group], np.abs(es[group]), rng=sub,
                                                  sample_size=sample_size, eps=eps)
            for i, log_p, err in zip(group, log_ps, errs, strict=True):
                at_eps = log_p <= np.log(eps) + 1e-9
                pval[i] = eps if at_eps else min(1.0, max(eps, float(np.exp(log_p)) / frac_sign[i]))
                method[i] = "multilevel"
                log2err[i] = err
    return PrerankResult(names=names, es=es, nes=nes, pval=pval, fdr=fdr, pval_method=method,
                         log2err=log2err, hits=hit_list, lead=lead, n_exceed=n_exceed,
                         permutations=permutations, weights=wts)
