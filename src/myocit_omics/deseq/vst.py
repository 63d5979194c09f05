"""DESeq2's variance-stabilising transformation (VST) from a parametric dispersion trend.

numpy/scipy only (no pydeseq2 objects; no refitting when a trend is at hand)::

    trend = fit_vst_trend(counts, size_factors)             # blind (design ~ 1), DESeq2 blind=TRUE
    trend = fit_vst_trend(counts, size_factors, design=X)   # from the design, blind=FALSE
    trend = VstTrend.from_deseq(dds)                        # the trend of a DE fit (no refitting)
    trend = VstTrend.from_coeffs(a0, a1)                    # fitted elsewhere, e.g. a frozen reference
    vst = vst_transform(counts, size_factors, trend)        # samples x genes, log2 scale

``counts`` is a samples x genes array of raw integer counts (AnnData / pydeseq2 layout) and
``size_factors`` one positive value per sample. The trend is DESeq2's
``dispersion(mean) = a0 + a1 / mean`` (``asymptDisp + extraPois / mean``) fitted to the
gene-wise Cox-Reid dispersion MLEs by a gamma GLM, dropping outlying genes as DESeq2 does; the
transform is DESeq2's closed form for that trend, on the log2 scale as DESeq2 (and pydeseq2's
``vst()``) returns it::

    log2((1 + a1 + 2 a0 q + 2 sqrt(a0 q (1 + a1 + a0 q))) / (4 a0)),  q = counts / size_factor

When the parametric fit fails, the trend falls back to DESeq2's mean dispersion (``kind ==
"mean"``) and the transform to its closed form for a constant dispersion, as pydeseq2 does.
These signatures are stable: the expression step builds ``layers["vst"]`` on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import trim_mean

from myocit_omics.deseq.dispersion import (
    alpha_mle,
    default_threads,
    lin_reg_mu,
    moments_dispersions,
    parametric_trend,
    rough_dispersions,
)
from myocit_omics.deseq.glm import irls

__all__ = ["VstTrend", "fit_vst_trend", "vst_transform"]


@dataclass(frozen=True)
class VstTrend:
    """A fitted dispersion trend for the VST.

    Attributes
    ----------
    a0
        Asymptotic dispersion (``asymptDisp``).
    a1
        Extra-Poisson term (``extraPois``); the trend is ``a0 + a1 / mean``.
    kind
        ``"parametric"``, or ``"mean"`` when the parametric fit failed and ``mean_disp`` is used.
    mean_disp
        The trimmed mean dispersion (only for ``kind == "mean"``).
    blind
        True when fitted with an intercept-only design.
    n_genes
        Number of genes the trend was fitted on (0 when given as coefficients).
    """

    a0: float
    a1: float
    kind: Literal["parametric", "mean"] = "parametric"
    mean_disp: float | None = None
    blind: bool = True
    n_genes: int = 0

    @classmethod
    def from_coeffs(cls, a0: float, a1: float, *, blind: bool = False) -> VstTrend:
        """Wrap trend coefficients fitted elsewhere (e.g. a frozen reference or a DE fit)."""
        if not (np.isfinite(a0) and np.isfinite(a1)) or a0 <= 0 or a1 < 0:
            msg = f"VST trend coefficients a0={a0!r}, a1={a1!r}: expected finite a0 > 0 and a1 >= 0"
            raise ValueError(msg)
        return cls(a0=float(a0), a1=float(a1), blind=blind)

    @classmethod
    def from_deseq(cls, dds: Any) -> VstTrend:
        """Take the dispersion trend of a fitted pydeseq2 ``DeseqDataSet`` (no refitting).

        This is DESeq2's ``blind=FALSE`` VST: the trend of the DE fit, design included.

        Raises
        ------
        ValueError
            If the data set has no fitted dispersion trend yet.
        """
        kind = dds.uns.get("disp_function_type")
        if kind == "parametric":
            a0, a1 = (float(v) for v in np.asarray(dds.uns["trend_coeffs"], dtype=float))
            return cls(a0=a0, a1=a1, blind=False, n_genes=int(np.sum(dds.var["non_zero"])))
        if kind == "mean":
            return cls(a0=np.nan, a1=np.nan, kind="mean", mean_disp=float(dds.uns["mean_disp"]), blind=False)
        msg = (
            f"the DeseqDataSet has disp_function_type={kind!r}: expected a fitted dispersion trend "
            "('parametric' or 'mean'); run deseq2() or fit_dispersion_trend() first"
        )
        raise ValueError(msg)

    def dispersion(self, mean: np.ndarray) -> np.ndarray:
        """Return the trend's dispersion at the given normalised means."""
        if self.kind == "mean":
            return np.full_like(np.asarray(mean, dtype=float), float(self.mean_disp))
        return self.a0 + self.a1 / np.asarray(mean, dtype=float)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready description (for manifests and frozen references)."""
        return {
            "a0": self.a0,
            "a1": self.a1,
            "kind": self.kind,
            "mean_disp": self.mean_disp,
            "blind": self.blind,
            "n_genes": self.n_genes,
        }


def _check_inputs(counts: np.ndarray, size_factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(counts)
    sf = np.asarray(size_factors, dtype=float)
    if c.ndim != 2:
        msg = f"counts has shape {c.shape}: expected a 2-D samples x genes array"
        raise ValueError(msg)
    if sf.shape != (c.shape[0],):
        msg = f"size_factors has shape {sf.shape}: expected one value per sample, shape ({c.shape[0]},)"
        raise ValueError(msg)
    bad = np.flatnonzero(~np.isfinite(sf) | (sf <= 0))
    if bad.size:
        msg = f"size_factors[{bad[0]}] = {sf[bad[0]]!r}: expected finite positive size factors"
        raise ValueError(msg)
    cf = c.astype(float, copy=False)
    if not np.isfinite(cf).all() or (cf < 0).any():
        pos = np.argwhere(~np.isfinite(cf) | (cf < 0))[0]
        msg = (
            f"counts[sample {pos[0]}, gene {pos[1]}] = {cf[pos[0], pos[1]]!r}: "
            "expected finite non-negative counts"
        )
        raise ValueError(msg)
    return cf, sf


def fit_vst_trend(
    counts: np.ndarray,
    size_factors: np.ndarray,
    *,
    design: np.ndarray | None = None,
    min_disp: float = 1e-8,
    max_disp: float = 10.0,
    min_mu: float = 0.5,
    n_cpus: int | None = None,
) -> VstTrend:
    """Fit DESeq2's parametric dispersion trend for the VST.

    Gene-wise dispersions are the Cox-Reid adjusted MLEs (started from DESeq2's moment
    estimates, with means from a linear fit when the design has one row pattern per column and
    from IRLS otherwise), then the gamma-GLM trend with DESeq2's outlier iterations.

    Parameters
    ----------
    counts
        Raw counts, samples x genes.
    size_factors
        One per sample (e.g. median-of-ratios against a frozen reference).
    design
        Design matrix (samples x p, with intercept). None fits blind (intercept only), as
        DESeq2's ``blind=TRUE`` and pydeseq2's ``vst(use_design=False)``.
    min_disp, max_disp, min_mu
        DESeq2's bounds (``max_disp`` is raised to the number of samples, as DESeq2 does).
    n_cpus
        Threads for the gene-wise fits (None: every CPU).

    Returns
    -------
    VstTrend
        The fitted trend (``kind == "mean"`` if the parametric fit failed).

    Raises
    ------
    ValueError
        On malformed inputs, or when no gene has a non-zero count.
    """
    c, sf = _check_inputs(counts, size_factors)
    n = c.shape[0]
    blind = design is None
    x = np.ones((n, 1)) if design is None else np.asarray(design, dtype=float)
    if x.shape[0] != n:
        msg = f"design has {x.shape[0]} rows: expected one row per sample ({n})"
        raise ValueError(msg)
    max_disp = max(max_disp, n)
    nonzero = ~(c == 0).all(axis=0)
    if not nonzero.any():
        msg = "every gene has only zero counts: expected at least one gene with a non-zero count"
        raise ValueError(msg)
    cnz = c[:, nonzero]
    normed = cnz / sf[:, None]
    normed_means = normed.mean(axis=0)
    alpha_hat = np.clip(
        np.minimum(rough_dispersions(normed, x), moments_dispersions(normed, sf)), min_disp, max_disp
    )
    threads = default_threads(n_cpus)
    n_patterns = len(np.unique(x, axis=0))
    if n_patterns == x.shape[1]:
        mu = lin_reg_mu(cnz, sf, x, min_mu=min_mu)
    else:
        _, mu, _, _ = irls(cnz, sf, x, alpha_hat, min_mu=min_mu, n_threads=threads)
    disp, _ = alpha_mle(cnz, mu, alpha_hat, design=x, min_disp=min_disp, max_disp=max_disp, n_threads=threads)
    disp = np.clip(disp, min_disp, max_disp)
    coeffs, used = parametric_trend(normed_means, disp)
    if coeffs is None:
        use = disp > 10 * min_disp
        mean_disp = float(trim_mean(disp[use], proportiontocut=0.001))
        return VstTrend(
            a0=np.nan, a1=np.nan, kind="mean", mean_disp=mean_disp, blind=blind, n_genes=int(use.sum())
        )
    return VstTrend(a0=float(coeffs[0]), a1=float(coeffs[1]), blind=blind, n_genes=int(used.sum()))


def vst_transform(counts: np.ndarray, size_factors: np.ndarray, trend: VstTrend) -> np.ndarray:
    """Apply DESeq2's closed-form VST for ``trend`` (log2 scale), samples x genes.

    Parameters
    ----------
    counts
        Raw counts, samples x genes.
    size_factors
        One per sample.
    trend
        From :func:`fit_vst_trend` or :meth:`VstTrend.from_coeffs`.

    Returns
    -------
    numpy.ndarray
        VST values, same shape as ``counts``.
    """
    c, sf = _check_inputs(counts, size_factors)
    q = c / sf[:, None]
    if trend.kind == "mean":
        d = float(trend.mean_disp)
        return (2 * np.arcsinh(np.sqrt(d * q)) - np.log(d) - np.log(4)) / np.log(2)
    a0, a1 = trend.a0, trend.a1
    return np.log2((1 + a1 + 2 * a0 * q + 2 * np.sqrt(a0 * q * (1 + a1 + a0 * q))) / (4 * a0))
