"""Baricitinib PK: one-compartment oral model at steady state, allometric clearance, proportional error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from myocit_omics.synthetic.cohort import Cohort, rng_for
from myocit_omics.synthetic.params import PK_VISITS, PkParameters


def steady_state_concentration(
    t_h: np.ndarray | float,
    *,
    dose_mg: float,
    cl_l_h: float,
    v_l: float,
    ka_per_h: float,
    bioavailability: float,
    tau_h: float,
) -> np.ndarray:
    """Concentration (ng/mL) ``t_h`` hours after the last of repeated oral doses every ``tau_h`` hours.

    ``C(t) = F D ka / (V (ka - k)) [exp(-k t) / (1 - exp(-k tau)) - exp(-ka t) / (1 - exp(-ka tau))]``
    with ``k = CL / V`` (valid for any ``t >= 0`` after the last dose, including missed doses).
    """
    t = np.asarray(t_h, dtype=float)
    k = cl_l_h / v_l
    amp = bioavailability * dose_mg * 1000.0 * ka_per_h / (v_l * (ka_per_h - k))
    return amp * (
        np.exp(-k * t) / (1 - np.exp(-k * tau_h)) - np.exp(-ka_per_h * t) / (1 - np.exp(-ka_per_h * tau_h))
    )


@dataclass(frozen=True)
class PkStudy:
    """PK samples as handed in, and the truth (individual parameters, true concentration)."""

    pk: pd.DataFrame
    truth: pd.DataFrame


def simulate_pk(cohort: Cohort, params: PkParameters, seed: int) -> PkStudy:
    """Simulate one PK sample per patient at W4, W8, W12 and W24.

    Parameters
    ----------
    cohort
        The cohort (weight, dose).
    params
        PK parameters (adult values scaled allometrically; paediatric values UNCONFIRMED).
    seed
        Study seed.

    Returns
    -------
    PkStudy
        ``pk``: sample_id, patient_id, visit, dose_mg, time_since_dose_h, concentration_ng_ml
        (``BLQ`` below the LLOQ), lloq_ng_ml. ``truth``: the same samples with CL, V, the true
        and the observed concentration.
    """
    rng = rng_for(seed, "pk")
    rows, truth = [], []
    for p in cohort.patients.itertuples():
        cl = (
            params.cl_70_l_h
            * (p.weight_kg / 70.0) ** params.cl_exponent
            * float(np.exp(rng.normal(0, params.iiv_cl_sd)))
        )
        v = (
            params.v_70_l
            * (p.weight_kg / 70.0) ** params.v_exponent
            * float(np.exp(rng.normal(0, params.iiv_v_sd)))
        )
        for visit in PK_VISITS:
            u = rng.random()
            if u < params.share_missed_dose:
                t = rng.uniform(30, 50)
            elif u < params.share_missed_dose + params.share_trough:
                t = rng.uniform(20, 28)
            else:
                t = rng.uniform(0.5, 6)
            t = round(float(t), 1)
            c_true = float(
                steady_state_concentration(
                    t,
                    dose_mg=p.baricitinib_dose_mg,
                    cl_l_h=cl,
                    v_l=v,
                    ka_per_h=params.ka_per_h,
                    bioavailability=params.bioavailability,
                    tau_h=params.tau_h,
                )
            )
            c_obs = max(0.0, c_true * (1.0 + rng.normal(0, params.proportional_error_sd)))
            sid = f"PK-{p.patient_id}-{visit}"
            shown = "BLQ" if c_obs < params.lloq_ng_ml else f"{c_obs:.2f}"
            rows.append(
                {
                    "sample_id": sid,
                    "patient_id": p.patient_id,
                    "visit": visit,
                    "dose_mg": p.baricitinib_dose_mg,
                    "time_since_dose_h": t,
                    "concentration_ng_ml": shown,
                    "lloq_ng_ml": params.lloq_ng_ml,
                }
            )
            truth.append(
                {
                    "sample_id": sid,
                    "patient_id": p.patient_id,
                    "visit": visit,
                    "weight_kg": p.weight_kg,
                    "dose_mg": p.baricitinib_dose_mg,
                    "time_since_dose_h": t,
                    "cl_l_h": round(cl, 4),
                    "v_l": round(v, 4),
                    "ka_per_h": params.ka_per_h,
                    "bioavailability": params.bioavailability,
                    "concentration_true_ng_ml": round(c_true, 4),
                    "concentration_obs_ng_ml": round(c_obs, 4),
                }
            )
    return PkStudy(pk=pd.DataFrame(rows), truth=pd.DataFrame(truth))
