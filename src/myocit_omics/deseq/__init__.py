"""Fast DESeq2 for myocit-omics: a vectorised pydeseq2 inference backend and DESeq2's VST.

Public API (stable)::

    from myocit_omics.deseq import VstTrend, fit_vst_trend, vst_transform

See :mod:`myocit_omics.deseq.vst`.
"""

from __future__ import annotations

from myocit_omics.deseq.vst import VstTrend, fit_vst_trend, vst_transform

__all__ = ["VstTrend", "fit_vst_trend", "vst_transform"]
