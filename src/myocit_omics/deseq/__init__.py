"""Fast DESeq2 for myocit-omics: a vectorised pydeseq2 inference backend and DESeq2's VST.

Public API (stable; the DE and expression steps build on it)::

    from myocit_omics.deseq import make_inference, fit_deseq, VstTrend, fit_vst_trend, vst_transform

    inference = make_inference()                    # FastInference (default) or, fast=False, pydeseq2's
    dds = fit_deseq(counts, metadata, "~ patient_id + visit")   # a fitted pydeseq2 DeseqDataSet
    stats = DeseqStats(dds, contrast=["visit", "W4", "W0"], inference=dds.inference)
    stats.summary()                                 # as with stock pydeseq2, all genes vectorised

    trend = fit_vst_trend(counts_array, size_factors)           # blind VST trend (design ~ 1)
    vst = vst_transform(counts_array, size_factors, trend)      # samples x genes, log2 scale

``counts`` are samples x genes (the AnnData / pydeseq2 layout). :class:`FastInference`
(:mod:`myocit_omics.deseq.inference`) implements every method of
:class:`pydeseq2.inference.Inference` with array operations over all genes, at a fraction of the
time (see ``benchmarks/de_speed.py``). By default (``behaviour="R"``) the fit follows R DESeq2's
rules where pydeseq2 0.5.4 departs from them (:mod:`myocit_omics.deseq.r_dispersion`; the list and
the agreement grid against R are in ``docs/deseq_agreement.md``); with ``behaviour="pydeseq2"``
results match stock pydeseq2 to its optimiser's tolerance (see ``tests/deseq``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydeseq2.dds import DeseqDataSet
from pydeseq2.default_inference import DefaultInference
from pydeseq2.inference import Inference

from myocit_omics.deseq.dataset import FastDeseqDataSet
from myocit_omics.deseq.inference import FastInference
from myocit_omics.deseq.vst import VstTrend, fit_vst_trend, vst_transform

__all__ = [
    "FastDeseqDataSet",
    "FastInference",
    "VstTrend",
    "fit_deseq",
    "fit_vst_trend",
    "make_inference",
    "vst_transform",
]


def make_inference(
    *, fast: bool = True, n_cpus: int | None = None, behaviour: Literal["R", "pydeseq2"] = "R"
) -> Inference:
    """Return the inference backend the project uses for DESeq2.

    Parameters
    ----------
    fast
        True (the project default) for the vectorised :class:`FastInference`; False for stock
        pydeseq2 (:class:`pydeseq2.default_inference.DefaultInference`).
    n_cpus
        Processes for stock pydeseq2 (ignored by the vectorised backend, which runs in-process).
    behaviour
        ``"R"`` (default) or ``"pydeseq2"``: whose rules the vectorised backend follows where they
        differ (see :class:`FastInference`; stock pydeseq2 always follows its own).

    Returns
    -------
    pydeseq2.inference.Inference
        An object to pass as ``inference=`` to ``DeseqDataSet`` and ``DeseqStats``.
    """
    if fast:
        return FastInference(n_cpus=n_cpus, behaviour=behaviour)
    return DefaultInference(n_cpus=n_cpus)


def _check_counts(counts: pd.DataFrame, metadata: pd.DataFrame) -> None:
    if not isinstance(counts, pd.DataFrame) or not isinstance(metadata, pd.DataFrame):
        msg = (
            f"counts is a {type(counts).__name__} and metadata a {type(metadata).__name__}: "
            "expected two pandas DataFrames (counts samples x genes, metadata indexed by sample)"
        )
        raise TypeError(msg)
    missing = counts.index.difference(metadata.index)
    extra = metadata.index.difference(counts.index)
    if len(missing) or len(extra):
        msg = (
            f"counts and metadata name different samples: {list(missing[:5])} only in counts, "
            f"{list(extra[:5])} only in metadata; expected the same sample ids in both"
        )
        raise ValueError(msg)
    values = counts.to_numpy()
    if not np.issubdtype(values.dtype, np.number):
        msg = f"counts have dtype {values.dtype}: expected integer counts"
        raise ValueError(msg)
    bad = ~np.isfinite(values) | (values < 0) | (values % 1 != 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        msg = (
            f"counts at sample {counts.index[i]!r}, gene {counts.columns[j]!r} = {values[i, j]!r}: "
            "expected non-negative integer counts"
        )
        raise ValueError(msg)


def fit_deseq(
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    design: str,
    *,
    inference: Inference | None = None,
    refit_cooks: bool = True,
    quiet: bool = True,
    behaviour: Literal["R", "pydeseq2"] = "R",
    **options: Any,
) -> DeseqDataSet:
    """Fit DESeq2 (size factors, dispersions, LFCs, Cook's distances and refit) with pydeseq2.

    Parameters
    ----------
    counts
        Raw integer counts, samples x genes.
    metadata
        One row per sample (same index as ``counts``) with the design variables.
    design
        A formulaic formula, e.g. ``"~ patient_id + visit"``.
    inference
        The backend; default :func:`make_inference` (the vectorised :class:`FastInference`).
    refit_cooks
        Replace Cook's-distance outliers and refit, as DESeq2 does (default True).
    quiet
        Silence pydeseq2's progress messages.
    behaviour
        ``"R"`` (default): R DESeq2's rules where pydeseq2 departs from them (dispersion
        estimates, trend, prior variance, Wald weights; see ``docs/deseq_agreement.md``);
        ``"pydeseq2"``: pydeseq2 0.5.4's own.
    **options
        Further keyword arguments of :class:`pydeseq2.dds.DeseqDataSet` (``min_replicates``,
        ``fit_type``, ``size_factors_fit_type``, ``min_mu``, ...).

    Returns
    -------
    pydeseq2.dds.DeseqDataSet
        The fitted data set (a :class:`FastDeseqDataSet`); its ``inference`` attribute is the
        backend to pass on to ``DeseqStats``.

    Raises
    ------
    ValueError
        When counts and metadata disagree on the samples or counts are not non-negative integers.
    """
    _check_counts(counts, metadata)
    dds = FastDeseqDataSet(
        counts=counts,
        metadata=metadata.loc[counts.index],
        design=design,
        inference=inference if inference is not None else make_inference(behaviour=behaviour),
        refit_cooks=refit_cooks,
        quiet=quiet,
        behaviour=behaviour,
        **options,
    )
    dds.deseq2()
    return dds
