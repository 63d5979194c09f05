"""Every validation rule, each with the message it gives (file, row, column, value, expected, fix)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from myocit_omics.config import default_study_config
from myocit_omics.validate.batch import validate_batch


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _check(folder: Path):
    return validate_batch(folder, _files(folder), config=default_study_config())


def _edit(folder: Path, name: str, old: str, new: str, count: int = 1) -> None:
    path = folder / name
    text = path.read_text()
    assert old in text, (name, old)
    path.write_text(text.replace(old, new, count))


def _manifest(folder: Path, **changes) -> None:
    data = yaml.safe_load((folder / "manifest.yaml").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    (folder / "manifest.yaml").write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("kind", ["rnaseq", "clinical", "pk", "cytokine"])
def test_valid_batches_pass(tmp_path, factory, kind):
    check = _check(factory.write_batch(tmp_path, kind))
    assert check.problems == []
    assert check.samples


# (id, kind, file, old, new, rule, row, column, value, words in the description)
ROW_RULES = [
    (
        "cmas range",
        "clinical",
        "core_set.csv",
        "MYO-01,W0,30,",
        "MYO-01,W0,53,",
        "range.cmas",
        2,
        "cmas",
        "53",
        "from 0 to 52",
    ),
    ("mmt8 range", "clinical", "core_set.csv", ",60,", ",81,", "range.mmt8", 2, "mmt8", "81", "from 0 to 80"),
    (
        "chaq range",
        "clinical",
        "core_set.csv",
        ",1.25,",
        ",3.5,",
        "range.chaq",
        2,
        "chaq",
        "3.5",
        "from 0 to 3",
    ),
    (
        "physician global range",
        "clinical",
        "core_set.csv",
        ",4.5,",
        ",11,",
        "range.physician_global",
        2,
        "physician_global",
        "11",
        "from 0 to 10",
    ),
    (
        "parent global range",
        "clinical",
        "core_set.csv",
        "4.5,5,",
        "4.5,-1,",
        "range.parent_global",
        2,
        "parent_global",
        "-1",
        "from 0 to 10",
    ),
    (
        "das skin range",
        "clinical",
        "core_set.csv",
        ",5,6,11",
        ",10,6,16",
        "range.das_skin",
        2,
        "das_skin",
        "10",
        "from 0 to 9",
    ),
    (
        "das muscle range",
        "clinical",
        "core_set.csv",
        ",5,6,11",
        ",5,12,17",
        "range.das_muscle",
        2,
        "das_muscle",
        "12",
        "from 0 to 11",
    ),
    (
        "das total range",
        "clinical",
        "core_set.csv",
        ",5,6,11",
        ",9,11,21",
        "range.das_total",
        2,
        "das_total",
        "21",
        "from 0 to 20",
    ),
    (
        "das total consistency",
        "clinical",
        "core_set.csv",
        ",5,6,11",
        ",5,6,12",
        "consistency.das_total",
        2,
        "das_total",
        12.0,
        "expected 11",
    ),
    (
        "not a number",
        "clinical",
        "core_set.csv",
        ",1.25,",
        ",abc,",
        "type.number",
        2,
        "chaq",
        "abc",
        "not a number",
    ),
    (
        "not a whole number",
        "clinical",
        "core_set.csv",
        "MYO-01,W0,30,",
        "MYO-01,W0,30.5,",
        "type.integer",
        2,
        "cmas",
        "30.5",
        "whole number",
    ),
    (
        "unknown visit",
        "clinical",
        "core_set.csv",
        "MYO-01,W0,",
        "MYO-01,W3,",
        "vocab.visit",
        2,
        "visit",
        "W3",
        "W0, W4, W8, W12, W24 or UNS-<n>",
    ),
    (
        "unknown patient",
        "rnaseq",
        "samples.csv",
        "RNA-MYO-01-W0,MYO-01,",
        "RNA-MYO-01-W0,Patient 1,",
        "vocab.patient_id",
        2,
        "patient_id",
        "Patient 1",
        "matching ^MYO-\\d{2}$",
    ),
    (
        "unknown sex",
        "clinical",
        "patients.csv",
        "MYO-01,F,",
        "MYO-01,female,",
        "vocab.sex",
        2,
        "sex",
        "female",
        "one of F, M",
    ),
    (
        "unknown MSA group",
        "clinical",
        "patients.csv",
        "anti-TIF1g",
        "TIF1",
        "vocab.msa_group",
        2,
        "msa_group",
        "TIF1",
        "anti-TIF1g, anti-NXP2, anti-MDA5, other",
    ),
    (
        "unknown role",
        "rnaseq",
        "samples.csv",
        ",patient,",
        ",case,",
        "vocab.role",
        2,
        "role",
        "case",
        "patient, healthy_control",
    ),
    (
        "empty required cell",
        "rnaseq",
        "samples.csv",
        "RNA-MYO-01-W0,MYO-01,",
        "RNA-MYO-01-W0,,",
        "required.patient_id",
        2,
        "patient_id",
        "",
        "empty cell in a required column",
    ),
    (
        "missing column",
        "rnaseq",
        "samples.csv",
        "sample_id,patient_id,visit",
        "sample_id,patient_id,timepoint_x",
        "schema.missing_column",
        1,
        "visit",
        None,
        "required column 'visit' is missing",
    ),
    (
        "same column twice under two names",
        "rnaseq",
        "samples.csv",
        "seq_batch",
        "patient",
        "schema.duplicate_column",
        1,
        "patient",
        "patient",
        "means the same as 'patient_id'",
    ),
    (
        "bad sample id",
        "pk",
        "pk.csv",
        "PK-MYO-01-W0",
        "PK MYO/01",
        "pattern.sample_id",
        2,
        "sample_id",
        "PK MYO/01",
        "letters, digits",
    ),
    (
        "decimal comma in a comma file",
        "pk",
        "pk.csv",
        ",12.5,",
        ',"12,5",',
        "type.number",
        3,
        "concentration_ng_ml",
        "12,5",
        "decimal point",
    ),
    (
        "negative dose",
        "pk",
        "pk.csv",
        "MYO-01,W0,4,",
        "MYO-01,W0,-4,",
        "range.dose_mg",
        2,
        "dose_mg",
        "-4",
        "from 0 to 100",
    ),
    (
        "duplicate sample id",
        "rnaseq",
        "samples.csv",
        "RNA-MYO-01-W4,MYO-01,W4",
        "RNA-MYO-01-W0,MYO-01,W4",
        "unique.sample_id",
        3,
        "sample_id",
        "RNA-MYO-01-W0",
        "recorded 2 times (rows 2, 3)",
    ),
    (
        "visit twice for a patient (RNA-seq)",
        "rnaseq",
        "samples.csv",
        "RNA-MYO-01-W4,MYO-01,W4",
        "RNA-MYO-01-W4,MYO-01,W0",
        "unique.patient_visit",
        3,
        "patient_id,visit",
        "MYO-01/W0",
        "recorded 2 times",
    ),
    (
        "visit twice for a patient (core set)",
        "clinical",
        "core_set.csv",
        "MYO-01,W4,",
        "MYO-01,W0,",
        "unique.patient_visit",
        3,
        "patient_id,visit",
        "MYO-01/W0",
        "recorded 2 times",
    ),
    (
        "patient twice",
        "clinical",
        "patients.csv",
        "MYO-02,F",
        "MYO-01,F",
        "unique.patient_id",
        3,
        "patient_id",
        "MYO-01",
        "recorded 2 times",
    ),
    (
        "core set patient not in patients table",
        "clinical",
        "core_set.csv",
        "MYO-02,W0,",
        "MYO-03,W0,",
        "cross.patient_unknown",
        4,
        "patient_id",
        "MYO-03",
        "patient listed in patients.csv",
    ),
    (
        "sheet sample not in matrix",
        "rnaseq",
        "samples.csv",
        "run1\n",
        "run1\nRNA-MYO-03-W0,MYO-03,W0,F,patient,run1\n",
        "cross.sheet_not_in_matrix",
        3,
        "column",
        "RNA-MYO-03-W0",
        "no such column in the count matrix",
    ),
    (
        "name column",
        "rnaseq",
        "samples.csv",
        "seq_batch",
        "child_name",
        "identifier.column",
        1,
        "child_name",
        "child_name",
        "direct identifier (name)",
    ),
    (
        "date of birth column",
        "clinical",
        "patients.csv",
        "age_years",
        "date_of_birth",
        "identifier.column",
        1,
        "date_of_birth",
        "date_of_birth",
        "(date of birth)",
    ),
    (
        "phone column",
        "pk",
        "pk.csv",
        "lloq_ng_ml",
        "parent_phone",
        "identifier.column",
        1,
        "parent_phone",
        "parent_phone",
        "(phone number)",
    ),
    (
        "address column",
        "rnaseq",
        "samples.csv",
        "seq_batch",
        "home_address",
        "identifier.column",
        1,
        "home_address",
        "home_address",
        "(address)",
    ),
    (
        "email value",
        "rnaseq",
        "samples.csv",
        "run1",
        "jane.doe@example.org",
        "identifier.email",
        2,
        "seq_batch",
        "ja*** (20 chars)",
        "e-mail address",
    ),
    (
        "phone value",
        "rnaseq",
        "samples.csv",
        "run1",
        "+44 20 7946 0958",
        "identifier.phone",
        2,
        "seq_batch",
        "+4*** (16 chars)",
        "phone number",
    ),
    (
        "date value",
        "rnaseq",
        "samples.csv",
        "run1",
        "14/03/2012",
        "identifier.date",
        2,
        "seq_batch",
        "14*** (10 chars)",
        "could be a date of birth",
    ),
    (
        "address value",
        "rnaseq",
        "samples.csv",
        "run1",
        "12 Baker Street",
        "identifier.address",
        2,
        "seq_batch",
        "12*** (15 chars)",
        "street address",
    ),
    (
        "plate well twice",
        "cytokine",
        "plate_map.csv",
        "MYO-01,W4,sample",
        "MYO-01,W4,sample",
        "unique.plate_well",
        None,
        "plate_id,well",
        None,
        "plate and well recorded 2 times",
    ),
    (
        "sample with two identities",
        "cytokine",
        "plate_map.csv",
        "CYT-MYO-01-W4,MYO-01,W4",
        "CYT-MYO-01-W0,MYO-01,W4",
        "consistency.sample_identity",
        3,
        "patient_id,visit",
        "CYT-MYO-01-W0",
        "different patients or visits",
    ),
    (
        "sample well without sample id",
        "cytokine",
        "plate_map.csv",
        "CYT-MYO-01-W0",
        "",
        "required.sample_id",
        2,
        "sample_id",
        "",
        "needs sample_id",
    ),
    (
        "unknown plate role",
        "cytokine",
        "plate_map.csv",
        ",sample,",
        ",smple,",
        "vocab.role",
        2,
        "role",
        "smple",
        "sample, bridge, standard, background, control",
    ),
]


@pytest.mark.parametrize(
    ("case", "kind", "file", "old", "new", "rule", "row", "column", "value", "words"),
    ROW_RULES,
    ids=[r[0] for r in ROW_RULES],
)
def test_rule(tmp_path, factory, case, kind, file, old, new, rule, row, column, value, words):
    folder = factory.write_batch(tmp_path, kind)
    if case == "plate well twice":
        text = (folder / file).read_text().splitlines()
        parts = text[2].split(",")
        parts[1] = text[1].split(",")[1]  # same well as the row above
        text[2] = ",".join(parts)
        (folder / file).write_text("\n".join(text) + "\n")
    else:
        _edit(folder, file, old, new)
    check = _check(folder)
    hits = [p for p in check.problems if p.rule == rule]
    assert hits, (case, [p.describe() for p in check.problems])
    p = hits[0]
    assert p.file == file
    if row is not None:
        assert p.row == row
    assert p.column == column
    if value is not None:
        assert p.value == value
    assert words in p.describe(), p.describe()
    assert p.expected or p.fix
    assert check.samples == []


def test_every_problem_is_reported_not_only_the_first(tmp_path, factory):
    folder = factory.write_batch(tmp_path, "clinical")
    _edit(folder, "core_set.csv", "MYO-01,W0,30,60,", "MYO-01,W9,53,81,")
    _edit(folder, "patients.csv", "MYO-01,F,", "MYO-01,X,")
    rules = {p.rule for p in _check(folder).problems}
    assert {"vocab.visit", "range.cmas", "range.mmt8", "vocab.sex"} <= rules


def test_unscheduled_visit_and_healthy_control_are_accepted(tmp_path, factory):
    folder = factory.write_batch(tmp_path, "rnaseq")
    _edit(folder, "samples.csv", "RNA-MYO-01-W4,MYO-01,W4,F,patient", "RNA-MYO-01-W4,MYO-01,UNS-1,F,patient")
    _edit(
        folder, "samples.csv", "RNA-MYO-02-W4,MYO-02,W4,M,patient", "RNA-MYO-02-W4,HC-07,,M,healthy_control"
    )
    check = _check(folder)
    assert check.problems == []
    roles = {s.sample_id: s.attrs["role"] for s in check.samples}
    assert roles["RNA-MYO-02-W4"] == "healthy_control"


def test_matrix_column_missing_from_sheet(tmp_path, factory):
    folder = factory.write_batch(tmp_path, "rnaseq")
    lines = (folder / "samples.csv").read_text().splitlines()
    (folder / "samples.csv").write_text("\n".join(lines[:-1]) + "\n")
    [p] = [p for p in _check(folder).problems if p.rule == "cross.matrix_not_in_sheet"]
    assert p.file == "counts.tsv" and p.column == "RNA-MYO-02-W4"
    assert "not described in the sample sheet" in p.describe()


def test_two_samples_pointing_at_one_matrix_column(tmp_path, factory):
    folder = factory.write_batch(tmp_path, "rnaseq", patients=["MYO-01"], visits=["W0", "W4"])
    (folder / "samples.csv").write_text(
        "sample_id,column,patient_id,visit\nA,RNA-MYO-01-W0,MYO-01,W0\nB,RNA-MYO-01-W0,MYO-01,W4\n"
    )
    rules = {p.rule for p in _check(folder).problems}
    assert {"unique.column", "cross.matrix_not_in_sheet"} <= rules


# ---------------------------------------------------------------- the manifest
MANIFEST_RULES = [
    ("unknown kind", {"kind": "proteomics"}, "manifest.kind", "rnaseq, cytokine, clinical, pk"),
    ("bad name", {"name": "my batch!"}, "manifest.name", "letters, digits"),
    ("unknown key", {"colour": "blue"}, "manifest.unknown_key", "one of"),
    ("wrong schema", {"schema": "myocit-batch/9"}, "manifest.schema", "myocit-batch/1"),
    ("unknown platform", {"platform": "kallisto"}, "manifest.platform", "nfcore, featurecounts"),
    ("unknown rounding", {"rounding": "ceil"}, "manifest.rounding", "nearest or refuse"),
    ("no files", {"files": None}, "manifest.files", "role: file name"),
    (
        "unknown role",
        {"files": {"counts": "counts.tsv", "sample_sheet": "samples.csv", "matrix": "counts.tsv"}},
        "manifest.role",
        "counts (or counts_dir) and sample_sheet",
    ),
    ("role missing", {"files": {"counts": "counts.tsv"}}, "manifest.role_missing", "sample_sheet"),
    (
        "file missing",
        {"files": {"counts": "Counts.TSV", "sample_sheet": "samples.csv"}},
        "manifest.file_missing",
        "case-sensitive",
    ),
    (
        "path escapes",
        {"files": {"counts": "../counts.tsv", "sample_sheet": "samples.csv"}},
        "manifest.file_path",
        "relative to the batch folder",
    ),
    (
        "supersedes without reason",
        {"supersedes": {"batch": "rnaseq-old"}},
        "manifest.supersedes",
        "reason: <why>",
    ),
]


@pytest.mark.parametrize(
    ("case", "changes", "rule", "words"), MANIFEST_RULES, ids=[r[0] for r in MANIFEST_RULES]
)
def test_manifest_rule(tmp_path, factory, case, changes, rule, words):
    folder = factory.write_batch(tmp_path, "rnaseq")
    _manifest(folder, **changes)
    problems = _check(folder).problems
    hits = [p for p in problems if p.rule == rule]
    assert hits, (case, [p.describe() for p in problems])
    assert hits[0].file == "manifest.yaml"
    assert words in hits[0].describe()


def test_manifest_missing_or_not_yaml(tmp_path, factory):
    folder = factory.write_batch(tmp_path, "pk")
    (folder / "manifest.yaml").unlink()
    [p] = _check(folder).problems
    assert p.rule == "manifest.missing" and "no manifest.yaml" in p.message
    (folder / "manifest.yaml").write_text("kind: [pk\nname: x\n")
    [p] = _check(folder).problems
    assert p.rule == "manifest.yaml"


def test_unlisted_file_is_refused_and_listed_files_still_checked(tmp_path, factory):
    folder = factory.write_batch(tmp_path, "pk")
    (folder / "notes.docx").write_bytes(b"x")
    _edit(folder, "pk.csv", "MYO-01,W0,4,", "MYO-01,W0,-4,")
    problems = _check(folder).problems
    assert {p.rule for p in problems} == {"manifest.unlisted_file", "range.dose_mg"}
    assert [p.file for p in problems if p.rule == "manifest.unlisted_file"] == ["notes.docx"]


def test_count_problems_come_through_the_batch(tmp_path, factory):
    folder = factory.write_batch(tmp_path, "rnaseq")
    text = (folder / "counts.tsv").read_text().splitlines()
    cells = text[3].split("\t")
    cells[2] = "-7"
    text[3] = "\t".join(cells)
    (folder / "counts.tsv").write_text("\n".join(text) + "\n")
    [p] = _check(folder).problems
    assert (p.rule, p.file, p.row, p.column, p.value) == (
        "counts.negative",
        "counts.tsv",
        4,
        "RNA-MYO-01-W0",
        "-7",
    )


def test_ecrf_xlsx_export_is_read_and_problems_name_spreadsheet_rows(tmp_path, factory):
    import csv

    import openpyxl

    folder = factory.write_batch(tmp_path, "clinical")
    _edit(folder, "core_set.csv", "MYO-02,W4,30,", "MYO-02,W4,60,")
    wb = openpyxl.Workbook()
    ws = wb.active
    with open(folder / "core_set.csv") as fh:
        for i, row in enumerate(csv.reader(fh)):
            ws.append([c if i == 0 or not c.replace(".", "").isdigit() else float(c) for c in row])
    wb.save(folder / "core_set.xlsx")
    (folder / "core_set.csv").unlink()
    _manifest(folder, files={"patients": "patients.csv", "core_set": "core_set.xlsx"})
    [p] = _check(folder).problems
    assert (p.file, p.row, p.column, p.rule) == ("core_set.xlsx", 5, "cmas", "range.cmas")
    assert p.value == "60"
