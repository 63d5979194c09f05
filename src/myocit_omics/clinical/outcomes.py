"""Clinical outcomes per patient and visit (``tables/clinical_outcomes.tsv``) and at W24.

Every expected visit of every patient gets a row; a visit that was not recorded is a row of
NA with ``missing_measures = "visit not recorded"``. Scores that cannot be computed are NA with
the reason in ``tis_note`` / ``printo_note``; nothing is filled in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from myocit_omics.clinical.core_set import CORE_MEASURES, MEASURES, missing_measures, visit_sort_key
from myocit_omics.clinical.das import das_table
from myocit_omics.clinical.printo import (
    ImprovementParams,
    InactiveParams,
    inactive_criteria,
    inactive_disease,
    printo_improvement,
)
from myocit_omics.clinical.tis import TisParams, response_category, total_improvement_score

#: Columns of ``tables/clinical_outcomes.tsv`` (docs/contracts.md section 5, plus notes and parts).
OUTCOME_COLUMNS = [
    "patient_id", "visit", *MEASURES, "das_source", "tis", "tis_measures", "tis_note", "response",
    "inactive_disease", "inactive_criteria_met", "printo_improvement", "printo_note", "missing_measures",
]
RESPONSE_COLUMNS = ["patient_id", "tis_w24", "response_w24", "major_response_w24", "inactive_w24"]

VISIT_NOT_RECORDED = "visit not recorded"


@dataclass(frozen=True)
class OutcomeParams:
    """All parameters of the clinical outcomes.

    Attributes
    ----------
    tis, inactive, improvement
        Parameters of the TIS, PRINTO inactive disease and PRINTO improvement.
    baseline_visit
        Visit the TIS and PRINTO improvement are computed against.
    response_visit
        Visit of the primary response table (``response_w24.tsv``).
    """

    tis: TisParams = field(default_factory=TisParams)
    inactive: InactiveParams = field(default_factory=InactiveParams)
    improvement: ImprovementParams = field(default_factory=ImprovementParams)
    baseline_visit: str = "W0"
    response_visit: str = "W24"

    @classmethod
    def from_config(cls, section: dict | None) -> OutcomeParams:
        """Build from the ``clinical`` section of study.yaml."""
        section = dict(section or {})
        return cls(tis=TisParams.from_config(section), inactive=InactiveParams.from_config(section),
                   improvement=ImprovementParams.from_config(section),
                   baseline_visit=str(section.get("baseline_visit", "W0")),
                   response_visit=str(section.get("response_visit", "W24")))


def _values(row: pd.Series) -> dict[str, float]:
    return {m: float(row[m]) for m in MEASURES if m in row.index and not pd.isna(row[m])}


def clinical_outcomes(core: pd.DataFrame, *, params: OutcomeParams | None = None,
                      patients: Sequence[str] | None = None, visits: Sequence[str] | None = None,
                      file: str = "core_set.csv") -> pd.DataFrame:
    """Compute the outcomes of every patient and visit.

    Parameters
    ----------
    core
        Typed core set (:func:`myocit_omics.clinical.core_set.parse_core_set`).
    params
        Outcome parameters.
    patients
        Every patient expected (e.g. from patients.csv); those without any core-set row get
        rows of NA. Default: the patients of ``core``.
    visits
        Every visit expected per patient (e.g. the protocol visits); a missing one becomes a
        row marked ``visit not recorded``. Unscheduled visits in ``core`` are kept as well.
    file
        Name of the core-set file for messages.

    Returns
    -------
    pd.DataFrame
        :data:`OUTCOME_COLUMNS`, one row per patient and visit, in visit order.
    """
    p = params or OutcomeParams()
    core = core.copy()
    das = das_table(core, file=file)
    for col in ("das_skin", "das_muscle", "das_total", "das_source"):
        core[col] = das[col]
    ids = list(dict.fromkeys([*(patients or []), *core["patient_id"]]))
    rows = []
    for pid in ids:
        mine = core[core["patient_id"] == pid]
        expected = list(visits or [])
        all_visits = sorted(set(expected) | set(mine["visit"]), key=visit_sort_key)
        by_visit = {v: r for v, r in zip(mine["visit"], (r for _, r in mine.iterrows()), strict=True)}
        base_row = by_visit.get(p.baseline_visit)
        base = _values(base_row) if base_row is not None else None
        for visit in all_visits:
            out: dict[str, object] = {"patient_id": pid, "visit": visit}
            row = by_visit.get(visit)
            if row is None:
                out.update({m: math.nan for m in MEASURES})
                out.update(das_source="NA", tis=math.nan, tis_measures="NA", tis_note=VISIT_NOT_RECORDED,
                           response=None, inactive_disease=None, inactive_criteria_met=None,
                           printo_improvement=None, printo_note=VISIT_NOT_RECORDED,
                           missing_measures=VISIT_NOT_RECORDED)
                rows.append(out)
                continue
            values = _values(row)
            out.update({m: row[m] for m in MEASURES})
            out["das_source"] = row["das_source"]
            gone = missing_measures(row, CORE_MEASURES)
            out["missing_measures"] = ";".join(gone) if gone else "none"
            crit = inactive_criteria(values, p.inactive)
            out["inactive_disease"] = inactive_disease(values, p.inactive)
            out["inactive_criteria_met"] = ";".join(k for k, v in crit.items() if v) or "none"
            if visit == p.baseline_visit:
                out.update(tis=math.nan, tis_measures="NA", tis_note="baseline visit", response=None,
                           printo_improvement=None, printo_note="baseline visit")
            elif base is None:
                reason = f"no baseline ({p.baseline_visit}) visit recorded"
                out.update(tis=math.nan, tis_measures="NA", tis_note=reason, response=None,
                           printo_improvement=None, printo_note=reason)
            else:
                res = total_improvement_score(base, values, p.tis)
                out.update(tis=res.tis, tis_measures=res.measures_text or "NA", tis_note=res.note or "ok",
                           response=response_category(res.tis, p.tis.thresholds))
                imp, note = printo_improvement(base, values, p.improvement)
                out.update(printo_improvement=imp, printo_note=note)
            rows.append(out)
    table = pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
    for col in ("inactive_disease", "printo_improvement", "response"):
        table[col] = table[col].astype(object).where(table[col].notna(), None)
    return table


def response_at(outcomes: pd.DataFrame, *, visit: str = "W24") -> pd.DataFrame:
    """Return the response table of one visit (``tables/response_w24.tsv``).

    Parameters
    ----------
    outcomes
        Output of :func:`clinical_outcomes`.
    visit
        The response visit.

    Returns
    -------
    pd.DataFrame
        :data:`RESPONSE_COLUMNS`; every patient of ``outcomes`` appears, with NA where the visit
        or the score is missing (``major_response_w24`` is NA when the TIS is).
    """
    rows = []
    for pid in dict.fromkeys(outcomes["patient_id"]):
        sub = outcomes[(outcomes["patient_id"] == pid) & (outcomes["visit"] == visit)]
        if sub.empty:
            rows.append({"patient_id": pid, "tis_w24": math.nan, "response_w24": None,
                         "major_response_w24": None, "inactive_w24": None})
            continue
        r = sub.iloc[0]
        tis = r["tis"]
        rows.append({"patient_id": pid, "tis_w24": tis, "response_w24": r["response"],
                     "major_response_w24": None if pd.isna(tis) else r["response"] == "major",
                     "inactive_w24": r["inactive_disease"]})
    return pd.DataFrame(rows, columns=RESPONSE_COLUMNS).astype(
        {"response_w24": object, "major_response_w24": object, "inactive_w24": object})
