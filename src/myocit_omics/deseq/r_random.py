"""R's random number streams (``set.seed``, Mersenne-Twister, ``rnorm``, ``rchisq``) in numpy.

Only what DESeq2's ``estimateDispersionsPriorVar`` draws is reproduced, as R 4.x does by default
(``RNGkind("Mersenne-Twister", "Inversion", "Rejection")``):

* ``set.seed(s)``: the seed is scrambled by 50 steps of the LCG ``seed = 69069 * seed + 1``
  (unsigned 32-bit), then 625 more steps fill R's state (the first word, ``mti``, is set to 624);
  the 624 others are the Mersenne-Twister state, which numpy's ``MT19937`` then runs unchanged.
* ``unif_rand``: the tempered 32-bit output times 2.3283064365386963e-10, moved into (0, 1).
* ``norm_rand`` (inversion): ``u = floor(2^27 * unif) + unif; qnorm(u / 2^27)``, two uniforms.
* ``rnorm(n, 0, 0)`` returns zeros without drawing.
* ``exp_rand`` (nmath ``sexp.c``, Ahrens & Dieter 1972) and ``rgamma`` (nmath ``rgamma.c``:
  GS for shape < 1, GD for shape >= 1); ``rchisq(df) = rgamma(df / 2, 2)``.

The gamma draws are rejection samplers that use a varying number of uniforms, so they run as a
scalar loop over a pre-drawn block of uniforms: the 200 x 10,000 draws of the prior variance
search take seconds per residual df, so their histograms are stored (see
:mod:`myocit_omics.deseq.r_prior_var`) and this module only rebuilds and checks them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

_I2_32M1 = 2.328306437080797e-10  # 1 / (2^32 - 1)
_BIG = 134217728.0  # 2^27


def mt_state(seed: int) -> np.ndarray:
    """Return the 624-word Mersenne-Twister state R's ``set.seed(seed)`` makes."""
    s = seed & 0xFFFFFFFF
    for _ in range(50):
        s = (69069 * s + 1) & 0xFFFFFFFF
    words = np.empty(625, dtype=np.uint32)
    for j in range(625):
        s = (69069 * s + 1) & 0xFFFFFFFF
        words[j] = s
    return words[1:]


class RStream:
    """R's ``unif_rand`` / ``norm_rand`` / ``exp_rand`` / ``rgamma`` after ``set.seed(seed)``."""

    def __init__(self, seed: int, block: int = 1 << 20) -> None:
        bitgen = np.random.MT19937()
        bitgen.state = {"bit_generator": "MT19937", "state": {"key": mt_state(seed), "pos": 624}}
        self._bitgen = bitgen
        self._block = block
        self._buf = np.empty(0)
        self._pos = 0

    def _refill(self, need: int) -> None:
        rest = self._buf[self._pos :]
        raw = self._bitgen.random_raw(max(self._block, need)).astype(np.float64) * 2.3283064365386963e-10
        raw = np.where(raw <= 0.0, 0.5 * _I2_32M1, raw)
        raw = np.where(1.0 - raw <= 0.0, 1.0 - 0.5 * _I2_32M1, raw)
        self._buf = np.concatenate([rest, raw])
        self._pos = 0

    def unif(self, n: int) -> np.ndarray:
        """``n`` draws of ``unif_rand()``."""
        if self._pos + n > self._buf.size:
            self._refill(n)
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out

    def norm(self, n: int) -> np.ndarray:
        """``n`` draws of ``norm_rand()`` (inversion, two uniforms each)."""
        u = self.unif(2 * n)
        v = np.floor(_BIG * u[0::2]) + u[1::2]
        return ndtri(v / _BIG)

    def rnorm(self, n: int, mean: float = 0.0, sd: float = 1.0) -> np.ndarray:
        """R's ``rnorm(n, mean, sd)``: no draws when ``sd == 0``."""
        if sd == 0:
            return np.full(n, float(mean))
        return mean + sd * self.norm(n)

    def rgamma(self, n: int, shape: float, scale: float = 1.0) -> np.ndarray:
        """R's ``rgamma(n, shape, scale = scale)``."""
        if self._pos + 8 * n + 64 > self._buf.size:
            self._refill(8 * n + 64)
        out = np.empty(n)
        buf, pos = self._buf.tolist(), self._pos
        draw = _gamma_gs if shape < 1 else _gamma_gd
        for i in range(n):
            if pos + 64 > len(buf):
                self._pos = pos
                self._refill(8 * (n - i) + 64)
                buf, pos = self._buf.tolist(), self._pos
            x, pos = draw(buf, pos, shape)
            out[i] = scale * x
        self._pos = pos
        return out

    def rchisq(self, n: int, df: float) -> np.ndarray:
        """R's ``rchisq(n, df) = rgamma(n, df / 2, scale = 2)``."""
        return self.rgamma(n, df / 2.0, 2.0)


_EXP_Q = (
    0.6931471805599453,
    0.9333736875190459,
    0.9888777961838675,
    0.9984959252914960040,
    0.9998292811061389,
    0.9999833164100727,
    0.9999985508179797,
    0.9999998906925558,
    0.9999999924734159,
    0.9999999995283275,
    0.9999999999728814,
    0.9999999999985598,
    0.9999999999999289,
    0.9999999999999968,
    0.9999999999999999,
    1.0000000000000000,
)


