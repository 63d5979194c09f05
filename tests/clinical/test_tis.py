"""TIS worked examples computed by hand (arithmetic in the comments and in the expected values).

Reference values: physician 5, parent 5 (0-10), MMT8 40 (0-80), CMAS 20 (0-52), CHAQ 2.5 (0-3),
CK 1000 U/L, MDAAT 30 (0-60), DAS 12 (0-20), CHQ-PhS 40. The follow-up repeats them and changes
one measure, so the TIS equals the points of that one domain (all others change by 0 %).
"""

from __future__ import annotations

import math

import pytest

from myocit_omics.clinical.tis import (
    TisParams,
    band_points,
    percent_improvement,
    response_category,
    total_improvement_score,
)
from myocit_omics.errors import InputError

BASE = {"physician_global": 5.0, "parent_global": 5.0, "mmt8": 40.0, "cmas": 20.0, "chaq": 2.5,
        "ck": 1000.0, "mdaat_extramuscular": 30.0, "das_total": 12.0, "chq_phs": 40.0}


def tis_one_change(measure, value, params=None):
    follow = dict(BASE)
    follow[measure] = value
    return total_improvement_score(BASE, follow, params).tis


# (follow-up value, expected points); % = absolute change / range, or relative for CK and CHQ-PhS.
PHYSICIAN = [  # range 10: 1 unit = 10 %
    (5.5, 0.0),    # worse
    (5.0, 0.0),    # 0 %
    (4.5, 0.0),    # 0.5/10 = 5 %  (edge, <= 5 -> 0)
    (4.4, 7.5),    # 6 %
    (3.5, 7.5),    # 15 % (edge)
    (3.4, 15.0),   # 16 %
    (2.5, 15.0),   # 25 % (edge)
    (2.4, 17.5),   # 26 %
    (1.0, 17.5),   # 40 % (edge)
    (0.9, 20.0),   # 41 %
]
PARENT = [(v, {0.0: 0.0, 7.5: 2.5, 15.0: 5.0, 17.5: 7.5, 20.0: 10.0}[p]) for v, p in PHYSICIAN]
MMT8 = [  # range 80: 2 % = 1.6, 10 % = 8, 20 % = 16, 30 % = 24 units from 40
    (39.0, 0.0),   # worse
    (41.6, 0.0),   # 2 % (edge)
    (42.0, 10.0),  # 2.5 %
    (48.0, 10.0),  # 10 % (edge)
    (49.0, 20.0),  # 11.25 %
    (56.0, 20.0),  # 20 % (edge)
    (57.0, 27.5),  # 21.25 %
    (64.0, 27.5),  # 30 % (edge)
    (65.0, 32.5),  # 31.25 %
]
CMAS = [  # range 52: 2 % = 1.04, 10 % = 5.2, 20 % = 10.4, 30 % = 15.6 units from 20
    (21.04, 0.0),  # 2 % (edge)
    (22.0, 10.0),  # 2/52 = 3.85 %
    (25.2, 10.0),  # 10 % (edge)
    (26.0, 20.0),  # 6/52 = 11.5 %
    (30.4, 20.0),  # 20 % (edge)
    (31.0, 27.5),  # 11/52 = 21.2 %
    (35.6, 27.5),  # 30 % (edge)
    (36.0, 32.5),  # 16/52 = 30.8 %
]
CHAQ = [  # range 3: 5 % = 0.15, 15 % = 0.45, 25 % = 0.75, 40 % = 1.2 units from 2.5
    (2.6, 0.0),    # worse
    (2.35, 0.0),   # 5 % (edge)
    (2.3, 5.0),    # 6.7 %
    (2.05, 5.0),   # 15 % (edge)
    (2.0, 7.5),    # 16.7 %
    (1.75, 7.5),   # 25 % (edge)
    (1.7, 7.5),    # 26.7 %
    (1.3, 7.5),    # 40 % (edge)
    (1.2, 10.0),   # 43.3 %
]
CK = [  # relative to 1000
    (1100.0, 0.0),  # worse
    (950.0, 0.0),   # 5 % (edge)
    (940.0, 2.5),   # 6 %
    (850.0, 2.5),   # 15 % (edge)
    (840.0, 5.0),   # 16 %
    (750.0, 5.0),   # 25 % (edge)
    (740.0, 7.5),   # 26 %
    (600.0, 7.5),   # 40 % (edge)
    (590.0, 7.5),   # 41 %: top band is also 7.5
]
CHQ_PHS = [  # relative to 40 (norm-based scale has no range): 5 % = 2, 15 % = 6, 25 % = 10, 40 % = 16
    (38.0, 0.0),    # worse
    (42.0, 0.0),    # 5 % (edge)
    (42.4, 2.5),    # 6 %
    (46.0, 2.5),    # 15 % (edge)
    (46.4, 5.0),    # 16 %
    (50.0, 5.0),    # 25 % (edge)
    (50.4, 7.5),    # 26 %
    (56.0, 7.5),    # 40 % (edge)
    (56.4, 7.5),    # 41 %
]
MDAAT = [  # range 60: 5 % = 3, 15 % = 9, 25 % = 15, 40 % = 24 units from 30
    (33.0, 0.0),   # worse
    (27.0, 0.0),   # 5 % (edge)
    (26.4, 7.5),   # 6 %
    (21.0, 7.5),   # 15 % (edge)
    (20.4, 12.5),  # 16 %
    (15.0, 12.5),  # 25 % (edge)
    (14.4, 15.0),  # 26 %
    (6.0, 15.0),   # 40 % (edge)
    (5.4, 20.0),   # 41 %
]
DAS = [  # range 20: 5 % = 1, 15 % = 3, 25 % = 5, 40 % = 8 units from 12
    (11.0, 0.0),   # 5 % (edge)
    (10.8, 7.5),   # 6 %
    (9.0, 7.5),    # 15 % (edge)
    (8.8, 12.5),   # 16 %
    (7.0, 12.5),   # 25 % (edge)
    (6.8, 15.0),   # 26 %
    (4.0, 15.0),   # 40 % (edge)
    (3.8, 20.0),   # 41 %
]

