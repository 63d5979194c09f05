from __future__ import annotations

import math

import pytest

from myocit_omics.config import StudyConfig
from myocit_omics.errors import ValidationFailed
from myocit_omics.io.clinical import read_core_set, read_patients
from myocit_omics.io.pk import read_pk
from myocit_omics.io.sample_sheet import read_sample_sheet


def test_sample_sheet_defaults_and_aliases(tmp_path):
    path = tmp_path / "samples.tsv"
    path.write_text("Sample\tPatient\tTimepoint\tSex\nRNA-1\tMYO-01\tW0\tF\nRNA-2\tMYO-01\tW4\t\n")
    sheet = read_sample_sheet(path)
    assert list(sheet["sample_id"]) == ["RNA-1", "RNA-2"]
    assert list(sheet["column"]) == ["RNA-1", "RNA-2"]  # column defaults to sample_id
    assert list(sheet["role"]) == ["patient", "patient"]
    assert list(sheet["visit"]) == ["W0", "W4"]


def test_sample_sheet_uses_the_study_vocabulary(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("sample_id,patient_id,visit\nS1,P-7,W2\n")
    config = StudyConfig(study="x", patient_id_pattern=r"^P-\d$", visits=["W2"])
    assert read_sample_sheet(path, config=config)["patient_id"].iloc[0] == "P-7"
    with pytest.raises(ValidationFailed) as info:
        read_sample_sheet(path)  # MYOCIT defaults: MYO-nn and W0..W24
    assert {p.rule for p in info.value.problems} == {"vocab.patient_id", "vocab.visit"}


def test_core_set_semicolon_decimal_comma_and_empty_cells(tmp_path):
    path = tmp_path / "core_set.csv"
    path.write_bytes("patient_id;visit;cmas;chaq;physician_global\nMYO-01;W0;35;1,375;\n".encode("cp1252"))
    core = read_core_set(path)
    assert core.loc[2, "chaq"] == pytest.approx(1.375)
    assert math.isnan(core.loc[2, "physician_global"])
    assert core.attrs["source"]["decimal"] == ","


def test_patients_table_problems_are_all_reported(tmp_path):
    path = tmp_path / "patients.csv"
    path.write_text("patient_id,sex,age_years,weight_kg,email\nMYO-01,F,40,25,a.b@c.org\nMYO-02,W,9,300,\n")
    with pytest.raises(ValidationFailed) as info:
        read_patients(path)
    got = {(p.rule, p.row, p.column) for p in info.value.problems}
    assert got == {("range.age_years", 2, "age_years"), ("vocab.sex", 3, "sex"),
                   ("range.weight_kg", 3, "weight_kg"), ("identifier.column", 1, "email")}


def test_pk_keeps_blq_as_such(tmp_path):
    path = tmp_path / "pk.csv"
    path.write_text("sample_id,patient_id,visit,dose_mg,time_since_dose_h,concentration_ng_ml,lloq_ng_ml\n"
                    "PK-1,MYO-01,W4,4,2,BLQ,0.5\nPK-2,MYO-01,W8,4,2,12.5,0.5\n")
    pk = read_pk(path)
    assert list(pk["concentration_ng_ml"]) == ["BLQ", 12.5]