def _exp_rand(buf: list, pos: int) -> tuple[float, int]:
    a = 0.0
    u = buf[pos]
    pos += 1
    while True:
        u += u
        if u > 1.0:
            break
        a += _EXP_Q[0]
    u -= 1.0
    if u <= _EXP_Q[0]:
        return a + u, pos
    i = 0
    ustar = buf[pos]
    pos += 1
    umin = ustar
    while True:
        ustar = buf[pos]
        pos += 1
        if umin > ustar:
            umin = ustar
        i += 1
        if not u > _EXP_Q[i]:
            break
    return a + umin * _EXP_Q[0], pos


def _norm1(buf: list, pos: int) -> tuple[float, int]:
    u = math.floor(_BIG * buf[pos]) + buf[pos + 1]
    return float(ndtri(u / _BIG)), pos + 2


def _gamma_gs(buf: list, pos: int, a: float) -> tuple[float, int]:
    e = 1.0 + 0.36787944117144233 * a
    while True:
        p = e * buf[pos]
        pos += 1
        if p >= 1.0:
            x = -math.log((e - p) / a)
            ex, pos = _exp_rand(buf, pos)
            if ex >= (1.0 - a) * math.log(x):
                return x, pos
        else:
            x = math.exp(math.log(p) / a)
            ex, pos = _exp_rand(buf, pos)
            if ex >= x:
                return x, pos


_Q = (0.04166669, 0.02083148, 0.00801191, 0.00144121, -7.388e-5, 2.4511e-4, 2.424e-4)
_A = (0.3333333, -0.250003, 0.2000062, -0.1662921, 0.1423657, -0.1367177, 0.1233795)


def _gd_q(t: float, s: float, s2: float, q0: float) -> float:
    v = t / (s + s)
    if abs(v) <= 0.25:
        a1, a2, a3, a4, a5, a6, a7 = _A
        return q0 + 0.5 * t * t * ((((((a7 * v + a6) * v + a5) * v + a4) * v + a3) * v + a2) * v + a1) * v
    return q0 - s * t + 0.25 * t * t + (s2 + s2) * math.log(1.0 + v)


def _gamma_gd(buf: list, pos: int, a: float) -> tuple[float, int]:
    s2 = a - 0.5
    s = math.sqrt(s2)
    d = 5.656854 - s * 12.0
    t, pos = _norm1(buf, pos)
    x = s + 0.5 * t
    ret = x * x
    if t >= 0.0:
        return ret, pos
    u = buf[pos]
    pos += 1
    if d * u <= t * t * t:
        return ret, pos
    r = 1.0 / a
    q1, q2, q3, q4, q5, q6, q7 = _Q
    q0 = ((((((q7 * r + q6) * r + q5) * r + q4) * r + q3) * r + q2) * r + q1) * r
    if a <= 3.686:
        b = 0.463 + s + 0.178 * s2
        si = 1.235
        c = 0.195 / s - 0.079 + 0.16 * s
    elif a <= 13.022:
        b = 1.654 + 0.0076 * s2
        si = 1.68 / s + 0.275
        c = 0.062 / s + 0.024
    else:
        b = 1.77
        si = 0.75
        c = 0.1515 / s
    if x > 0.0:
        q = _gd_q(t, s, s2, q0)
        if math.log(1.0 - u) <= q:
            return ret, pos
    while True:
        e, pos = _exp_rand(buf, pos)
        u = buf[pos]
        pos += 1
        u = u + u - 1.0
        t = b - si * e if u < 0.0 else b + si * e
        if t >= -0.71874483771719:
            q = _gd_q(t, s, s2, q0)
            if q > 0.0:
                w = math.expm1(q)
                if c * abs(u) <= w * math.exp(e - 0.5 * t * t):
                    break
    x = s + 0.5 * t
    return x * x, pos


#: ``estimateDispersionsPriorVar``'s grid of prior variances and its histogram breaks.
PRIOR_VAR_GRID = np.linspace(0.0, 8.0, 200)
PRIOR_VAR_BREAKS = np.arange(-20, 21) / 2


def prior_var_histograms(df: int) -> np.ndarray:
    """Bin counts of R's simulated ``log(rchisq(1e4, df)) + rnorm(1e4, 0, sqrt(v)) - log(df)``.

    One row per ``v`` of :data:`PRIOR_VAR_GRID`, drawn in R's order after ``set.seed(2)``; one
    column per bin ``(b_i, b_i+1]`` of :data:`PRIOR_VAR_BREAKS` (draws outside dropped, as R does).
    """
    stream = RStream(2)
    counts = np.empty((PRIOR_VAR_GRID.size, PRIOR_VAR_BREAKS.size - 1), dtype=np.int64)
    lo, hi = PRIOR_VAR_BREAKS[0], PRIOR_VAR_BREAKS[-1]
    for i, v in enumerate(PRIOR_VAR_GRID):
        x = np.log(stream.rchisq(10_000, df)) + stream.rnorm(10_000, 0.0, math.sqrt(v)) - math.log(df)
        x = x[(x > lo) & (x < hi)]
        # right-closed bins (a, b], as R's hist
        counts[i] = np.histogram(-x, bins=-PRIOR_VAR_BREAKS[::-1])[0][::-1]
    return counts


def write_prior_var_table(path) -> None:
    """Write the histograms of :func:`prior_var_histograms` for 1, 2 and 3 residual df (TSV)."""
    rows = []
    for df in (1, 2, 3):
        for i, row in enumerate(prior_var_histograms(df)):
            rows.append("\t".join([str(df), str(i), *map(str, row.tolist())]))
    header = "\t".join(["df", "grid_index", *[f"bin{j}" for j in range(PRIOR_VAR_BREAKS.size - 1)]])
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header + "\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":  # pragma: no cover - rebuilds the stored table
    import sys

    write_prior_var_table(sys.argv[1])
