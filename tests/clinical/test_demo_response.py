"""The demo study: clinical outcomes against what the generator planted (data/demo/truth)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from myocit_omics.clinical.core_set import read_core_set
from myocit_omics.clinical.outcomes import OutcomeParams, clinical_outcomes, response_at
from myocit_omics.config import load_study_config


@pytest.fixture
def demo(demo_root):
    config = load_study_config(demo_root / "study.yaml")
    core = read_core_set(demo_root / "batches" / "clinical-coreset" / "core_set.csv", config=config)
    out = clinical_outcomes(core, params=OutcomeParams.from_config(config.clinical), patients=config.patients,
                            visits=config.visits)
    truth = pd.read_csv(demo_root / "truth" / "patients.tsv", sep="\t").set_index("patient_id")
    tis = pd.read_csv(demo_root / "truth" / "clinical_tis.tsv", sep="\t")
    return out, response_at(out).set_index("patient_id"), truth, tis


def test_tis_at_w24_equals_the_generators_tis(demo):
    _out, resp, _, tis = demo
    planted = tis[tis.visit == "W24"].set_index("patient_id")["tis_generator"]
    assert len(planted) == 16
    pd.testing.assert_series_equal(resp.loc[planted.index, "tis_w24"].astype(float), planted.astype(float),
                                   check_names=False)


def test_tis_differs_from_the_generator_only_where_the_generator_is_wrong(demo):
    out, _, _, tis = demo
    m = out.merge(tis, on=["patient_id", "visit"])
    differ = m[~((m["tis"] - m["tis_generator"]).abs() < 1e-9)]
    assert set(zip(differ.patient_id, differ.visit, strict=True)) == {
        ("MYO-01", "W12"), ("MYO-05", "W4"), ("MYO-13", "W12")}
    rows = differ.set_index(["patient_id", "visit"])
    # MYO-01 W12: parent global 8.3 -> 6.8 is 1.5/10 = 15 %, on the band edge: 2.5 points, not 5
    # (the generator compares 15.000000000000009 > 15 in floating point). Others: physician
    # 5 -> 4.3 = 7 % -> 7.5; MMT8 63 -> 66 = 3.75 % -> 10; CHAQ 1.125 -> 1 = 4.2 % -> 0;
    # CK 3602 -> 2550 = 29.2 % -> 7.5; MDAAT 15.8 -> 13.4 = 4 % -> 0. Total 27.5.
    assert rows.loc[("MYO-01", "W12"), "tis"] == 7.5 + 2.5 + 10 + 0 + 7.5 + 0
    # MYO-05 W4: parent global not measured -> TIS NA with the reason (the generator scores it 0)
    assert math.isnan(rows.loc[("MYO-05", "W4"), "tis"])
    assert "parent_global" in rows.loc[("MYO-05", "W4"), "tis_note"]
    # MYO-13 W12: MMT8 not measured -> the criteria's alternative CMAS is used, and named
    assert "muscle=cmas" in rows.loc[("MYO-13", "W12"), "tis_measures"]


def test_major_response_at_w24_follows_the_planted_response_class(demo):
    _, resp, truth, _ = demo
    cls = truth["response_class"]
    assert (resp.loc[cls[cls == "complete"].index, "response_w24"] == "major").all()
    assert not (resp.loc[cls[cls == "non"].index, "response_w24"] == "major").any()
    assert resp.loc[cls[cls == "partial"].index, "response_w24"].isin(["moderate", "major"]).all()


@pytest.mark.xfail(strict=True, reason=(
    "generator, not TIS code: MYO-11 is planted 'non' (activity 0.82 at W24) but its core set gives "
    "TIS 50 (moderate) by the generator's own generator_tis too; reported to the lead"))
def test_responders_by_tis_at_w24_equal_the_generators_truth(demo):
    _, resp, truth, _ = demo
    by_tis = resp["tis_w24"] >= 30  # at least a minimal response
    planted = truth["responder"].astype(str).str.lower() == "true"
    assert by_tis.loc[planted.index].tolist() == planted.tolist()
