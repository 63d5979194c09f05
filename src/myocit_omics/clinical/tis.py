"""2016 ACR/EULAR Total Improvement Score (TIS, 0-100) for juvenile dermatomyositis.

Points table (Rider et al., Ann Rheum Dis 2017;76:782-91; domain notes 2a), by the percent
improvement of each core-set measure from baseline::

    measure                         <=a   (a,b]  (b,c]  (c,d]   >d      edges a/b/c/d
    physician global activity        0    7.5    15     17.5    20      5/15/25/40
    parent/patient global activity   0    2.5     5      7.5    10      5/15/25/40
    MMT8 or CMAS                     0   10      20     27.5    32.5     2/10/20/30
    CHAQ                             0    5       7.5    7.5    10      5/15/25/40
    most abnormal enzyme or CHQ-PhS  0    2.5     5      7.5     7.5    5/15/25/40
    MDAAT extramuscular or DAS       0    7.5    12.5   15      20      5/15/25/40

A worsening (negative improvement) scores 0. JDM response: minimal >= 30, moderate >= 45,
major >= 70.

**Percent change (UNCONFIRMED, a parameter).** The criteria use "absolute percent change"; the
exact formula is not confirmed (domain notes 2a). ``percent_change="absolute"`` (default) takes,
for a bounded scale, the improvement as a percentage of the scale range,
``100 * (improvement) / (high - low)``, and for the open scales (enzymes, and CHQ-PhS unless a
range is given) the relative change ``100 * (improvement) / baseline``.
``percent_change="relative"`` takes the relative change for every measure. The improvement is
``baseline - follow-up`` for measures where lower is better and ``follow-up - baseline`` where
higher is better. A relative change from a baseline of 0 is 0 when the follow-up is also 0, and
otherwise +/- infinity (improvement or worsening), so it still scores.

Percentages are rounded to 9 decimals before the band look-up, so that a change that is exactly
on an edge in decimal arithmetic (e.g. 0.5 of 10 = 5 %) is treated as on the edge.

Check against the official NIEHS/IMACS JDM calculator before release.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from myocit_omics.clinical.core_set import ENZYMES, MEASURES
from myocit_omics.errors import InputError

#: Domain -> (upper edges of the bands in %, points of each band).
BANDS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "physician_global": ((5, 15, 25, 40), (0, 7.5, 15, 17.5, 20)),
    "parent_global": ((5, 15, 25, 40), (0, 2.5, 5, 7.5, 10)),
    "muscle": ((2, 10, 20, 30), (0, 10, 20, 27.5, 32.5)),
    "chaq": ((5, 15, 25, 40), (0, 5, 7.5, 7.5, 10)),
    "enzyme": ((5, 15, 25, 40), (0, 2.5, 5, 7.5, 7.5)),
    "extramuscular": ((5, 15, 25, 40), (0, 7.5, 12.5, 15, 20)),
}

#: The alternatives each domain accepts (column names of the core set; ``enzyme`` = most abnormal).
DOMAIN_CHOICES: dict[str, tuple[str, ...]] = {
    "physician_global": ("physician_global",),
    "parent_global": ("parent_global",),
    "muscle": ("mmt8", "cmas"),
    "chaq": ("chaq",),
    "enzyme": ("enzyme", "chq_phs"),
    "extramuscular": ("mdaat_extramuscular", "das_total"),
}

_ALIASES = {"mdaat": "mdaat_extramuscular", "das": "das_total", "chq": "chq_phs", "chq-phs": "chq_phs"}

#: JDM response thresholds (minimal, moderate, major).
JDM_THRESHOLDS = (30.0, 45.0, 70.0)

#: Placeholder upper limits of normal (U/L) used to pick the most abnormal enzyme when
#: study.yaml gives none (``clinical.enzyme_uln``). Set the laboratory's own values there.
DEFAULT_ENZYME_ULN: dict[str, float] = {"ck": 200.0, "aldolase": 7.6, "ldh": 300.0, "alt": 40.0,
                                        "ast": 40.0}


@dataclass(frozen=True)
class TisParams:
    """Parameters of the TIS (all documented choices, none hidden).

    Attributes
    ----------
    muscle, enzyme, extramuscular
        Measures to use for the three domains with alternatives, in order of preference.
        With ``fallback`` the next one is used when the first is missing at either visit.
    fallback
        Use the next alternative when the preferred measure is missing; else the TIS is NA.
    percent_change
        ``"absolute"`` (default) or ``"relative"``, see the module docstring (UNCONFIRMED).
    ranges
        Scale ranges overriding :data:`~myocit_omics.clinical.core_set.MEASURES` (e.g. a range
        for ``chq_phs`` to use an absolute change for it).
    enzyme_uln
        Upper limits of normal; the most abnormal enzyme is the one with the largest
        baseline/ULN among those recorded at both visits.
    thresholds
        Minimal, moderate and major response cut-offs (>=).
    """

    muscle: tuple[str, ...] = ("mmt8", "cmas")
    enzyme: tuple[str, ...] = ("enzyme", "chq_phs")
    extramuscular: tuple[str, ...] = ("mdaat_extramuscular", "das_total")
    fallback: bool = True
    percent_change: Literal["absolute", "relative"] = "absolute"
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    enzyme_uln: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_ENZYME_ULN))
    thresholds: tuple[float, float, float] = JDM_THRESHOLDS

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> TisParams:
        """Build from the ``clinical`` section of study.yaml (keys ``tis`` and ``enzyme_uln``).

        Parameters
        ----------
        section
            ``config.clinical``: ``{"tis": {"muscle": ["cmas"], "percent_change": "relative", ...},
            "enzyme_uln": {"ck": 190, ...}}``.

        Returns
        -------
        TisParams
            The parameters.

        Raises
        ------
        InputError
            On an unknown key, measure or formula.
        """
        section = dict(section or {})
        tis = dict(section.get("tis") or {})
        kwargs: dict[str, Any] = {}
        for domain in ("muscle", "enzyme", "extramuscular"):
            if domain in tis:
                value = tis.pop(domain)
                items = [value] if isinstance(value, str) else list(value)
                kwargs[domain] = tuple(_ALIASES.get(str(v).lower(), str(v).lower()) for v in items)
                bad = [v for v in kwargs[domain] if v not in DOMAIN_CHOICES[domain]]
                if bad or not kwargs[domain]:
                    raise InputError(f"unknown TIS measure for {domain}", file="study.yaml",
                                     column=f"clinical.tis.{domain}", value=value,
                                     expected=f"a list from {list(DOMAIN_CHOICES[domain])}",
                                     rule="config.tis")
        if "fallback" in tis:
            kwargs["fallback"] = bool(tis.pop("fallback"))
        if "percent_change" in tis:
            pc = tis.pop("percent_change")
            if pc not in ("absolute", "relative"):
                raise InputError("unknown TIS percent-change formula", file="study.yaml",
                                 column="clinical.tis.percent_change", value=pc,
                                 expected="'absolute' or 'relative'", rule="config.tis")
            kwargs["percent_change"] = pc
        if "ranges" in tis:
            ranges = dict(tis.pop("ranges"))
            kwargs["ranges"] = {str(k): (float(v[0]), float(v[1])) for k, v in ranges.items()}
        if "thresholds" in tis:
            th = [float(x) for x in tis.pop("thresholds")]
            if len(th) != 3 or not th[0] <= th[1] <= th[2]:
                raise InputError("TIS thresholds must be three increasing numbers", file="study.yaml",
                                 column="clinical.tis.thresholds", value=th,
                                 expected="[minimal, moderate, major], e.g. [30, 45, 70]", rule="config.tis")
            kwargs["thresholds"] = tuple(th)
        if tis:
            raise InputError("unknown TIS parameter", file="study.yaml", column="clinical.tis",
                             value=sorted(tis), expected="muscle, enzyme, extramuscular, fallback, "
                             "percent_change, ranges, thresholds", rule="config.tis")
        if section.get("enzyme_uln"):
            uln = dict(DEFAULT_ENZYME_ULN)
            uln.update({str(k).lower(): float(v) for k, v in dict(section["enzyme_uln"]).items()})
            kwargs["enzyme_uln"] = uln
        return cls(**kwargs)


def band_points(domain: str, pct: float) -> float:
    """Return the TIS points of one domain for a percent improvement.

    Parameters
    ----------
    domain
        A key of :data:`BANDS`.
    pct
        Percent improvement (negative = worsening); NaN gives NaN.

    Returns
    -------
    float
        The points (0 for a worsening or an improvement up to the first edge).
    """
    if pct is None or (isinstance(pct, float) and math.isnan(pct)):
        return math.nan
    edges, points = BANDS[domain]
    pct = round(float(pct), 9) if math.isfinite(pct) else pct
    for edge, pts in zip(edges, points, strict=False):
        if pct <= edge:
            return float(pts)
    return float(points[-1])


def percent_improvement(measure: str, baseline: float, follow_up: float, *,
                        mode: Literal["absolute", "relative"] = "absolute",
                        ranges: Mapping[str, tuple[float, float]] | None = None) -> float:
    """Percent improvement of one measure from baseline (positive = better).

    Parameters
    ----------
    measure
        Core-set column name (``cmas``, ``ck``, ``physician_global`` ...).
    baseline, follow_up
        The two values; NaN gives NaN.
    mode
        ``"absolute"``: bounded scales as % of the scale range, open scales relative;
        ``"relative"``: relative to baseline for all (see the module docstring).
    ranges
        Scale ranges overriding the defaults.

    Returns
    -------
    float
        The percent improvement, possibly +/- inf for a relative change from a baseline of 0.
    """
    if pd.isna(baseline) or pd.isna(follow_up):
        return math.nan
    m = MEASURES[measure]
    improvement = (follow_up - baseline) if m.higher_is_better else (baseline - follow_up)
    rng = (ranges or {}).get(measure)
    if rng is None and m.bounded:
        rng = (float(m.low), float(m.high))  # type: ignore[arg-type]
    if mode == "absolute" and rng is not None:
        return 100.0 * improvement / (rng[1] - rng[0])
    if baseline == 0:
        return 0.0 if improvement == 0 else math.copysign(math.inf, improvement)
    return 100.0 * improvement / abs(baseline)


def response_category(tis: float, thresholds: Sequence[float] = JDM_THRESHOLDS) -> str | None:
    """Return ``none``, ``minimal``, ``moderate`` or ``major`` for a TIS (None for NA)."""
    if tis is None or pd.isna(tis):
        return None
    minimal, moderate, major = thresholds
    if tis >= major:
        return "major"
    if tis >= moderate:
        return "moderate"
    if tis >= minimal:
        return "minimal"
    return "none"


@dataclass(frozen=True)
class TisResult:
    """TIS of one follow-up visit against baseline.

    Attributes
    ----------
    tis
        Total (NaN when not computable).
    points
        Domain -> points (NaN where missing).
    measures
        Domain -> measure used (``ck`` etc. for the enzyme domain).
    percent
        Domain -> percent improvement used.
    note
        Why the TIS is NA (empty when computed).
    """

    tis: float
    points: dict[str, float]
    measures: dict[str, str]
    percent: dict[str, float]
    note: str

    @property
    def measures_text(self) -> str:
        """``domain=measure`` pairs joined by ``;`` (the ``tis_measures`` column)."""
        return ";".join(f"{d}={m}" for d, m in self.measures.items())


def _most_abnormal_enzyme(base: Mapping[str, float], follow: Mapping[str, float],
                          uln: Mapping[str, float]) -> str | None:
    best, best_ratio = None, -math.inf
    for enzyme in ENZYMES:
        b, f = base.get(enzyme, math.nan), follow.get(enzyme, math.nan)
        if pd.isna(b) or pd.isna(f) or enzyme not in uln:
            continue
        ratio = b / uln[enzyme]
        if ratio > best_ratio:
            best, best_ratio = enzyme, ratio
    return best


def total_improvement_score(baseline: Mapping[str, float], follow_up: Mapping[str, float],
                            params: TisParams | None = None) -> TisResult:
    """Compute the TIS of a follow-up visit against baseline.

    Parameters
    ----------
    baseline, follow_up
        Core-set values by column name (missing = absent key or NaN).
    params
        Parameters; defaults as :class:`TisParams`.

    Returns
    -------
    TisResult
        The total and its parts. The total is NA (with a note naming the missing measures)
        when any of the six domains has no usable measure at both visits.
    """
    params = params or TisParams()
    choices = {"physician_global": ("physician_global",), "parent_global": ("parent_global",),
               "muscle": params.muscle, "chaq": ("chaq",), "enzyme": params.enzyme,
               "extramuscular": params.extramuscular}
    points: dict[str, float] = {}
    used: dict[str, str] = {}
    percent: dict[str, float] = {}
    missing: list[str] = []
    for domain, options in choices.items():
        candidates = options if params.fallback else options[:1]
        chosen = None
        for option in candidates:
            if option == "enzyme":
                enzyme = _most_abnormal_enzyme(baseline, follow_up, params.enzyme_uln)
                if enzyme is not None:
                    chosen = enzyme
                    break
            elif not pd.isna(baseline.get(option, math.nan)) and not pd.isna(follow_up.get(option, math.nan)):
                chosen = option
                break
        if chosen is None:
            missing.append(f"{domain} ({'/'.join(candidates)})")
            points[domain] = math.nan
            continue
        mode = params.percent_change
        if chosen in ENZYMES:
            mode = "relative"  # open scale: relative in both modes (module docstring)
        pct = percent_improvement(chosen, float(baseline[chosen]), float(follow_up[chosen]),
                                  mode=mode, ranges=params.ranges)
        used[domain] = chosen
        percent[domain] = pct
        points[domain] = band_points(domain, pct)
    if missing:
        return TisResult(math.nan, points, used, percent,
                         "not computable: missing at baseline or follow-up: " + ", ".join(missing))
    return TisResult(float(sum(points.values())), points, used, percent, "")