CASES = (
    [("physician_global", v, p, None) for v, p in PHYSICIAN]
    + [("parent_global", v, p, None) for v, p in PARENT]
    + [("mmt8", v, p, None) for v, p in MMT8]
    + [("cmas", v, p, TisParams(muscle=("cmas",))) for v, p in CMAS]
    + [("chaq", v, p, None) for v, p in CHAQ]
    + [("ck", v, p, None) for v, p in CK]
    + [("chq_phs", v, p, TisParams(enzyme=("chq_phs",))) for v, p in CHQ_PHS]
    + [("mdaat_extramuscular", v, p, None) for v, p in MDAAT]
    + [("das_total", v, p, TisParams(extramuscular=("das_total",))) for v, p in DAS]
)


@pytest.mark.parametrize(("measure", "value", "points", "params"), CASES,
                         ids=[f"{c[0]}={c[1]}" for c in CASES])
def test_band_edges_of_every_measure(measure, value, points, params):
    assert tis_one_change(measure, value, params) == pytest.approx(points)


ENZYME_CASES = [(e, v, p) for e in ("ck", "aldolase", "ldh", "alt", "ast") for v, p in CK]


@pytest.mark.parametrize(("enzyme", "value", "points"), ENZYME_CASES,
                         ids=[f"{e}={v}" for e, v, _ in ENZYME_CASES])
def test_band_edges_of_each_enzyme_when_it_is_the_most_abnormal(enzyme, value, points):
    # ULN 100 for all; the chosen enzyme is 1000 (10 x ULN), the others 200 (2 x ULN) and unchanged,
    # so the enzyme domain follows the chosen one with the same relative edges as the CK table.
    uln = dict.fromkeys(["ck", "aldolase", "ldh", "alt", "ast"], 100.0)
    base = {k: v for k, v in BASE.items() if k != "ck"}
    base.update(dict.fromkeys(uln, 200.0))
    base[enzyme] = 1000.0
    follow = dict(base)
    follow[enzyme] = value
    res = total_improvement_score(base, follow, TisParams(enzyme_uln=uln))
    assert res.measures["enzyme"] == enzyme
    assert res.tis == pytest.approx(points)


