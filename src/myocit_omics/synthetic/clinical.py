"""Clinical core set at every visit, driven by the latent clinical activity of the cohort."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from myocit_omics.synthetic.cohort import Cohort, rng_for

#: Enzyme upper limits of normal written into study.yaml (U/L; paediatric, plausible).
ENZYME_ULN: dict[str, float] = {"ck": 200.0, "aldolase": 7.6, "ldh": 300.0, "alt": 40.0, "ast": 45.0}

CORE_SET_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "visit",
    "cmas",
    "mmt8",
    "physician_global",
    "parent_global",
    "chaq",
    "ck",
    "aldolase",
    "ldh",
    "alt",
    "ast",
    "das_skin",
    "das_muscle",
    "das_total",
    "mdaat_extramuscular",
    "chq_phs",
    "chq_pss",
    "prednisone_mg_kg_day",
)
#: Cells left empty (not measured): (column, visit) candidates; a few are drawn at random.
MISSING_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("aldolase", "W8"),
    ("ldh", "W12"),
    ("chq_phs", "W8"),
    ("chq_pss", "W8"),
    ("parent_global", "W4"),
    ("mmt8", "W12"),
    ("chq_pss", "W24"),
    ("aldolase", "W4"),
)
N_MISSING = 6


@dataclass(frozen=True)
class ClinicalStudy:
    """The core set as handed in and its truth.

    Attributes
    ----------
    core_set
        One row per patient and visit, numbers (NaN = not measured).
    missing
        The cells left empty: patient_id, visit, column.
    """

    core_set: pd.DataFrame
    missing: pd.DataFrame


def simulate_clinical(cohort: Cohort, seed: int) -> ClinicalStudy:
    """Simulate the clinical core set.

    Each measure moves from the patient's W0 value towards its "healthy" value in proportion
    to the latent clinical activity (1 at W0), with measurement noise; skin (DAS skin, MDAAT)
    responds more slowly (activity ** 0.7 and ** 0.8).

    Parameters
    ----------
    cohort
        The cohort (activity and prednisone per visit).
    seed
        Study seed.

    Returns
    -------
    ClinicalStudy
        Core set and the cells left empty.
    """
    rng = rng_for(seed, "clinical")
    visits = cohort.visits
    rows = []
    for pid in cohort.patients["patient_id"]:
        w0 = {
            "cmas": rng.uniform(14, 40),
            "mmt8": rng.uniform(42, 70),
            "physician_global": rng.uniform(5.0, 8.5),
            "parent_global": rng.uniform(4.0, 9.0),
            "chaq": rng.uniform(1.0, 2.6),
            "ck": float(np.exp(rng.normal(np.log(900), 1.0))),
            "aldolase": float(np.exp(rng.normal(np.log(14), 0.5))),
            "ldh": float(np.exp(rng.normal(np.log(550), 0.35))),
            "alt": float(np.exp(rng.normal(np.log(55), 0.5))),
            "ast": float(np.exp(rng.normal(np.log(90), 0.6))),
            "das_skin": rng.uniform(4.5, 8.5),
            "das_muscle": rng.uniform(4.0, 10.0),
            "mdaat": rng.uniform(12, 35),
            "chq_phs": rng.uniform(18, 35),
            "chq_pss": rng.uniform(35, 47),
        }
        best = {
            "ck": rng.uniform(60, 140),
            "aldolase": rng.uniform(4, 7),
            "ldh": rng.uniform(180, 260),
            "alt": rng.uniform(12, 25),
            "ast": rng.uniform(18, 32),
            "chq_phs": rng.uniform(48, 56),
            "chq_pss": rng.uniform(48, 55),
        }
        for v in visits[visits.patient_id == pid].itertuples():
            act = float(v.activity)
            first = v.visit == "W0"
            noise = 0.0 if first else 1.0

            def toward(top: float, w: float, a: float, sd: float, noise: float = noise) -> float:
                return top - a * (top - w) + noise * rng.normal(0, sd)

            def enzyme(
                name: str,
                a: float,
                best: dict[str, float] = best,
                w0: dict[str, float] = w0,
                first: bool = first,
            ) -> float:
                lo = best[name]
                return lo + a * (w0[name] - lo) * (1.0 if first else float(np.exp(rng.normal(0, 0.2))))

            skin = min(9.0, max(0.0, round(act**0.7 * w0["das_skin"] + noise * rng.normal(0, 0.5))))
            muscle = min(11.0, max(0.0, round(act * w0["das_muscle"] + noise * rng.normal(0, 0.5))))
            rows.append(
                {
                    "patient_id": pid,
                    "visit": v.visit,
                    "cmas": float(np.clip(round(toward(52, w0["cmas"], act, 1.5)), 0, 52)),
                    "mmt8": float(np.clip(round(toward(80, w0["mmt8"], act, 2.0)), 0, 80)),
                    "physician_global": float(
                        np.clip(round(act * w0["physician_global"] + noise * rng.normal(0, 0.3), 1), 0, 10)
                    ),
                    "parent_global": float(
                        np.clip(round(act * w0["parent_global"] + noise * rng.normal(0, 0.6), 1), 0, 10)
                    ),
                    "chaq": float(
                        np.clip(round((act * w0["chaq"] + noise * rng.normal(0, 0.1)) * 8) / 8, 0, 3)
                    ),
                    "ck": float(round(enzyme("ck", act))),
                    "aldolase": round(enzyme("aldolase", act), 1),
                    "ldh": float(round(enzyme("ldh", act))),
                    "alt": float(round(enzyme("alt", act))),
                    "ast": float(round(enzyme("ast", act))),
                    "das_skin": skin,
                    "das_muscle": muscle,
                    "das_total": skin + muscle,
                    "mdaat_extramuscular": float(
                        np.clip(round(act**0.8 * w0["mdaat"] + noise * rng.normal(0, 1.0), 1), 0, 60)
                    ),
                    "chq_phs": round(toward(best["chq_phs"], w0["chq_phs"], act, 2.0), 1),
                    "chq_pss": round(toward(best["chq_pss"], w0["chq_pss"], act, 2.0), 1),
                    "prednisone_mg_kg_day": float(v.prednisone_mg_kg_day),
                }
            )
    core = pd.DataFrame(rows, columns=list(CORE_SET_COLUMNS))
    pids = list(cohort.patients["patient_id"])
    picks = rng.choice(len(MISSING_CANDIDATES), size=N_MISSING, replace=False)
    missing = []
    for k in sorted(int(i) for i in picks):
        column, visit = MISSING_CANDIDATES[k]
        pid = pids[int(rng.integers(len(pids)))]
        core.loc[(core.patient_id == pid) & (core.visit == visit), column] = np.nan
        missing.append({"patient_id": pid, "visit": visit, "column": column})
    return ClinicalStudy(core_set=core, missing=pd.DataFrame(missing))


def generator_tis(core: pd.DataFrame, patient_id: str, visit: str) -> float:
    """Return a Total Improvement Score as the generator sees it (for the truth folder only).

    Absolute percent change over the scale range for bounded scales, relative change for the
    most abnormal enzyme (ACR/EULAR 2016 points table, domain notes section 2a). The analysis
    code has its own implementation; this one only documents what was planted.
    """
    base = core[(core.patient_id == patient_id) & (core.visit == "W0")].iloc[0]
    fu = core[(core.patient_id == patient_id) & (core.visit == visit)].iloc[0]

    def band(pct: float, cuts: tuple[float, ...], points: tuple[float, ...]) -> float:
        score = 0.0
        for cut, pts in zip(cuts, points, strict=True):
            if pct > cut:
                score = pts
        return score

    def change(col: str, rng_: float, higher_better: bool) -> float:
        if pd.isna(base[col]) or pd.isna(fu[col]):
            return 0.0
        d = (fu[col] - base[col]) if higher_better else (base[col] - fu[col])
        return 100.0 * d / rng_

    enzymes = [c for c in ("ck", "aldolase", "ldh", "alt", "ast") if pd.notna(base[c]) and pd.notna(fu[c])]
    worst = max(enzymes, key=lambda c: base[c] / ENZYME_ULN[c])
    enzyme_pct = 100.0 * (base[worst] - fu[worst]) / base[worst]
    return (
        band(change("physician_global", 10, False), (5, 15, 25, 40), (7.5, 15, 17.5, 20))
        + band(change("parent_global", 10, False), (5, 15, 25, 40), (2.5, 5, 7.5, 10))
        + band(change("mmt8", 80, True), (2, 10, 20, 30), (10, 20, 27.5, 32.5))
        + band(change("chaq", 3, False), (5, 15, 25, 40), (5, 7.5, 7.5, 10))
        + band(enzyme_pct, (5, 15, 25, 40), (2.5, 5, 7.5, 7.5))
        + band(change("mdaat_extramuscular", 60, False), (5, 15, 25, 40), (7.5, 12.5, 15, 20))
    )
