"""PRINTO criteria for juvenile dermatomyositis.

**Clinically inactive disease** (Lazarevic et al., Ann Rheum Dis 2013;72:686-93): at least 3 of
CK <= 150, CMAS >= 48, MMT8 >= 78, physician global activity <= 0.2. The units (CK in U/L,
physician global on a 0-10 cm VAS, MMT8 on 0-80) are UNCONFIRMED and therefore parameters
(:class:`InactiveParams`); a physician global recorded in mm (0-100) is handled with
``physician_global_scale_max=100``, which scales the cut-off.

With missing criteria the answer is given when it is determined anyway (3 met, or too few
left to reach 3) and is NA otherwise.

**PRINTO 2010 definition of improvement** (Ruperto et al., Arthritis Care Res 2010;62:1533-41;
the wording is UNCONFIRMED, hence :class:`ImprovementParams`): at least 20 % improvement in at
least 3 of the 6 core measures (physician global, parent global, muscle strength (CMAS or MMT8),
CHAQ, global activity tool (DAS or MDAAT), CHQ physical summary), with at most 1 of the
remaining measures worsening by more than 30 %, and that one may not be muscle strength.
Percent changes are relative to baseline (a baseline of 0 gives 0 % for an unchanged value and
+/- infinity otherwise). With missing measures the result is NA unless every possible value of
the missing ones gives the same answer.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from myocit_omics.clinical.tis import percent_improvement
from myocit_omics.errors import InputError


@dataclass(frozen=True)
class InactiveParams:
    """Cut-offs of PRINTO clinically inactive disease (UNCONFIRMED units, hence parameters).

    Attributes
    ----------
    ck_max
        CK <= this (U/L).
    cmas_min
        CMAS >= this (0-52).
    mmt8_min
        MMT8 >= this (0-80).
    physician_global_max
        Physician global <= this, on a 0-10 scale.
    physician_global_scale_max
        Upper end of the scale the physician global is recorded on (10 for cm, 100 for mm);
        the cut-off is scaled by ``physician_global_scale_max / 10``.
    required
        How many of the 4 criteria must be met.
    """

    ck_max: float = 150.0
    cmas_min: float = 48.0
    mmt8_min: float = 78.0
    physician_global_max: float = 0.2
    physician_global_scale_max: float = 10.0
    required: int = 3

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> InactiveParams:
        """Build from ``clinical.inactive_disease`` of study.yaml (keys as the attributes)."""
        return _from_mapping(cls, (section or {}).get("inactive_disease"), "clinical.inactive_disease")


@dataclass(frozen=True)
class ImprovementParams:
    """Parameters of the PRINTO 2010 definition of improvement (UNCONFIRMED wording).

    Attributes
    ----------
    improve_pct
        A measure is improved when its relative improvement is >= this (20; 50 and 70 give
        the PRINTO 50/70 levels).
    min_improved
        How many measures must be improved.
    worsen_pct
        A measure is worsened when it gets worse by more than this percentage.
    max_worsened
        How many of the remaining measures may be worsened.
    strength_may_worsen
        Whether the worsened measure may be muscle strength (False in PRINTO).
    muscle
        ``cmas`` (default) or ``mmt8``.
    activity_tool
        ``das_total`` (default) or ``mdaat_extramuscular``.
    """

    improve_pct: float = 20.0
    min_improved: int = 3
    worsen_pct: float = 30.0
    max_worsened: int = 1
    strength_may_worsen: bool = False
    muscle: str = "cmas"
    activity_tool: str = "das_total"

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> ImprovementParams:
        """Build from ``clinical.printo_improvement`` of study.yaml (keys as the attributes)."""
        params = _from_mapping(cls, (section or {}).get("printo_improvement"), "clinical.printo_improvement")
        if params.muscle not in ("cmas", "mmt8"):
            raise InputError("unknown muscle measure", file="study.yaml",
                             column="clinical.printo_improvement.muscle", value=params.muscle,
                             expected="'cmas' or 'mmt8'", rule="config.printo")
        if params.activity_tool not in ("das_total", "mdaat_extramuscular"):
            raise InputError("unknown global activity tool", file="study.yaml",
                             column="clinical.printo_improvement.activity_tool", value=params.activity_tool,
                             expected="'das_total' or 'mdaat_extramuscular'", rule="config.printo")
        return params

    @property
    def measures(self) -> tuple[str, ...]:
        """The six core measures, in PRINTO order."""
        return ("physician_global", "parent_global", self.muscle, "chaq", self.activity_tool, "chq_phs")


def _from_mapping(cls: type, mapping: Mapping[str, Any] | None, where: str) -> Any:
    mapping = dict(mapping or {})
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise InputError("unknown parameter", file="study.yaml", column=where, value=unknown,
                         expected=f"some of {sorted(known)}", rule="config.printo")
    return cls(**mapping)


def inactive_criteria(values: Mapping[str, float],
                      params: InactiveParams | None = None) -> dict[str, bool | None]:
    """Return which of the 4 inactive-disease criteria are met (None where the measure is missing).

    Parameters
    ----------
    values
        Core-set values of one visit (``ck``, ``cmas``, ``mmt8``, ``physician_global``).
    params
        Cut-offs.

    Returns
    -------
    dict[str, bool | None]
        ``{"ck": ..., "cmas": ..., "mmt8": ..., "physician_global": ...}``.
    """
    p = params or InactiveParams()
    pg_max = p.physician_global_max * p.physician_global_scale_max / 10.0

    def check(name: str, ok: Any) -> bool | None:
        v = values.get(name, math.nan)
        return None if pd.isna(v) else bool(ok(float(v)))

    return {
        "ck": check("ck", lambda v: v <= p.ck_max),
        "cmas": check("cmas", lambda v: v >= p.cmas_min),
        "mmt8": check("mmt8", lambda v: v >= p.mmt8_min),
        "physician_global": check("physician_global", lambda v: v <= pg_max + 1e-12),
    }


def inactive_disease(values: Mapping[str, float], params: InactiveParams | None = None) -> bool | None:
    """PRINTO clinically inactive disease of one visit.

    Parameters
    ----------
    values
        Core-set values of the visit.
    params
        Cut-offs.

    Returns
    -------
    bool | None
        True when at least ``required`` criteria are met, False when they cannot be met even
        if every missing one were, None (NA) when the missing criteria decide.
    """
    p = params or InactiveParams()
    crit = inactive_criteria(values, p)
    met = sum(1 for v in crit.values() if v is True)
    unknown = sum(1 for v in crit.values() if v is None)
    if met >= p.required:
        return True
    if met + unknown < p.required:
        return False
    return None


def _status(pct: float, params: ImprovementParams) -> str:
    if pct >= params.improve_pct - 1e-9:
        return "improved"
    if pct < -params.worsen_pct - 1e-9:
        return "worsened"
    return "stable"


def _decide(statuses: Mapping[str, str], params: ImprovementParams) -> bool:
    improved = [m for m, s in statuses.items() if s == "improved"]
    if len(improved) < params.min_improved:
        return False
    worsened = [m for m, s in statuses.items() if s == "worsened"]
    if len(worsened) > params.max_worsened:
        return False
    return params.strength_may_worsen or params.muscle not in worsened


def printo_improvement(baseline: Mapping[str, float], follow_up: Mapping[str, float],
                       params: ImprovementParams | None = None) -> tuple[bool | None, str]:
    """PRINTO 2010 improvement of a follow-up visit against baseline.

    Parameters
    ----------
    baseline, follow_up
        Core-set values by column name.
    params
        Definition parameters.

    Returns
    -------
    tuple[bool | None, str]
        The answer (None = NA) and a note: the status of each measure
        (``measure:improved|stable|worsened|missing``), and why it is NA when it is.
    """
    p = params or ImprovementParams()
    statuses: dict[str, str] = {}
    for m in p.measures:
        b, f = baseline.get(m, math.nan), follow_up.get(m, math.nan)
        if pd.isna(b) or pd.isna(f):
            statuses[m] = "missing"
        else:
            statuses[m] = _status(percent_improvement(m, float(b), float(f), mode="relative"), p)
    note = ";".join(f"{m}:{s}" for m, s in statuses.items())
    missing = [m for m, s in statuses.items() if s == "missing"]
    outcomes = set()
    for fill in itertools.product(("improved", "stable", "worsened"), repeat=len(missing)):
        trial = dict(statuses)
        trial.update(zip(missing, fill, strict=True))
        outcomes.add(_decide(trial, p))
        if len(outcomes) > 1:
            return None, note + "; NA: depends on the missing " + ", ".join(missing)
    return outcomes.pop(), note
