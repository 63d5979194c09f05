"""Every real export in ../shared/fixtures/exports is read into the common form."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from myocit_omics.io.cytokine import VALUE_COLUMNS, detect_platform, read_export

FIXTURES = {
    "allotropy_luminex_xPONENT_example02.csv": ("xponent", "xponent-csv"),
    "allotropy_luminex_xPONENT_NaN_and_not_reported_values.csv": ("xponent", "xponent-csv"),
    "allotropy_luminex_xPONENT_missing_optional_fields.csv": ("xponent", "xponent-csv"),
    "serolyzer_New_Batch_14_20140513_082522.csv": ("xponent", "xponent-csv"),
    "serolyzer_CovidOISExPONTENT_CO_reduced.csv": ("xponent", "xponent-csv"),
    "allotropy_luminex_intelliflex_v2_2.csv": ("xponent", "intelliflex-flat"),
    "allotropy_msd_workbench_test_1.csv": ("msd", "msd-workbench-csv"),
    "allotropy_test_msd_workbench_xlsx.xlsx": ("msd", "msd-workbench-xlsx"),
    "olinkanalyze_npx_data_v3.zip": ("olink", "olink-explore-zip"),
    "olinkanalyze_npx_data_ext_v1.zip": ("olink", "olink-explore-zip"),
    "olinkanalyze_npx_data1.xlsx": ("olink", "olink-target96-wide"),
    "allotropy_bio-rad_bio-plex_manager_example_01.xml": ("bioplex", "bioplex-xml"),
}


def _rows(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _block(path, name):
    """Return (header, data rows) of an xPONENT DataType block, read independently with csv."""
    rows = _rows(path)
    for i, r in enumerate(rows):
        if r and r[0] == "DataType:" and r[1] == name:
            header = [c for c in rows[i + 1] if c != ""] if rows[i + 1][-1] == "" else rows[i + 1]
            data = []
            for r2 in rows[i + 2 :]:
                if not any(c.strip() for c in r2) or r2[0] == "DataType:":
                    break
                data.append(r2)
            return header, data
    raise KeyError(name)


def test_every_fixture_is_covered(shared):
    folder = shared("fixtures", "exports")
    on_disk = {p.name for p in folder.iterdir() if not p.name.startswith("LICENSE")}
    assert on_disk == set(FIXTURES), "a new fixture export appeared: add it to FIXTURES"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_read_into_common_form(shared, name):
    path = shared("fixtures", "exports", name)
    platform, fmt = FIXTURES[name]
    assert detect_platform(path) == platform
    exp = read_export(path)
    assert exp.platform == platform
    assert exp.fmt == fmt
    assert tuple(exp.values.columns) == VALUE_COLUMNS
    assert len(exp.values) > 0
    assert (exp.values["analyte"] != "").all()
    assert (exp.values["plate_id"] != "").all()
    assert exp.values["role"].isin(["sample", "standard", "background", "control"]).all()
    # every value keeps its raw string next to its number
    assert exp.values["raw"].map(lambda s: isinstance(s, str)).all()
    assert set(exp.analytes["analyte"]) >= set(exp.values["analyte"])


def test_xponent_quoted_every_block_kept_and_values(shared):
    path = shared("fixtures", "exports", "allotropy_luminex_xPONENT_example02.csv")
    exp = read_export(path)
    for block in (
        "Median",
        "Count",
        "Net MFI",
        "Avg Net MFI",
        "Units",
        "Per Bead Count",
        "Dilution Factor",
        "Analysis Types",
        "Audit Logs",
        "Warnings/Errors",
    ):
        assert block in exp.blocks, block
    header, data = _block(path, "Count")
    alpha = header.index("alpha")
    counts = {r[0]: float(r[alpha]) for r in data}
    got = exp.values[exp.values["analyte"] == "alpha"].set_index("location")["bead_count"].to_dict()
    assert got == counts
    assert exp.metadata["date_iso"] == "2023-05-17"
    assert exp.metadata["date_convention"] == "month_first"
    assert set(exp.values["unit"]) == {"Bead"}
    assert list(exp.messages["well"]) == ["A1"]
    # the U+FFFD in ProtocolDescription survives
    assert "\ufffd" in exp.metadata["ProtocolDescription"]


def test_xponent_resaved_with_bom_and_trailing_commas(shared):
    path = shared("fixtures", "exports", "serolyzer_CovidOISExPONTENT_CO_reduced.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    exp = read_export(path)
    assert "Program" in exp.metadata  # BOM did not glue itself to the first key
    header, data = _block(path, "Median")
    assert exp.analyte_names == [h for h in header[2:] if h != "Total Events"]
    assert len(exp.values) == len(data) * len(exp.analyte_names)
    # the standard wells named "S" are recognised, and the missing expected concentrations are flagged
    assert (exp.values.loc[exp.values["sample"] == "S", "role"] == "standard").all()
    assert any(p.rule == "xponent.missing_standards" for p in exp.problems)
    # the re-save turned %CV numbers into Polish month dates ('20.lip'): kept, flagged, not used
    cv_bad = [p for p in exp.problems if p.rule == "xponent.secondary_not_number"]
    assert cv_bad and "'%CV'" in cv_bad[0].message and ".lip" in cv_bad[0].value


def test_xponent_nan_cells_become_missing_numbers(shared):
    path = shared("fixtures", "exports", "allotropy_luminex_xPONENT_NaN_and_not_reported_values.csv")
    exp = read_export(path)
    nan_raw = exp.values["raw"].isin(["NaN", ""])
    assert nan_raw.any()
    assert exp.values.loc[nan_raw, "signal"].isna().all()
    assert exp.values.loc[~nan_raw, "signal"].notna().all()


def test_xponent31_repeated_location_row_not_taken_as_a_well(shared):
    exp = read_export(shared("fixtures", "exports", "serolyzer_New_Batch_14_20140513_082522.csv"))
    assert "Location" not in set(exp.values["location"])
    assert exp.values["dilution_factor"].eq(1.0).all()
    assert exp.metadata["date_iso"] == "2016-03-13"


def test_msd_csv_flags_and_instrument_values(shared):
    path = shared("fixtures", "exports", "allotropy_msd_workbench_test_1.csv")
    exp = read_export(path)
    rows = _rows(path)
    header = rows[1]
    data = rows[2:]
    assert exp.plate_ids == [rows[0][0].removeprefix("Plate_")]
    v = exp.values
    for r in data:
        rec = dict(zip(header, r, strict=False))
        row = v[(v["location"] == rec["Well"]) & (v["analyte"] == rec["Assay"])].iloc[0]
        assert row["raw"] == rec["Calc. Concentration"]
        calc = float(rec["Calc. Concentration"])
        assert (math.isnan(calc) and math.isnan(row["instrument_value"])) or row["instrument_value"] == calc
        assert row["expected_conc"] == float(rec["Concentration"])
        assert row["well"] == rec["Well"][0] + str(int(rec["Well"][1:]))
        expected_flag = {"Above Detection Range": "above_detection", "Above Fit Curve Range": "oor_high"}[
            rec["Detection Range"]
        ]
        assert row["instrument_flag"] == expected_flag
    assert (v["role"] == "standard").all()  # S001


def test_msd_xlsx(shared):
    exp = read_export(shared("fixtures", "exports", "allotropy_test_msd_workbench_xlsx.xlsx"))
    v = exp.values
    assert len(v) == 24
    assert v.loc[v["sample"] == "SAMPLE_001", "instrument_value"].iloc[0] == pytest.approx(2038.74)
    # rows with an expected Concentration are standards, the others samples
    assert (v["role"] == "standard").sum() == v["expected_conc"].notna().sum() == 8


def test_olink_zip_checksum_verified_and_long_values(shared):
    import hashlib
    import zipfile

    path = shared("fixtures", "exports", "olinkanalyze_npx_data_v3.zip")
    with zipfile.ZipFile(path) as zf:
        data = zf.read("npx_data_v3.csv")
        want = zf.read("checksum_sha256.txt").decode().strip()
    assert hashlib.sha256(data).hexdigest() == want
    exp = read_export(path)
    assert exp.problems == []
    lines = data.decode().splitlines()
    header = lines[1 - 1].split(";")
    assert len(exp.values) == len(lines) - 1
    first = dict(zip(header, lines[1].split(";"), strict=True))
    row = exp.values.iloc[0]
    assert row["raw"] == first["NPX"]
    assert row["signal"] == float(first["NPX"])
    assert row["lloq"] == float(first["LOD"])
    assert row["unit"] == "NPX"
    assert exp.scale == "npx"


def test_olink_ext_has_wells_and_cv(shared):
    exp = read_export(shared("fixtures", "exports", "olinkanalyze_npx_data_ext_v1.zip"))
    assert (exp.values["well"] != "").all()
    assert exp.values["cv_pct"].notna().all()


def test_olink_target96_wide(shared):
    import openpyxl

    path = shared("fixtures", "exports", "olinkanalyze_npx_data1.xlsx")
    exp = read_export(path)
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = [list(r) for r in wb.active.iter_rows(values_only=True)]
    wb.close()
    assay = rows[3]
    n_assays = sum(1 for c in rows[5] if isinstance(c, str) and c.startswith("OID"))
    samples = [r[0] for r in rows[7:] if r and r[0] and r[0] not in ("LOD", "Missing Data freq.")]
    assert len(exp.values) == n_assays * len(samples)
    # first sample, first assay, and its LOD from the footer row
    v = exp.values
    first = v[(v["sample"] == rows[7][0]) & (v["analyte"] == assay[1])].iloc[0]
    assert first["signal"] == pytest.approx(rows[7][1])
    lod_row = next(r for r in rows if r and r[0] == "LOD")
    assert first["lloq"] == pytest.approx(lod_row[1])
    # plate ids come from the per-panel Plate ID columns
    assert set(v["plate_id"]) <= {r[j] for r in rows[7:] for j, c in enumerate(assay) if c == "Plate ID"}
    assert np.isfinite(v["signal"]).mean() > 0.9


def test_intelliflex_flat(shared):
    path = shared("fixtures", "exports", "allotropy_luminex_intelliflex_v2_2.csv")
    exp = read_export(path)
    rows = [r for r in _rows(path) if any(c.strip() for c in r)]
    cut = next(i for i, r in enumerate(rows) if r[0].startswith("--DOCUMENT SIGNATURE--"))
    assert exp.metadata["document_signature"].startswith("--DOCUMENT SIGNATURE--")
    rows = rows[:cut]
    n_regions = sum(1 for c in rows[0] if c.endswith("RP1 ANALYTE NAME"))
    assert len(exp.values) == (len(rows) - 1) * n_regions
    b1 = exp.values[(exp.values["well"] == "B1") & (exp.values["analyte"] == "HPV6")].iloc[0]
    rec = dict(zip(rows[0], rows[2], strict=True))
    assert b1["signal"] == float(rec["R25: RP1 NET MEDIAN"])
    assert b1["bead_count"] == float(rec["R25: RP1 COUNT"])


@pytest.mark.parametrize(
    "name",
    [
        "allotropy_msd_workbench_test_1.csv",
        "olinkanalyze_npx_data_v3.zip",
        "serolyzer_New_Batch_14_20140513_082522.csv",
    ],
)
def test_fixture_through_the_cytokine_step(shared, name):
    from myocit_omics.cytokines.pipeline import LONG_COLUMNS, CytokineParams, process_exports

    exp = read_export(shared("fixtures", "exports", name))
    res = process_exports([(exp, None, "fixture")], CytokineParams())
    assert tuple(res.long.columns) == LONG_COLUMNS
    assert len(res.long) == len(exp.values)  # nothing dropped
    from myocit_omics.cytokines.censoring import FLAGS

    assert res.long["flag"].isin(FLAGS).all()
    if exp.scale == "npx":
        # NPX below LOD is flagged but kept (OlinkAnalyze convention)
        below = res.work[res.work["flag"] == "below_lloq"]
        assert len(below) > 0
        np.testing.assert_allclose(below["value_used"], below["value"])
        assert (below["value"] < below["lloq"]).all()
    if exp.platform == "msd":
        # one standard level only in this excerpt: no curve of ours, the instrument's numbers stay visible
        assert (res.long["flag"] == "fit_failed").all()
        assert res.long["instrument_value"].notna().any()


def test_platform_names_agree_across_registry_cli_and_manifest():
    from myocit_omics.cli import build_parser
    from myocit_omics.io.cytokine import PLATFORMS
    from myocit_omics.validate.manifest import PLATFORMS as MANIFEST_PLATFORMS

    parser = build_parser("cytokines")
    sub = next(a for a in parser._actions if a.dest == "command")
    platform = next(a for a in sub.choices["cytokines"]._actions if a.dest == "platform")
    assert set(platform.choices) == set(PLATFORMS) == set(MANIFEST_PLATFORMS["cytokine"])
