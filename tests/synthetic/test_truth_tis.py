"""The generator's truth TIS and class check, on core-set rows worked by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from myocit_omics.synthetic.clinical import agrees_with_class, tis_between

BASE = {"physician_global": 5.0, "parent_global": 8.3, "mmt8": 40.0, "cmas": 26.0, "chaq": 1.5,
        "ck": 1000.0, "aldolase": 10.0, "ldh": 500.0, "alt": 50.0, "ast": 60.0,
        "mdaat_extramuscular": 30.0, "das_total": 14.0, "chq_phs": 25.0}


def row(**changes: float) -> pd.Series:
    return pd.Series({**BASE, **changes}, dtype=float)


def test_band_edges_are_read_in_decimal_not_binary():
    # parent 8.3 -> 6.8: 15 % exactly (binary: 15.000000000000009) -> 2.5 points, not 5
    assert tis_between(row(), row(parent_global=6.8)) == 2.5
    # physician 5 -> 4.5: 5 % -> 0; MMT8 40 -> 41.6: 2 % -> 0, 40 -> 41.7: 2.125 % -> 10
    assert tis_between(row(), row(physician_global=4.5, mmt8=41.6)) == 0
    assert tis_between(row(), row(mmt8=41.7)) == 10


def test_worsening_scores_zero_and_each_top_band_adds_to_100():
    assert tis_between(row(), row(physician_global=9, parent_global=10, mmt8=30, chaq=3, ck=5000,
                                  mdaat_extramuscular=50)) == 0
    best = row(physician_global=0, parent_global=0, mmt8=80, chaq=0, ck=100, mdaat_extramuscular=0)
    assert tis_between(row(), best) == 20 + 10 + 32.5 + 10 + 7.5 + 20


def test_missing_measures_use_the_alternative_or_give_na():
    # MMT8 missing -> CMAS 26 -> 36.4 = 20 % -> 20 (MMT8 scored 0 would give 0)
    assert tis_between(row(), row(mmt8=math.nan, cmas=36.4)) == 20
    # most abnormal enzyme by baseline / ULN: CK 5, LDH 1.67, AST 1.33, aldolase 1.32, ALT 1.25;
    # CK missing -> LDH 500 -> 400 = 20 % -> 5 (ALT 50 -> 10 = 80 % is not the one scored)
    assert tis_between(row(), row(ck=math.nan, ldh=400, alt=10)) == 5
    no_enzyme = {e: math.nan for e in ("ck", "aldolase", "ldh", "alt", "ast")}
    # no enzyme at follow-up -> CHQ-PhS 25 -> 30 = 20 % relative -> 5
    assert tis_between(row(), row(**no_enzyme, chq_phs=30)) == 5
    # MDAAT missing at baseline -> DAS total 14 -> 10 = 20 % of 0-20 -> 12.5
    assert tis_between(row(mdaat_extramuscular=math.nan), row(das_total=10)) == 12.5
    # no alternative for parent global: not computable, never 0
    assert math.isnan(tis_between(row(), row(parent_global=math.nan)))


@pytest.mark.parametrize(("w24", "expected"), [
    # TIS 100 and inactive (CK 100, CMAS 50, MMT8 80, physician 0): complete only
    ({"physician_global": 0, "parent_global": 0, "mmt8": 80, "cmas": 50, "chaq": 0, "ck": 100,
      "mdaat_extramuscular": 0}, {"complete"}),
    # TIS 100 but only 2 of 4 inactive criteria (CK 300, physician 1): partial only
    ({"physician_global": 1, "parent_global": 0, "mmt8": 80, "cmas": 50, "chaq": 0, "ck": 300,
      "mdaat_extramuscular": 0}, {"partial"}),
    # 2 of 4 met and CMAS not measured: could be inactive -> neither partial nor non
    ({"physician_global": 1, "parent_global": 0, "mmt8": 80, "cmas": math.nan, "chaq": 0, "ck": 100,
      "mdaat_extramuscular": 0}, set()),
    # TIS 2.5 (parent global 15 %): non only
    ({"parent_global": 6.8}, {"non"}),
    # TIS not computable at W24: no class agrees
    ({"parent_global": math.nan}, set()),
])
def test_class_agreement_at_w24(w24, expected):
    core = pd.DataFrame([{"patient_id": "P", "visit": "W0", **BASE},
                         {"patient_id": "P", "visit": "W24", **{**BASE, **w24}}])
    agree = {c for c in ("complete", "partial", "non") if agrees_with_class(core, "P", c)}
    assert agree == expected