def test_a_fall_of_a_less_abnormal_enzyme_scores_nothing():
    uln = dict.fromkeys(["ck", "aldolase", "ldh", "alt", "ast"], 100.0)
    base = {k: v for k, v in BASE.items() if k != "ck"}
    base.update(dict.fromkeys(uln, 200.0))
    base["ldh"] = 1000.0  # the most abnormal
    follow = dict(base, ast=100.0)  # AST halves, LDH unchanged
    assert total_improvement_score(base, follow, TisParams(enzyme_uln=uln)).tis == 0.0


def test_worked_total_and_major_response():
    base = {"physician_global": 6, "parent_global": 5, "mmt8": 50, "chaq": 2.0, "ck": 2000,
            "mdaat_extramuscular": 20}
    follow = {"physician_global": 2, "parent_global": 2, "mmt8": 70, "chaq": 1.0, "ck": 300,
              "mdaat_extramuscular": 5}
    # physician 4/10 = 40 % -> 17.5; parent 3/10 = 30 % -> 7.5; MMT8 20/80 = 25 % -> 27.5;
    # CHAQ 1/3 = 33 % -> 7.5; CK 1700/2000 = 85 % -> 7.5; MDAAT 15/60 = 25 % -> 12.5. Sum 80.
    res = total_improvement_score(base, follow)
    assert res.tis == pytest.approx(17.5 + 7.5 + 27.5 + 7.5 + 7.5 + 12.5)
    assert response_category(res.tis) == "major"
    assert res.measures == {"physician_global": "physician_global", "parent_global": "parent_global",
                            "muscle": "mmt8", "chaq": "chaq", "enzyme": "ck",
                            "extramuscular": "mdaat_extramuscular"}


@pytest.mark.parametrize(("tis", "category"), [
    (0.0, "none"), (29.5, "none"), (30.0, "minimal"), (44.5, "minimal"), (45.0, "moderate"),
    (67.5, "moderate"), (70.0, "major"), (100.0, "major"), (math.nan, None),
])
def test_response_categories_at_the_jdm_thresholds(tis, category):
    assert response_category(tis) == category


def test_relative_formula_is_a_parameter():
    # physician 6 -> 4: absolute 2/10 = 20 % -> 15 points; relative 2/6 = 33 % -> 17.5 points
    assert percent_improvement("physician_global", 6, 4) == pytest.approx(20.0)
    assert percent_improvement("physician_global", 6, 4, mode="relative") == pytest.approx(100 * 2 / 6)
    base = dict(BASE, physician_global=6.0)
    follow = dict(base, physician_global=4.0)
    assert total_improvement_score(base, follow).tis == 15.0
    assert total_improvement_score(base, follow, TisParams(percent_change="relative")).tis == 17.5
    params = TisParams.from_config({"tis": {"percent_change": "relative", "muscle": "cmas"}})
    assert params.percent_change == "relative" and params.muscle == ("cmas",)


def test_missing_measure_falls_back_or_is_marked():
    follow = dict(BASE, cmas=36.0)  # CMAS +16/52 = 30.8 % -> 32.5
    del follow["mmt8"]
    res = total_improvement_score(BASE, follow)
    assert res.measures["muscle"] == "cmas" and res.tis == 32.5
    res = total_improvement_score(BASE, follow, TisParams(fallback=False))
    assert math.isnan(res.tis)
    assert "muscle (mmt8)" in res.note
    # a domain with no alternative at all: CHAQ missing at baseline
    base = dict(BASE)
    del base["chaq"]
    res = total_improvement_score(base, BASE)
    assert math.isnan(res.tis) and "chaq" in res.note and math.isnan(res.points["chaq"])


def test_baseline_zero_relative_change_does_not_divide_by_zero():
    assert percent_improvement("ck", 0, 0) == 0.0
    assert percent_improvement("ck", 0, 10) == -math.inf
    assert band_points("enzyme", -math.inf) == 0.0


def test_bad_config_is_refused_with_the_key():
    with pytest.raises(InputError, match=r"clinical.tis.muscle"):
        TisParams.from_config({"tis": {"muscle": ["grip"]}})
    with pytest.raises(InputError, match=r"unknown TIS parameter"):
        TisParams.from_config({"tis": {"bands": 3}})
