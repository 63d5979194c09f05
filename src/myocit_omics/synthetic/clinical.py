"""Clinical core set at every visit, driven by the latent clinical activity of the cohort."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from myocit_omics.errors import AnalysisError
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
#: At most this many redraws of a patient's follow-up visits (see :func:`simulate_clinical`).
MAX_REDRAWS = 200


@dataclass(frozen=True)
class ClinicalStudy:
    """The core set as handed in and its truth.

    Attributes
    ----------
    core_set
        One row per patient and visit, numbers (NaN = not measured).
    missing
        The cells left empty: patient_id, visit, column.
    redraws
        Patient -> how many times its follow-up visits were drawn again to agree with its
        response class (patients drawn once are absent).
    """

    core_set: pd.DataFrame
    missing: pd.DataFrame
    redraws: dict[str, int] = field(default_factory=dict)


def simulate_clinical(cohort: Cohort, seed: int) -> ClinicalStudy:
    """Simulate the clinical core set.

    Each measure moves from the patient's W0 value towards its "healthy" value in proportion
    to the latent clinical activity (1 at W0), with measurement noise; skin (DAS skin, MDAAT)
    responds more slowly (activity ** 0.7 and ** 0.8). A few cells are then left empty.

    The core set must say what the planted response class says (:func:`agrees_with_class`:
    the class is defined by the TIS and PRINTO inactive disease at W24). When a patient's draw
    does not, the follow-up visits (W4-W24) of that patient are drawn again, from the patient's
    own stream ``clinical/<patient>/<attempt>``, with the same W0 and "healthy" values and the
    same empty cells, until they do: the measurement noise is drawn conditionally on the class.
    The other patients and the empty cells keep the values of the first draw.

    Parameters
    ----------
    cohort
        The cohort (activity, response class and prednisone per visit).
    seed
        Study seed.

    Returns
    -------
    ClinicalStudy
        Core set, the cells left empty and the number of redraws per patient.

    Raises
    ------
    RuntimeError
        When a patient's core set does not agree with its class after :data:`MAX_REDRAWS`.
    """
    rng = rng_for(seed, "clinical")
    visits = cohort.visits
    pids = list(cohort.patients["patient_id"])
    levels: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
    rows: list[dict[str, object]] = []
    for pid in pids:
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
        levels[pid] = (w0, best)
        rows += _patient_rows(visits[visits.patient_id == pid], w0, best, rng)
    core = pd.DataFrame(rows, columns=list(CORE_SET_COLUMNS))
    picks = rng.choice(len(MISSING_CANDIDATES), size=N_MISSING, replace=False)
    missing = []
    for k in sorted(int(i) for i in picks):
        column, visit = MISSING_CANDIDATES[k]
        pid = pids[int(rng.integers(len(pids)))]
        core.loc[(core.patient_id == pid) & (core.visit == visit), column] = np.nan
        missing.append({"patient_id": pid, "visit": visit, "column": column})
    missing_df = pd.DataFrame(missing)

    classes = dict(zip(cohort.patients["patient_id"], cohort.patients["response_class"], strict=True))
    redraws: dict[str, int] = {}
    for pid in pids:
        attempt = 0
        while not agrees_with_class(core, pid, str(classes[pid])):
            attempt += 1
            if attempt > MAX_REDRAWS:
                msg = (
                    f"the clinical core set of {pid} does not agree with its planted response class "
                    f"{classes[pid]!r} after {MAX_REDRAWS} redraws (seed {seed})"
                )
                raise AnalysisError(msg)
            own = rng_for(seed, f"clinical/{pid}/{attempt}")
            w0, best = levels[pid]
            patient_visits = _steered(visits[visits.patient_id == pid], str(classes[pid]), attempt)
            redrawn = pd.DataFrame(
                _patient_rows(patient_visits, w0, best, own), columns=list(CORE_SET_COLUMNS)
            )
            mine = core.index[core.patient_id == pid]
            redrawn.index = mine
            core.loc[mine, :] = redrawn
            for cell in missing:
                if cell["patient_id"] == pid:
                    here = (core.patient_id == pid) & (core.visit == cell["visit"])
                    core.loc[here, cell["column"]] = np.nan
        if attempt:
            redraws[pid] = attempt
    return ClinicalStudy(core_set=core, missing=missing_df, redraws=redraws)


#: After this many failed redraws, a patient's follow-up activity is steered towards its class.
STEER_EVERY = 20
#: Each steering step keeps this share of the distance (to no change for "non", to zero for "complete").
STEER_KEEP = 0.8


def _steered(patient_visits: pd.DataFrame, response_class: str, attempt: int) -> pd.DataFrame:
    """Return the visits with the follow-up activity steered towards the class after many redraws.

    With some seeds a non-responder's planted activity falls far enough that measurement noise
    alone almost never keeps its W24 TIS below 30 (or a complete responder's never reaches 70 with
    inactive disease). Every :data:`STEER_EVERY` failed redraws, the non-responder keeps
    :data:`STEER_KEEP` of its fall in activity (a complete responder: of its remaining activity),
    so the redraws converge. Fewer redraws than that leave the activity untouched.
    """
    steps = attempt // STEER_EVERY
    if not steps or response_class not in ("non", "complete"):
        return patient_visits
    out = patient_visits.copy()
    follow = out["visit"] != "W0"
    keep = STEER_KEEP**steps
    act = out.loc[follow, "activity"].astype(float)
    out.loc[follow, "activity"] = 1.0 - (1.0 - act) * keep if response_class == "non" else act * keep
    return out


def _patient_rows(
    patient_visits: pd.DataFrame, w0: dict[str, float], best: dict[str, float], rng: np.random.Generator
) -> list[dict[str, object]]:
    """Draw the core set of one patient at every visit (W0 has no noise)."""
    rows: list[dict[str, object]] = []
    for v in patient_visits.itertuples():
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
                "patient_id": v.patient_id,
                "visit": v.visit,
                "cmas": float(np.clip(round(toward(52, w0["cmas"], act, 1.5)), 0, 52)),
                "mmt8": float(np.clip(round(toward(80, w0["mmt8"], act, 2.0)), 0, 80)),
                "physician_global": float(
                    np.clip(round(act * w0["physician_global"] + noise * rng.normal(0, 0.3), 1), 0, 10)
                ),
                "parent_global": float(
                    np.clip(round(act * w0["parent_global"] + noise * rng.normal(0, 0.6), 1), 0, 10)
                ),
                "chaq": float(np.clip(round((act * w0["chaq"] + noise * rng.normal(0, 0.1)) * 8) / 8, 0, 3)),
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
    return rows


#: Points of the 2016 ACR/EULAR TIS for JDM (Rider et al., Ann Rheum Dis 2017;76:782-91; domain
#: notes 2a): domain -> (measures it accepts, in order of preference; band edges in % improvement;
#: points of the bands <= edge 1, (edge 1, edge 2], ..., > edge 4). ``enzyme`` = the most
#: abnormal enzyme at baseline.
TIS_DOMAINS: dict[str, tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]]] = {
    "physician_global": (("physician_global",), (5, 15, 25, 40), (0, 7.5, 15, 17.5, 20)),
    "parent_global": (("parent_global",), (5, 15, 25, 40), (0, 2.5, 5, 7.5, 10)),
    "muscle": (("mmt8", "cmas"), (2, 10, 20, 30), (0, 10, 20, 27.5, 32.5)),
    "chaq": (("chaq",), (5, 15, 25, 40), (0, 5, 7.5, 7.5, 10)),
    "enzyme": (("enzyme", "chq_phs"), (5, 15, 25, 40), (0, 2.5, 5, 7.5, 7.5)),
    "extramuscular": (("mdaat_extramuscular", "das_total"), (5, 15, 25, 40), (0, 7.5, 12.5, 15, 20)),
}
#: Bounded scales (low, high, higher is better): their change is a % of the scale range.
TIS_SCALES: dict[str, tuple[float, float, bool]] = {
    "physician_global": (0, 10, False),
    "parent_global": (0, 10, False),
    "mmt8": (0, 80, True),
    "cmas": (0, 52, True),
    "chaq": (0, 3, False),
    "mdaat_extramuscular": (0, 60, False),
    "das_total": (0, 20, False),
}
#: Open scales: their change is relative to baseline (enzymes: lower is better).
TIS_OPEN_SCALES: dict[str, bool] = {"ck": False, "aldolase": False, "ldh": False, "alt": False,
                                    "ast": False, "chq_phs": True}
#: JDM response thresholds: minimal, moderate, major (TIS >=).
TIS_MINIMAL, TIS_MODERATE, TIS_MAJOR = 30.0, 45.0, 70.0
#: PRINTO clinically inactive disease: at least 3 of CK <= 150 U/L, CMAS >= 48, MMT8 >= 78,
#: physician global <= 0.2 (0-10).
INACTIVE_RULES: tuple[tuple[str, str, float], ...] = (
    ("ck", "<=", 150.0),
    ("cmas", ">=", 48.0),
    ("mmt8", ">=", 78.0),
    ("physician_global", "<=", 0.2),
)
INACTIVE_REQUIRED = 3


def _present(row: pd.Series, col: str) -> bool:
    return col in row.index and not pd.isna(row[col])


def _percent_improvement(col: str, before: float, after: float) -> float:
    if col in TIS_SCALES:
        low, high, up = TIS_SCALES[col]
        return 100.0 * ((after - before) if up else (before - after)) / (high - low)
    better = (after - before) if TIS_OPEN_SCALES[col] else (before - after)
    if before == 0:
        return 0.0 if better == 0 else math.copysign(math.inf, better)
    return 100.0 * better / abs(before)


def _band(pct: float, edges: tuple[float, ...], points: tuple[float, ...]) -> float:
    # Round first: 8.3 -> 6.8 on 0-10 is 15 % exactly, not 15.000000000000009 %.
    pct = round(pct, 9) if math.isfinite(pct) else pct
    return points[sum(pct > edge for edge in edges)]


def tis_between(base: pd.Series, follow_up: pd.Series) -> float:
    """Return the Total Improvement Score of a follow-up visit against baseline (truth only).

    The 2016 ACR/EULAR rules re-derived for the truth folder, independently of the analysis
    code (``myocit_omics.clinical.tis``): for each domain of :data:`TIS_DOMAINS` the first
    measure recorded at both visits is used (MMT8, else CMAS; the most abnormal enzyme, i.e.
    the largest baseline / upper limit of normal among those recorded at both visits, else
    CHQ-PhS; MDAAT extramuscular, else DAS total); a bounded scale's improvement is a % of its
    range, an open scale's relative to baseline; the % is rounded to 9 decimals and scores the
    points of the band it falls in (a worsening scores 0). When a domain has no measure at
    both visits the TIS is not computable: NaN, never 0.

    Parameters
    ----------
    base, follow_up
        Core-set rows (NaN = not measured).

    Returns
    -------
    float
        The TIS (0-100), or NaN.
    """
    total = 0.0
    for options, edges, points in TIS_DOMAINS.values():
        chosen = None
        for option in options:
            if option == "enzyme":
                recorded = [e for e in ENZYME_ULN if _present(base, e) and _present(follow_up, e)]
                if recorded:
                    chosen = max(recorded, key=lambda e: base[e] / ENZYME_ULN[e])
                    break
            elif _present(base, option) and _present(follow_up, option):
                chosen = option
                break
        if chosen is None:
            return math.nan
        pct = _percent_improvement(chosen, float(base[chosen]), float(follow_up[chosen]))
        total += _band(pct, edges, points)
    return total


def inactive_criteria(row: pd.Series) -> tuple[int, int]:
    """Return (criteria met, criteria not measured) of PRINTO inactive disease for one visit."""
    met = unknown = 0
    for col, op, cut in INACTIVE_RULES:
        if not _present(row, col):
            unknown += 1
        elif (row[col] <= cut) if op == "<=" else (row[col] >= cut):
            met += 1
    return met, unknown


def agrees_with_class(core: pd.DataFrame, patient_id: str, response_class: str) -> bool:
    """Whether a patient's core set at W24 says what the planted response class says.

    ``complete``: major response (TIS >= 70) and PRINTO inactive disease; ``partial``: a
    response (TIS >= 30) without inactive disease; ``non``: no response (TIS < 30) and no
    inactive disease. "Without inactive disease" means it cannot be reached even by the
    criteria not measured. A TIS that is not computable at W24 never agrees.

    Parameters
    ----------
    core
        The core set (all patients).
    patient_id
        The patient.
    response_class
        ``complete``, ``partial`` or ``non``.

    Returns
    -------
    bool
        True when the W24 core set agrees with the class.
    """
    mine = core[core.patient_id == patient_id].set_index("visit")
    tis = tis_between(mine.loc["W0"], mine.loc["W24"])
    if math.isnan(tis):
        return False
    met, unknown = inactive_criteria(mine.loc["W24"])
    if response_class == "complete":
        return tis >= TIS_MAJOR and met >= INACTIVE_REQUIRED
    if met + unknown >= INACTIVE_REQUIRED:
        return False
    if response_class == "partial":
        return tis >= TIS_MINIMAL
    if response_class == "non":
        return tis < TIS_MINIMAL
    msg = f"unknown response class {response_class!r} of {patient_id}"
    raise ValueError(msg)


def generator_tis(core: pd.DataFrame, patient_id: str, visit: str) -> float:
    """Return the TIS of one patient and visit against W0 (:func:`tis_between`; truth only).

    Parameters
    ----------
    core
        The core set as handed in (NaN = not measured).
    patient_id, visit
        The patient and follow-up visit.

    Returns
    -------
    float
        The TIS, or NaN when it is not computable.
    """
    base = core[(core.patient_id == patient_id) & (core.visit == "W0")].iloc[0]
    fu = core[(core.patient_id == patient_id) & (core.visit == visit)].iloc[0]
    return tis_between(base, fu)
