"""PK/PD: per-patient baricitinib exposure against the fall of the IFN score at W4.

The fall is ``score(W0) - score(W4)`` (positive = the signature went down), so a positive
Spearman rho means "more exposure, larger fall". Exposure metrics are the columns of
``tables/pk_exposure.tsv``: the observed mean concentration and, where the model allowed, the
model-based AUC_tau and C_trough. A suggested analysis (domain notes 4), not a published one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from myocit_omics.linking.stats import spearman

EXPOSURE_METRICS = ("c_obs_mean", "auc_model", "c_trough_model")


def exposure_vs_fall(exposure: pd.DataFrame, fall: pd.Series, *, seed: int, n_boot: int = 2000,
                     n_perm: int = 9999) -> list[dict[str, Any]]:
    """Spearman of each exposure metric with the IFN fall.

    Parameters
    ----------
    exposure
        ``pk_exposure.tsv`` (patient_id and the metrics).
    fall
        IFN fall by patient_id.
    seed, n_boot, n_perm
        Resampling settings.

    Returns
    -------
    list[dict]
        One row per metric present: ``metric`` and the :func:`~myocit_omics.linking.stats.spearman`
        fields; a metric with no value for any patient gives an NA row saying so.
    """
    rows = []
    by_patient = exposure.set_index("patient_id")
    common = [p for p in by_patient.index if p in fall.index]
    for metric in EXPOSURE_METRICS:
        if metric not in by_patient.columns:
            continue
        x = pd.to_numeric(by_patient.loc[common, metric], errors="coerce").to_numpy(dtype=float)
        y = fall.loc[common].to_numpy(dtype=float)
        res = spearman(x, y, seed=seed, n_boot=n_boot, n_perm=n_perm)
        if pd.isna(x).all():
            res["note"] = f"{metric} not available for any patient (see pk_exposure.tsv method)"
        rows.append({"metric": metric, **res})
    return rows
