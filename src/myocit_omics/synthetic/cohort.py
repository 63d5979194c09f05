"""The synthetic cohort: patients, treatment, latent IFN activity and clinical response."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from myocit_omics.synthetic.params import VISIT_WEEKS, CohortParameters


def rng_for(seed: int, part: str) -> np.random.Generator:
    """Return an independent random generator for one part of the study.

    Parameters
    ----------
    seed
        The study seed.
    part
        Name of the part (``"cohort"``, ``"rnaseq"``...): each part draws from its own
        stream, so that changing one part does not change the others.

    Returns
    -------
    numpy.random.Generator
        A PCG64 generator seeded with ``[seed, crc32(part)]``.
    """
    return np.random.default_rng([int(seed), zlib.crc32(part.encode("utf-8"))])


@dataclass(frozen=True)
class Cohort:
    """The patients and their latent state.

    Attributes
    ----------
    patients
        One row per patient: patient_id, sex, age_years, weight_kg, msa_group,
        baricitinib_dose_mg, response_class, responder, ifn_low, enrolment_date.
    visits
        One row per patient and protocol visit: patient_id, visit, week, date,
        ifn_activity, activity (clinical activity relative to W0), prednisone_mg_kg_day.
    """

    patients: pd.DataFrame
    visits: pd.DataFrame


def _interp_weight(age: float, table: tuple[tuple[float, float], ...]) -> float:
    xs = [a for a, _ in table]
    ys = [w for _, w in table]
    return float(np.interp(age, xs, ys))


def prednisone_dose(week: int, weight_kg: float, *, params: CohortParameters, slow_taper: bool) -> float:
    """Return the prednisone dose (mg/kg/day) taken at a week of the study.

    Parameters
    ----------
    week
        Study week.
    weight_kg
        Body weight; the daily dose is capped at ``params.prednisone_cap_mg_day``.
    params
        The schedule (``prednisone_schedule``: week from which a dose applies).
    slow_taper
        True for non-responders: from week 12 the dose is multiplied by
        ``prednisone_slow_taper_factor``, without exceeding the week-4 dose.

    Returns
    -------
    float
        mg/kg/day, rounded to 2 decimals.
    """
    dose = params.prednisone_schedule[0][1]
    for start, value in params.prednisone_schedule:
        if week >= start:
            dose = value
    if slow_taper and week >= 12:
        w4 = dict(params.prednisone_schedule)[4]
        dose = min(dose * params.prednisone_slow_taper_factor, w4)
    dose = min(dose, params.prednisone_cap_mg_day / weight_kg)
    return round(dose, 2)


def make_cohort(seed: int, params: CohortParameters) -> Cohort:
    """Draw the cohort.

    Parameters
    ----------
    seed
        Study seed.
    params
        Cohort parameters.

    Returns
    -------
    Cohort
        Patients and per-visit latent state.
    """
    rng = rng_for(seed, "cohort")
    n = params.n_patients
    ids = [f"MYO-{i:02d}" for i in range(1, n + 1)]
    sex = np.array(["F"] * params.n_female + ["M"] * (n - params.n_female))
    rng.shuffle(sex)
    lo, hi = params.age_range
    # JDM onset peaks in mid childhood: a Beta(1.6, 2.2) over the range.
    age = np.round(lo + (hi - lo - 0.1) * rng.beta(1.6, 2.2, size=n), 1)
    weight = np.array(
        [
            _interp_weight(a, params.weight_by_age) * (1.06 if s == "M" and a >= 12 else 1.0)
            for a, s in zip(age, sex, strict=True)
        ]
    )
    weight = np.round(weight * np.exp(rng.normal(0, params.weight_log_sd, size=n)), 1)
    msa = np.array([g for g, k in params.msa_counts for _ in range(k)])
    rng.shuffle(msa)
    response = np.array([c for c, k in params.response_counts for _ in range(k)])
    rng.shuffle(response)
    dose = np.where(age >= params.dose_age_cut_years, params.dose_mg_old, params.dose_mg_young)

    ifn0 = np.clip(rng.normal(params.ifn_w0_mean, params.ifn_w0_sd, size=n), *params.ifn_w0_clip)
    ifn0 = ifn0 + np.where(msa == "anti-MDA5", params.ifn_mda5_bonus, 0.0)
    ifn_low = np.zeros(n, dtype=bool)
    for cls in ("partial", "non"):
        candidates = [i for i in range(n) if response[i] == cls and msa[i] != "anti-MDA5"]
        pick = int(rng.choice(candidates))
        ifn_low[pick] = True
        ifn0[pick] = rng.uniform(*params.ifn_low_range)

    start = date.fromisoformat(params.first_enrolment)
    offsets = np.sort(rng.integers(0, params.enrolment_window_days, size=n))
    offsets[0] = 0
    enrol = [start + timedelta(days=int(d)) for d in offsets]

    patients = pd.DataFrame(
        {
            "patient_id": ids,
            "sex": sex,
            "age_years": age,
            "weight_kg": weight,
            "msa_group": msa,
            "baricitinib_dose_mg": dose,
            "response_class": response,
            "responder": response != "non",
            "ifn_low": ifn_low,
            "enrolment_date": [d.isoformat() for d in enrol],
        }
    )

    ifn_traj = dict(params.ifn_trajectory)
    act_traj = dict(params.activity_trajectory)
    rows = []
    for i, pid in enumerate(ids):
        for k, (visit, week) in enumerate(VISIT_WEEKS.items()):
            rel_ifn = ifn_traj[response[i]][k]
            rel_act = act_traj[response[i]][k]
            if k > 0:
                rel_ifn *= float(np.exp(rng.normal(0, params.ifn_trajectory_log_sd)))
                rel_act *= float(np.exp(rng.normal(0, params.activity_log_sd)))
            rows.append(
                {
                    "patient_id": pid,
                    "visit": visit,
                    "week": week,
                    "date": (enrol[i] + timedelta(days=7 * week)).isoformat(),
                    "ifn_activity": round(float(ifn0[i] * rel_ifn), 4),
                    "activity": round(min(rel_act, 1.1), 4),
                    "prednisone_mg_kg_day": prednisone_dose(
                        week, float(weight[i]), params=params, slow_taper=response[i] == "non"
                    ),
                }
            )
    return Cohort(patients=patients, visits=pd.DataFrame(rows))
