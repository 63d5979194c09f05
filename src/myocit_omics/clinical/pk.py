"""Baricitinib exposure per patient: observed concentrations and a one-compartment oral model.

Input: ``pk.csv`` of docs/contracts.md section 2.3 (sample_id, patient_id, visit, dose_mg,
time_since_dose_h, concentration_ng_ml as a number or ``BLQ``, lloq_ng_ml).

Model (steady state, dosing every ``tau_h`` hours, first-order absorption and elimination)::

    C(t) = 1000 * D * ka / (V * (ka - ke)) * (exp(-ke t) / (1 - exp(-ke tau))
                                              - exp(-ka t) / (1 - exp(-ka tau)))

with D in mg, V = V/F in L, CL = CL/F in L/h, ke = CL / V, C in ng/mL. Fitting is on the log
scale. First a naive-pooled population fit of (CL, V, ka) over every quantified sample, with
allometric weight scaling of CL and V when weights are known; then, per patient, CL is
re-estimated with V (scaled to the patient's weight) and ka fixed at the population values (sparse data
cannot carry three parameters per child). The formula also holds for a sample taken after a
missed dose (time since the last dose > tau), so such samples are kept. Exposure is
AUC_tau = 1000 * D / CL (ng.h/mL) and C_trough = C(tau). Where the data do not allow a fit,
the model columns are NA and ``method`` says why. Samples below the LLOQ are left out of the
fit (M1) and enter ``c_obs_mean`` as ``blq_substitution`` says.
No PK value is hard-coded; the starting values only seed the fit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from myocit_omics.clinical.core_set import _MISSING_TOKENS, _read_raw, row_numbers
from myocit_omics.config import StudyConfig
from myocit_omics.errors import InputError, Problem, ValidationFailed

PK_COLUMNS = ("sample_id", "patient_id", "visit", "dose_mg", "time_since_dose_h",
              "concentration_ng_ml", "lloq_ng_ml")
EXPOSURE_COLUMNS = ["patient_id", "dose_mg", "n_samples", "n_quantified", "c_obs_mean", "auc_model",
                    "c_trough_model", "cl_f_l_h", "method", "note"]


@dataclass(frozen=True)
class PkParams:
    """Parameters of the exposure estimates.

    Attributes
    ----------
    tau_h
        Dosing interval (24 for once daily).
    blq_substitution
        How a BLQ sample enters ``c_obs_mean``: ``half_lloq``, ``lloq``, ``zero`` or ``exclude``.
    min_population_samples
        Quantified samples (over all patients) needed for the population fit.
    min_distinct_times
        Distinct sampling times needed for the population fit.
    min_patient_samples
        Quantified samples a patient needs for an individual CL.
    start
        Starting values (CL/F L/h, V/F L, ka 1/h) for the fit.
    v_weight_exponent, cl_weight_exponent
        Allometric scaling with body weight in the population fit,
        ``V_i = V_70 * (weight_i / 70) ** v_exp`` and ``CL_i = CL_70 * (weight_i / 70) ** cl_exp``
        (the individual CL/F is then re-estimated freely). Applied when every patient with PK
        samples has a weight in patients.csv (else no scaling, and the population note says so);
        0 switches a scaling off.
    """

    tau_h: float = 24.0
    blq_substitution: Literal["half_lloq", "lloq", "zero", "exclude"] = "half_lloq"
    min_population_samples: int = 6
    min_distinct_times: int = 3
    min_patient_samples: int = 1
    start: tuple[float, float, float] = (5.0, 40.0, 1.5)
    v_weight_exponent: float = 1.0
    cl_weight_exponent: float = 0.75

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> PkParams:
        """Build from ``clinical.pk`` of study.yaml (keys as the attributes)."""
        mapping = dict((section or {}).get("pk") or {})
        unknown = sorted(set(mapping) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError("unknown PK parameter", file="study.yaml", column="clinical.pk", value=unknown,
                             expected=f"some of {sorted(cls.__dataclass_fields__)}", rule="config.pk")
        if "start" in mapping:
            mapping["start"] = tuple(float(x) for x in mapping["start"])
        params = cls(**mapping)
        if params.blq_substitution not in ("half_lloq", "lloq", "zero", "exclude"):
            raise InputError("unknown BLQ substitution", file="study.yaml",
                             column="clinical.pk.blq_substitution", value=params.blq_substitution,
                             expected="half_lloq, lloq, zero or exclude", rule="config.pk")
        return params


def read_pk(path: str | Path, *, config: StudyConfig | None = None) -> pd.DataFrame:
    """Read and check ``pk.csv``.

    Parameters
    ----------
    path
        The PK file.
    config
        Study configuration, passed to the intake reader.

    Returns
    -------
    pd.DataFrame
        The PK columns, numbers as floats (NaN = empty), ``concentration_ng_ml`` NaN for BLQ and
        a boolean ``blq`` column.

    Raises
    ------
    ValidationFailed
        Listing missing columns, non-numbers and negative values.
    """
    path = Path(path)
    raw = _read_raw(path, kind="pk", config=config).rename(columns=lambda c: str(c).strip().lower())
    return parse_pk(raw, file=str(path))


def parse_pk(raw: pd.DataFrame, *, file: str = "pk.csv") -> pd.DataFrame:
    """Check a raw PK table (strings) and return it typed (see :func:`read_pk`)."""
    rows = row_numbers(raw)
    raw = raw.reset_index(drop=True)
    problems = [Problem(file=file, column=c, message="required column is missing",
                        expected=f"a header with {c!r}", rule="pk.column")
                for c in ("patient_id", "dose_mg", "concentration_ng_ml") if c not in raw.columns]
    if problems:
        raise ValidationFailed(problems, context=file)
    out = pd.DataFrame({c: raw[c].astype(str).str.strip() if c in raw.columns else ""
                        for c in ("sample_id", "patient_id", "visit")})
    blq = np.zeros(len(raw), dtype=bool)
    for col in ("dose_mg", "time_since_dose_h", "concentration_ng_ml", "lloq_ng_ml"):
        vals = np.full(len(raw), np.nan)
        if col in raw.columns:
            for i, cell in enumerate(raw[col].astype(str)):
                text = cell.strip()
                if text.lower() in _MISSING_TOKENS:
                    continue
                if col == "concentration_ng_ml" and (text.upper() == "BLQ" or text.startswith("<")):
                    blq[i] = True
                    continue
                try:
                    v = float(text)
                except ValueError:
                    wanted = "a number or BLQ" if col == "concentration_ng_ml" else "a number"
                    problems.append(Problem(file=file, row=rows[i], column=col, value=cell,
                                            message="not a number", expected=wanted, rule="pk.number"))
                    continue
                if not math.isfinite(v) or v < 0:
                    problems.append(Problem(file=file, row=rows[i], column=col, value=cell,
                                            message="negative or not finite", expected="a number >= 0",
                                            rule="pk.range"))
                    continue
                vals[i] = v
        out[col] = vals
    out["blq"] = blq
    if problems:
        raise ValidationFailed(problems, context=file)
    return out


def concentration_ss(t: np.ndarray, dose_mg: np.ndarray, cl: float, v: float | np.ndarray, ka: float,
                     tau: float) -> np.ndarray:
    """Steady-state concentration (ng/mL) of the one-compartment oral model (module docstring).

    Parameters
    ----------
    t
        Time since the last dose (h), within one interval.
    dose_mg
        Dose per administration (mg), per observation.
    cl, v, ka
        CL/F (L/h), V/F (L), absorption rate (1/h).
    tau
        Dosing interval (h).

    Returns
    -------
    np.ndarray
        Predicted concentrations.
    """
    v = np.asarray(v, dtype=float)
    ke = cl / v
    ka = np.where(np.abs(ka - ke) < 1e-9, ke * (1 + 1e-6), ka)
    t = np.asarray(t, dtype=float)
    term = np.exp(-ke * t) / (1 - np.exp(-ke * tau)) - np.exp(-ka * t) / (1 - np.exp(-ka * tau))
    return 1000.0 * np.asarray(dose_mg, dtype=float) * ka / (v * (ka - ke)) * term


def _fit(t: np.ndarray, dose: np.ndarray, conc: np.ndarray, start: np.ndarray, tau: float,
         free: tuple[bool, bool, bool], cl_scale: np.ndarray | float = 1.0,
         v_scale: np.ndarray | float = 1.0) -> tuple[np.ndarray, bool]:
    """Least squares on log concentration over the free log-parameters; returns (params, ok)."""
    start = np.log(np.asarray(start, dtype=float))
    idx = [i for i, f in enumerate(free) if f]
    lower = np.log(np.array([0.01, 0.5, 0.05]))[idx]
    upper = np.log(np.array([500.0, 5000.0, 50.0]))[idx]

    def resid(x: np.ndarray) -> np.ndarray:
        p = start.copy()
        p[idx] = x
        cl, v, ka = np.exp(p)
        pred = concentration_ss(t, dose, cl * cl_scale, v * v_scale, ka, tau)
        return np.log(np.maximum(pred, 1e-12)) - np.log(conc)

    x0 = np.clip(start[idx], lower + 1e-6, upper - 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # exp overflow while exploring the bounds
        res = least_squares(resid, x0, bounds=(lower, upper), method="trf")
    p = start.copy()
    p[idx] = res.x
    at_bound = bool(np.any(np.isclose(res.x, lower, atol=1e-3) | np.isclose(res.x, upper, atol=1e-3)))
    return np.exp(p), bool(res.success) and not at_bound


def _modal_dose(doses: pd.Series) -> float:
    d = doses.dropna()
    if d.empty:
        return math.nan
    counts = d.value_counts()
    top = counts[counts == counts.max()].index
    return float(d[d.isin(top)].iloc[-1])  # ties: the latest recorded


def pk_exposure(pk: pd.DataFrame, *, params: PkParams | None = None,
                patients: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Exposure per patient (``tables/pk_exposure.tsv``).

    Parameters
    ----------
    pk
        Typed PK table (:func:`read_pk`).
    params
        Model parameters.
    patients
        Patients table; a patient listed there without PK samples gets a row marked
        ``no PK samples`` (never dropped).

    Returns
    -------
    tuple[pd.DataFrame, dict]
        The exposure table (:data:`EXPOSURE_COLUMNS`) and the population fit
        (``{"cl": ..., "v": ..., "ka": ..., "ok": bool, "n": int, "note": str}``).
    """
    p = params or PkParams()
    usable = pk[~pk["blq"] & pk["concentration_ng_ml"].gt(0) & pk["time_since_dose_h"].notna()
                & pk["dose_mg"].gt(0)]
    pop: dict[str, Any] = {"cl": math.nan, "v": math.nan, "ka": math.nan, "ok": False, "n": len(usable)}
    n_times = usable["time_since_dose_h"].round(2).nunique()
    weight: dict[str, float] = {}
    if patients is not None and "weight_kg" in patients.columns:
        weight = {str(k): float(v) for k, v in zip(patients["patient_id"], patients["weight_kg"], strict=True)
                  if pd.notna(v) and float(v) > 0}
    scaled = bool(len(usable)) and all(pid in weight for pid in usable["patient_id"])
    pop["weight_scaling"] = scaled and (p.v_weight_exponent != 0 or p.cl_weight_exponent != 0)

    def scales(pids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        w = np.array([weight.get(str(x), 70.0) if scaled else 70.0 for x in pids]) / 70.0
        return w**p.cl_weight_exponent, w**p.v_weight_exponent

    if len(usable) >= p.min_population_samples and n_times >= p.min_distinct_times:
        cl_s, v_s = scales(usable["patient_id"])
        est, ok = _fit(usable["time_since_dose_h"].to_numpy(), usable["dose_mg"].to_numpy(),
                       usable["concentration_ng_ml"].to_numpy(), np.array(p.start), p.tau_h,
                       (True, True, True), cl_s, v_s)
        notes_pop = [] if ok else ["population fit did not converge or hit a parameter bound"]
        if not scaled:
            notes_pop.append("no allometric scaling: a patient with PK samples has no weight")
        pop.update(cl=float(est[0]), v=float(est[1]), ka=float(est[2]), ok=ok, note="; ".join(notes_pop))
    else:
        pop["note"] = (f"population fit needs >= {p.min_population_samples} quantified samples at >= "
                       f"{p.min_distinct_times} distinct times after dose; found {len(usable)} at {n_times}")
    ids = list(dict.fromkeys(pk["patient_id"].tolist()))
    if patients is not None and len(patients):
        ids += [x for x in patients["patient_id"] if x not in ids]
    rows = []
    for pid in ids:
        sub = pk[pk["patient_id"] == pid]
        row: dict[str, Any] = {"patient_id": pid, "n_samples": len(sub),
                               "n_quantified": int((~sub["blq"] & sub["concentration_ng_ml"].notna()).sum())}
        dose = _modal_dose(sub["dose_mg"]) if len(sub) else math.nan
        if math.isnan(dose) and patients is not None and "baricitinib_dose_mg" in patients:
            match = patients.loc[patients["patient_id"] == pid, "baricitinib_dose_mg"]
            dose = float(match.iloc[0]) if len(match) else math.nan
        row["dose_mg"] = dose
        notes = []
        if sub.empty:
            row.update(c_obs_mean=math.nan, auc_model=math.nan, c_trough_model=math.nan,
                       cl_f_l_h=math.nan, method="not_estimable", note="no PK samples")
            rows.append(row)
            continue
        conc = sub["concentration_ng_ml"].copy()
        sub_lloq = sub["lloq_ng_ml"]
        if p.blq_substitution != "exclude":
            factor = {"half_lloq": 0.5, "lloq": 1.0, "zero": 0.0}[p.blq_substitution]
            conc = conc.where(~sub["blq"], sub_lloq * factor)
            if (sub["blq"] & sub_lloq.isna()).any():
                notes.append("BLQ without lloq_ng_ml left out of c_obs_mean")
        if sub["blq"].any():
            notes.append(f"{int(sub['blq'].sum())} BLQ ({p.blq_substitution} in c_obs_mean, "
                         "left out of the fit)")
        row["c_obs_mean"] = float(conc.mean()) if conc.notna().any() else math.nan
        if sub["dose_mg"].dropna().nunique() > 1:
            notes.append("dose changed between samples; model AUC and trough at the modal dose")
        mine = usable[usable["patient_id"] == pid]
        if not pop["ok"]:
            row.update(auc_model=math.nan, c_trough_model=math.nan, cl_f_l_h=math.nan,
                       method="observed_only", note="; ".join([*notes, pop["note"]]))
        elif len(mine) < p.min_patient_samples or math.isnan(dose):
            reason = ("no dose recorded" if math.isnan(dose) else
                      f"{len(mine)} quantified samples with a time after dose (need {p.min_patient_samples})")
            row.update(auc_model=math.nan, c_trough_model=math.nan, cl_f_l_h=math.nan,
                       method="observed_only", note="; ".join([*notes, reason]))
        else:
            cl_s, v_s = scales(pd.Series([pid]))
            v_i = pop["v"] * float(v_s[0])
            est, ok = _fit(mine["time_since_dose_h"].to_numpy(), mine["dose_mg"].to_numpy(),
                           mine["concentration_ng_ml"].to_numpy(),
                           np.array([pop["cl"] * float(cl_s[0]), v_i, pop["ka"]]), p.tau_h,
                           (True, False, False))
            cl = float(est[0])
            if not ok:
                notes.append("individual CL at a bound of the search range")
            row.update(cl_f_l_h=cl, auc_model=1000.0 * dose / cl,
                       c_trough_model=float(concentration_ss(np.array([p.tau_h]), np.array([dose]), cl,
                                                             v_i, pop["ka"], p.tau_h)[0]),
                       method="one_compartment_oral_ss: individual CL/F; population V/F"
                       + (" (weight-scaled)" if pop["weight_scaling"] else "") + " and ka",
                       note="; ".join(notes))
        rows.append(row)
    table = pd.DataFrame(rows, columns=EXPOSURE_COLUMNS)
    return table, pop
