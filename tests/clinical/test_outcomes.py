"""Core-set reading, outcome table, gaps marked, DAS reconciliation, the run_clinical step."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from myocit_omics.clinical.core_set import parse_core_set, read_core_set
from myocit_omics.clinical.das import das_table
from myocit_omics.clinical.outcomes import clinical_outcomes, response_at
from myocit_omics.clinical.pipeline import run_clinical
from myocit_omics.config import default_study_config
from myocit_omics.errors import ValidationFailed
from myocit_omics.results import ResultsTree

HEADER = ("patient_id,visit,cmas,mmt8,physician_global,parent_global,chaq,ck,aldolase,ldh,alt,ast,"
          "das_skin,das_muscle,das_total,mdaat_extramuscular,chq_phs,chq_pss,prednisone_mg_kg_day")


def write_core(tmp_path, rows):
    path = tmp_path / "core_set.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


# MYO-01: full W0 and W24, major response: physician 6 -> 1 (50 % -> 20), parent 6 -> 1 (-> 10),
# MMT8 50 -> 76 (32.5 % -> 32.5), CHAQ 2.4 -> 0.4 (66.7 % -> 10), CK 3000 -> 100 (96.7 % -> 7.5),
# MDAAT 20 -> 2 (30 % -> 15): TIS = 95. Inactive at W24: CK 100 <= 150, CMAS 49 >= 48, MMT8 76 < 78,
# PhGlo 1 > 0.2: 2 of 4 -> not inactive.
ROWS = [
    "MYO-01,W0,20,50,6,6,2.4,3000,,,,,5,7,12,20,30,40,2",
    "MYO-01,W24,49,76,1,1,0.4,100,,,,,1,1,2,2,45,50,0.25",
    # MYO-02: only a W0 visit
    "MYO-02,W0,25,55,5,5,2,900,,,,,4,5,9,15,35,40,2",
    # MYO-03: CHAQ not recorded at W24 -> TIS NA (no alternative); das_total derived from parts
    "MYO-03,W0,30,60,5,5,2,500,,,,,4,4,,10,35,40,2",
    "MYO-03,W24,45,74,2,2,,200,,,,,1,2,,5,40,45,0.3",
]


def test_outcomes_mark_gaps_and_never_fill_them(tmp_path):
    core = read_core_set(write_core(tmp_path, ROWS), config=default_study_config())
    out = clinical_outcomes(core, patients=["MYO-01", "MYO-02", "MYO-03", "MYO-04"],
                            visits=["W0", "W4", "W24"])
    one = out[(out.patient_id == "MYO-01") & (out.visit == "W24")].iloc[0]
    assert one["tis"] == pytest.approx(20 + 10 + 32.5 + 10 + 7.5 + 15)
    assert one["response"] == "major"
    assert one["inactive_disease"] is False or one["inactive_disease"] == False  # noqa: E712
    assert "muscle=mmt8" in one["tis_measures"] and "enzyme=ck" in one["tis_measures"]
    # missing visit W4 of MYO-01 is a marked row, not a silent absence
    gap = out[(out.patient_id == "MYO-01") & (out.visit == "W4")].iloc[0]
    assert gap["missing_measures"] == "visit not recorded" and math.isnan(gap["tis"])
    assert gap["response"] is None
    # a patient with a single visit: rows for the other visits, scores NA, nothing stops
    two = out[out.patient_id == "MYO-02"]
    assert list(two.visit) == ["W0", "W4", "W24"]
    assert two.iloc[0]["tis_note"] == "baseline visit"
    # a patient with no core-set row at all
    four = out[out.patient_id == "MYO-04"]
    assert len(four) == 3 and (four["missing_measures"] == "visit not recorded").all()
    # a missing measure: TIS NA with the reason, the measure listed as missing
    three = out[(out.patient_id == "MYO-03") & (out.visit == "W24")].iloc[0]
    assert math.isnan(three["tis"]) and "chaq" in three["tis_note"]
    assert "chaq" in three["missing_measures"].split(";")
    assert three["das_total"] == 3.0 and three["das_source"] == "derived"
    resp = response_at(out)
    assert list(resp.patient_id) == ["MYO-01", "MYO-02", "MYO-03", "MYO-04"]
    assert resp.set_index("patient_id").loc["MYO-01", "major_response_w24"] is True
    assert resp.set_index("patient_id").loc["MYO-02", "major_response_w24"] is None


def test_core_set_errors_name_row_column_value(tmp_path):
    bad = [
        "MYO-01,W0,60,50,6,6,2.4,3000,,,,,5,7,12,20,30,40,2",    # CMAS 60 > 52
        "MYO-01,W4,20,abc,6,6,2.4,3000,,,,,5,7,12,20,30,40,2",   # MMT8 not a number
        "MYO-1,W9,20,50,6,6,2.4,3000,,,,,5,7,12,20,30,40,2",     # bad id and visit
    ]
    with pytest.raises(ValidationFailed) as info:
        read_core_set(write_core(tmp_path, bad), config=default_study_config())
    problems = {(p.row, p.column, str(p.value)) for p in info.value.problems}
    assert {(2, "cmas", "60"), (3, "mmt8", "abc"), (4, "patient_id", "MYO-1"), (4, "visit", "W9")} <= problems
    assert "core_set.csv, row 2, column 'cmas'" in str(info.value)


def test_duplicate_visit_row_is_refused(tmp_path):
    rows = ["MYO-01,W4,20,50,6,6,2.4,3000,,,,,5,7,12,20,30,40,2"] * 2
    with pytest.raises(ValidationFailed, match=r"row 3, column 'visit'.*patient and visit appear twice"):
        read_core_set(write_core(tmp_path, rows), config=default_study_config())


def test_parse_core_set_rules_without_the_intake_reader():
    raw = pd.DataFrame({"patient_id": ["MYO-01", "MYO-01", "MYO-1"], "visit": ["W0", "W4", "W9"],
                        "cmas": ["60", "20", ""], "mmt8": ["50", "abc", "NA"]})
    with pytest.raises(ValidationFailed) as info:
        parse_core_set(raw, config=default_study_config())
    problems = {(p.row, p.column, p.rule) for p in info.value.problems}
    assert problems == {(2, "cmas", "range.cmas"), (3, "mmt8", "clinical.number"),
                        (4, "patient_id", "clinical.patient_id"), (4, "visit", "clinical.visit")}


def test_das_total_clash_is_an_error():
    raw = pd.DataFrame({"patient_id": ["MYO-01"], "visit": ["W0"], "das_skin": ["3"], "das_muscle": ["4"],
                        "das_total": ["9"]})
    core = parse_core_set(raw)
    with pytest.raises(ValidationFailed, match=r"differs from skin \+ muscle.*expected 7"):
        das_table(core)


def test_run_clinical_writes_tables_and_plots(tmp_path):
    core_path = write_core(tmp_path, ROWS)
    patients = tmp_path / "patients.csv"
    patients.write_text("patient_id,sex,age_years,weight_kg,msa_group,baricitinib_dose_mg\n"
                        "MYO-01,F,9,28,anti-TIF1g,4\nMYO-02,M,5,18,other,2\nMYO-03,F,12,40,anti-NXP2,4\n",
                        encoding="utf-8")
    pk = tmp_path / "pk.csv"
    pk.write_text("sample_id,patient_id,visit,dose_mg,time_since_dose_h,concentration_ng_ml,lloq_ng_ml\n"
                  "PK-1,MYO-01,W4,4,2,40,0.5\nPK-2,MYO-01,W8,4,22,BLQ,0.5\n", encoding="utf-8")
    tree = ResultsTree(tmp_path / "run")
    out = run_clinical(patients, core_path, pk, config=default_study_config(), tree=tree)
    table = pd.read_csv(tree.table("clinical_outcomes"), sep="\t", keep_default_na=False)
    # 3 patients x 5 protocol visits, NA written as NA
    assert len(table) == 15 and (table["tis"] == "NA").sum() == 14
    exp = pd.read_csv(tree.table("pk_exposure"), sep="\t", keep_default_na=False).set_index("patient_id")
    # 2 samples, BLQ as LLOQ/2: mean (40 + 0.25) / 2; too few samples for a model
    assert float(exp.loc["MYO-01", "c_obs_mean"]) == pytest.approx((40 + 0.25) / 2)
    assert exp.loc["MYO-01", "auc_model"] == "NA" and exp.loc["MYO-01", "method"] == "observed_only"
    assert exp.loc["MYO-02", "method"] == "not_estimable" and exp.loc["MYO-02", "note"] == "no PK samples"
    assert tree.plot("tis_waterfall").is_file() and tree.plot("cmas_trajectories").is_file()
    assert out["n_major_response"] == 1
    assert any("not recorded" in w for w in out["warnings"])


def test_run_clinical_without_pk(tmp_path):
    tree = ResultsTree(tmp_path / "run")
    out = run_clinical(None, write_core(tmp_path, ROWS[:2]), None, config=default_study_config(), tree=tree)
    assert not tree.table("pk_exposure").exists()
    assert "no PK batch" in out["summary"]
    assert np.isclose(pd.read_csv(tree.table("response_w24"), sep="\t")["tis_w24"].iloc[0], 95.0)
