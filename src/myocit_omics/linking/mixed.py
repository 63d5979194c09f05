"""Linear mixed model of an IFN score over visits with corticosteroid dose (statsmodels MixedLM).

A second model without the dose is fitted as a sensitivity analysis: in a steroid taper the
dose is largely set by the visit (R2 0.98 in the demo study), so the two effects cannot be
separated, and the note of every row says so when R2 > 0.8.

``score ~ C(visit, Treatment(reference)) + prednisone_mg_kg_day``, random intercept per patient,
REML. At n = 16 this is the most the data carry (domain notes 5: one or two covariates).
Observations without a dose are left out and counted in the note; fitting warnings
(convergence, a random-effect variance on the boundary) are caught and written into the note.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from myocit_omics.clinical.core_set import visit_sort_key

METHOD = "MixedLM (REML): score ~ visit + prednisone_mg_kg_day, random intercept per patient"
METHOD_NO_DOSE = "MixedLM (REML): score ~ visit, random intercept per patient (sensitivity, no dose)"


def _na_row(term: str, n: int, note: str, method: str = METHOD) -> dict[str, Any]:
    return {"term": term, "n": n, "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan,
            "p_value": math.nan, "method": method, "note": note}


def _dose_explained_by_visit(df: pd.DataFrame) -> float:
    """R2 of the dose regressed on visit indicators (collinearity of the two fixed effects)."""
    x = pd.get_dummies(df["visit"].astype(str), dtype=float).to_numpy()
    y = df["dose_"].to_numpy(dtype=float)
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        return 1.0
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    return 1.0 - float(((y - x @ beta) ** 2).sum()) / total


def ifn_mixed_model(data: pd.DataFrame, *, reference_visit: str = "W0",
                    dose: str | None = "prednisone_mg_kg_day", value: str = "score") -> list[dict[str, Any]]:
    """Fit the mixed model to one IFN score and return one row per fixed effect.

    Parameters
    ----------
    data
        ``patient_id``, ``visit``, ``value`` and ``dose`` columns, one row per sample.
    reference_visit
        Visit the visit effects are contrasted with.
    dose
        Corticosteroid dose column (mg/kg/day); None fits ``score ~ visit`` only (the
        sensitivity model when dose and visit are confounded; ``method`` says which model).
    value
        Score column.

    Returns
    -------
    list[dict]
        Rows with ``term`` (``visit W4`` ..., ``prednisone_mg_kg_day``), ``n`` (observations
        used), ``estimate``, ``ci_low``, ``ci_high``, ``p_value``, ``method``, ``note`` (patients,
        left-out observations, warnings). A model that cannot be fitted gives one NA row saying why.
    """
    method = METHOD if dose is not None else METHOD_NO_DOSE
    df = data[["patient_id", "visit", value, *([dose] if dose else [])]].copy()
    n_all = len(df)
    keep = np.isfinite(df[value].astype(float))
    if dose is not None:
        keep &= np.isfinite(df[dose].astype(float))
    df = df[keep]
    dropped = n_all - len(df)
    notes = [f"{df['patient_id'].nunique()} patients"]
    if dropped:
        notes.append(f"{dropped} observation(s) without score or dose left out")
    visits = sorted(df["visit"].unique(), key=visit_sort_key)
    if reference_visit not in visits or len(visits) < 2 or df["patient_id"].nunique() < 3:
        return [_na_row("model", len(df), "; ".join(
            [*notes, f"needs >= 3 patients and >= 2 visits including {reference_visit}"]), method)]
    df = df.rename(columns={value: "score_", **({dose: "dose_"} if dose else {})})
    if dose is not None:
        r2 = _dose_explained_by_visit(df)
        if r2 > 0.8:
            notes.append(f"dose largely set by visit (R2 = {r2:.2f}): visit and dose effects are confounded")
    df["visit"] = pd.Categorical(df["visit"], categories=visits)
    formula = f"score_ ~ C(visit, Treatment(reference='{reference_visit}'))" + (" + dose_" if dose else "")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = smf.mixedlm(formula, df, groups=df["patient_id"]).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as exc:
            return [_na_row("model", len(df), "; ".join([*notes, f"model could not be fitted: {exc}"]),
                            method)]
    msgs = sorted({str(w.message).split("\n")[0] for w in caught})
    if msgs:
        notes.append("warnings: " + " | ".join(msgs))
    ci = fit.conf_int()
    rows = []
    for name in fit.fe_params.index:
        if name == "Intercept":
            continue
        m = re.search(r"\[T\.(.+)\]$", name)
        term = f"visit {m.group(1)} vs {reference_visit}" if m else (dose if name == "dose_" else name)
        rows.append({"term": term, "n": int(fit.nobs), "estimate": float(fit.fe_params[name]),
                     "ci_low": float(ci.loc[name, 0]), "ci_high": float(ci.loc[name, 1]),
                     "p_value": float(fit.pvalues[name]), "method": method, "note": "; ".join(notes)})
    return rows
