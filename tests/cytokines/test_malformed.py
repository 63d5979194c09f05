"""Malformed exports are refused or flagged with a message naming block, well and value."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pandas as pd
import pytest

from myocit_omics.cytokines.pipeline import CytokineParams, process_exports
from myocit_omics.errors import InputError, ValidationFailed
from myocit_omics.io.cytokine import read_export, read_plate_map


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_truncated_file_in_a_block_is_refused(plate, tmp_path):
    path, _ = plate(n_analytes=2, n_wells=40)
    lines = _lines(path)
    start = next(i for i, ln in enumerate(lines) if ln.startswith('"DataType:","Count"'))
    cut = start + 10
    # the last kept line is cut in the middle, as a copy that stopped early leaves it
    bad = tmp_path / "truncated.csv"
    bad.write_text("".join(lines[:cut]) + lines[cut][:12], encoding="utf-8")
    with pytest.raises(ValidationFailed) as err:
        read_export(bad)
    text = str(err.value)
    assert "block 'Count'" in text
    assert "truncated" in text
    well = lines[cut].split('"')[1]  # e.g. 9(1,A2)
    assert well[well.index(",") + 1 : -1] in text  # the well is named


def test_truncated_block_missing_wells_is_refused(plate, tmp_path):
    path, _ = plate(n_analytes=2, n_wells=40)
    lines = _lines(path)
    start = next(i for i, ln in enumerate(lines) if ln.startswith('"DataType:","Count"'))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].strip())
    bad = tmp_path / "short_block.csv"
    bad.write_text("".join(lines[: end - 5] + lines[end:]), encoding="utf-8")
    with pytest.raises(ValidationFailed) as err:
        read_export(bad)
    text = str(err.value)
    assert "block 'Count' lacks 5 well(s)" in text
    first_missing = lines[end - 5].split('"')[1]
    assert first_missing in text


def test_unknown_analyte_column_is_refused(plate, tmp_path):
    path, _ = plate(n_analytes=2, n_wells=30)
    lines = _lines(path)
    i = next(i for i, ln in enumerate(lines) if ln.startswith('"DataType:","Count"'))
    lines[i + 1] = lines[i + 1].replace('"AN02"', '"IL-99"')
    bad = tmp_path / "unknown.csv"
    bad.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ValidationFailed) as err:
        read_export(bad)
    prob = next(p for p in err.value.problems if p.rule == "xponent.unknown_analyte")
    assert prob.value == "IL-99"
    assert "block 'Count'" in prob.describe()
    assert "AN01, AN02" in prob.describe()


def test_non_numeric_cell_names_block_well_and_value(plate, tmp_path):
    path, truth = plate(n_analytes=2, n_wells=30)
    lines = _lines(path)
    i = next(i for i, ln in enumerate(lines) if ln.startswith('"DataType:","Median"'))
    cells = lines[i + 5].split('","')
    cells[2] = "12x4"
    lines[i + 5] = '","'.join(cells)
    bad = tmp_path / "text_in_number.csv"
    bad.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ValidationFailed) as err:
        read_export(bad)
    prob = err.value.problems[0]
    assert prob.value == "12x4"
    assert "block 'Median'" in prob.message
    assert "well " + list(truth.wells)[3] in prob.message  # line i+5 is the 4th well
    assert prob.row == i + 6


def test_lost_decimal_point_in_expected_concentration_is_repaired_and_named(plate, tmp_path):
    # Standard5 of a 1:4 series from 10000 is 39.0625; a comma-decimal re-save wrote 390625
    clean_path, _ = plate("clean.csv", n_analytes=2, n_wells=40)
    path, _ = plate(n_analytes=2, n_wells=40, expected_override={5: "390625"})
    exp = read_export(path)
    assert (exp.values.loc[exp.values["sample"] == "Standard5", "expected_conc"] == 390625).all()
    res = process_exports([(exp, None, "t")], CytokineParams())
    ref = process_exports([(read_export(clean_path), None, "t")], CytokineParams())
    # default 'repair': the slip is restored, the curve fitted, the values as on the clean plate
    assert not res.long["flag"].isin(["fit_failed"]).any()
    np.testing.assert_allclose(res.long["value"], ref.long["value"], rtol=1e-9)
    probs = [p for p in res.problems if p.rule == "cytokine.standards_series"]
    assert {p.extra["analyte"] for p in probs} == {"AN01", "AN02"}
    msg = probs[0].describe()
    assert "Standard5" in msg and "390625" in msg and "39.0625" in msg
    assert res.qc["flag"].str.contains(r"standard_repaired\(Standard5\)").all()
    s5 = res.standards[res.standards["standard"] == "Standard5"]
    assert list(s5["series"]) == ["repaired", "repaired"]
    assert (s5["expected"] == 39.0625).all() and (s5["expected_exported"] == 390625).all()
    assert (
        res.long["curve_note"].str.contains("standard_repaired(Standard5:390625->39.0625)", regex=False).all()
    )
    assert {r["status"] for r in res.series} == {"repaired"}

    # 'exclude': left out of the fit, named, the curve still fitted
    exc = process_exports([(exp, None, "t")], CytokineParams(standards_series="exclude"))
    assert not exc.long["flag"].isin(["fit_failed"]).any()
    assert exc.qc["flag"].str.contains(r"standard_excluded\(Standard5\)").all()
    s5 = exc.standards[exc.standards["standard"] == "Standard5"]
    assert list(s5["series"]) == ["excluded", "excluded"] and not s5["ok"].any()
    assert len(exc.fits["SIM_PLATE_1", "AN01"].standards) == 7

    # 'refuse': the former behaviour; the instrument's numbers stay visible
    ref_mode = process_exports([(exp, None, "t")], CytokineParams(standards_series="refuse"))
    assert (ref_mode.long["flag"] == "fit_failed").all()
    assert ref_mode.long["value"].isna().all()
    assert ref_mode.long["instrument_value"].notna().any()
    assert ref_mode.qc["flag"].str.contains("standards_invalid").all()


def test_several_breaks_refuse_the_curve_with_the_reason(plate):
    path, _ = plate(n_analytes=1, n_wells=40, expected_override={3: "6250", 6: "97.65"})
    res = process_exports([(read_export(path), None, "t")], CytokineParams())
    assert (res.long["flag"] == "fit_failed").all()
    assert res.qc["flag"].str.contains("standards_invalid").all()
    prob = next(p for p in res.problems if p.rule == "cytokine.standards_series")
    assert "2 standards break" in prob.message and "Standard3" in prob.message and "Standard6" in prob.message


def test_missing_standards_are_flagged(plate, tmp_path):
    path, _ = plate(n_analytes=2, n_wells=40)
    lines = _lines(path)
    i = next(
        i for i, ln in enumerate(lines) if ln.startswith('"DataType:","Standard Expected Concentration"')
    )
    j = next(k for k in range(i, len(lines)) if not lines[k].strip())
    bad = tmp_path / "no_expected.csv"
    bad.write_text("".join(lines[:i] + lines[j + 1 :]), encoding="utf-8")
    exp = read_export(bad)
    prob = next(p for p in exp.problems if p.rule == "xponent.missing_standards")
    assert "Standard Expected Concentration" in prob.describe()
    res = process_exports([(exp, None, "t")], CytokineParams())
    # the instrument's Result is there: its concentrations are used, no curve of ours, no fit_failed
    assert not (res.long["flag"] == "fit_failed").any()
    assert set(res.qc["model"]) == {"instrument"}

    # a standard level listed in the block but with no well on the plate
    body = [ln for ln in _lines(path) if ln.split('","')[1:2] != ["Standard8"]]
    bad2 = tmp_path / "standard_gone.csv"
    bad2.write_text("".join(body), encoding="utf-8")
    exp2 = read_export(bad2)
    gone = [p for p in exp2.problems if p.rule == "xponent.missing_standards"]
    assert [p.value for p in gone] == ["Standard8"]
    assert "no well holds it" in gone[0].message


def test_non_monotone_standard_signals_fail_the_fit(plate, tmp_path):
    path, _ = plate(n_analytes=1, n_wells=40)
    # swap the expected concentrations so that they no longer follow the signals
    exp = read_export(path)
    std = exp.values[exp.values["role"] == "standard"].copy()
    std["expected_conc"] = std["expected_conc"].sample(frac=1, random_state=3).to_numpy()
    from myocit_omics.cytokines.curves import fit_standard_curve

    fit = fit_standard_curve(std["expected_conc"], std["signal"])
    assert not fit.ok
    assert "monotone" in fit.reason


def test_olink_checksum_mismatch_is_refused(shared, tmp_path):
    src = shared("fixtures", "exports", "olinkanalyze_npx_data_v3.zip")
    bad = tmp_path / "tampered.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith(".csv"):
                data = data.replace(b"-3.9891", b"-3.9890", 1)
            zout.writestr(item, data)
    with pytest.raises(InputError) as err:
        read_export(bad)
    text = str(err.value)
    assert "checksum mismatch" in text and "npx_data_v3.csv" in text
    with zipfile.ZipFile(bad) as zf:
        got = hashlib.sha256(zf.read("npx_data_v3.csv")).hexdigest()
        want = zf.read("checksum_sha256.txt").decode().strip()
    assert got in text and want in text


def test_olink_zip_without_checksum_is_read_with_a_warning(tmp_path):
    csv_text = "SampleID;OlinkID;Assay;NPX;LOD;PlateID;QC_Warning\nS1;OID1;IL6;3,5;1,0;P1;PASS\n"
    z = tmp_path / "delivery.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("npx.csv", csv_text)
    exp = read_export(z)
    assert exp.values["signal"].iloc[0] == 3.5  # decimal comma with ';'
    assert [p.rule for p in exp.problems] == ["olink.no_checksum"]


def test_generic_csv_problems_all_reported(tmp_path):
    p = tmp_path / "simoa.csv"
    p.write_text(
        "sample_id,analyte,value,unit,lloq,uloq,plate,well,flag\n"
        "S1,IFN-alpha,12.5,fg/mL,1,1000,R1,A1,\n"
        ",IFN-alpha,3,fg/mL,1,1000,R1,A2,\n"
        "S3,IFN-alpha,abc,fg/mL,1,1000,R1,A3,\n"
        "S4,IFN-alpha,<1,fg/mL,1,1000,R1,A4,maybe\n"
        "S5,IFN-alpha,4,fg/mL,10,1,R1,Z9,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailed) as err:
        read_export(p)
    by_rule = {pr.rule: pr for pr in err.value.problems}
    assert by_rule["generic.empty"].row == 3 and by_rule["generic.empty"].column == "sample_id"
    assert by_rule["cytokine.number"].value == "abc" and by_rule["cytokine.number"].row == 4
    assert by_rule["generic.flag"].value == "maybe"
    assert by_rule["generic.limits"].row == 6
    assert by_rule["generic.well"].value == "Z9"


def test_generic_csv_missing_column(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("sample_id,analyte,value,unit\nS1,IL6,1,pg/mL\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_export(p, platform="generic")
    assert "lloq" in str(err.value) and "docs/cytokine_generic_csv.md" in str(err.value)


def test_unknown_format_is_refused_with_alternatives(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_export(p)
    assert "xPONENT" in str(err.value) and "generic" in str(err.value)


def test_plate_map_problems_all_reported(tmp_path):
    p = tmp_path / "plate_map.csv"
    pd.DataFrame(
        [
            {
                "plate_id": "P1",
                "well": "A1",
                "sample_id": "X1",
                "patient_id": "MYO-01",
                "visit": "W0",
                "role": "sample",
                "dilution_factor": "2",
            },
            {
                "plate_id": "P1",
                "well": "A1",
                "sample_id": "X2",
                "patient_id": "MYO-02",
                "visit": "W0",
                "role": "sample",
                "dilution_factor": "2",
            },
            {
                "plate_id": "P1",
                "well": "Q1",
                "sample_id": "X3",
                "patient_id": "MYO-03",
                "visit": "W0",
                "role": "unknown",
                "dilution_factor": "-1",
            },
            {
                "plate_id": "P1",
                "well": "A3",
                "sample_id": "X4",
                "patient_id": "",
                "visit": "",
                "role": "sample",
                "dilution_factor": "",
            },
        ]
    ).to_csv(p, index=False)
    with pytest.raises(ValidationFailed) as err:
        read_plate_map(p)
    rules = sorted(pr.rule for pr in err.value.problems)
    assert rules == sorted(
        ["plate_map.duplicate", "plate_map.well", "plate_map.role", "plate_map.dilution", "plate_map.patient"]
    )
    assert {pr.row for pr in err.value.problems} == {3, 4, 5}


def test_unknown_analyte_against_configured_list(plate):
    path, _ = plate(n_analytes=2, n_wells=30)
    exp = read_export(path)
    with pytest.raises(InputError) as err:
        process_exports([(exp, None, "t")], CytokineParams(analytes=["AN01"]))
    assert "AN02" in str(err.value)


@pytest.mark.parametrize("quoted", [True, False])
def test_export_cut_anywhere_is_refused_or_flagged_never_a_bare_exception(plate, tmp_path, quoted):
    path, _ = plate(n_analytes=2, n_wells=24, quoted=quoted)
    lines = _lines(path)
    crc = next(i for i, ln in enumerate(lines) if "-- CRC --" in ln)
    rng = np.random.default_rng(7)
    cuts = sorted(set(rng.integers(1, crc, 25).tolist()))
    for cut in cuts:
        for partial in (0, 9):
            bad = tmp_path / f"cut{cut}_{partial}.csv"
            bad.write_text("".join(lines[:cut]) + lines[cut][:partial], encoding="utf-8")
            try:
                exp = read_export(bad, platform="xponent")
            except (InputError, ValidationFailed) as err:
                assert "truncated" in str(err) or "not" in str(err), str(err)
                continue
            # only a re-saved (unquoted) file may be read, and then the missing trailer is flagged
            assert not quoted, f"quoted export cut at line {cut + 1} was accepted"
            assert any(p.rule == "xponent.crc" for p in exp.problems)


def test_msd_older_per_assay_blocks(tmp_path):
    p = tmp_path / "msd_old.csv"
    p.write_text(
        "Plate_ABC123\n"
        "Standard: IL-6 (Human),,,\n"
        "Sample,Well,Signal,Mean,Concentration,Calc. Concentration,Detection Range\n"
        "S001,A01,25000,25000,1000,990.1,In Detection Range\n"
        "S002,A02,6000,6000,250,255,In Detection Range\n"
        "Unknown: IL-6 (Human),,,\n"
        "Sample,Well,Signal,Mean,Calc. Concentration,Calc. Concentration Mean,Detection Range\n"
        "U001,C01,1200,1200,48.2,48.2,In Detection Range\n"
        "U002,C02,12,12,NaN,NaN,Below Fit Curve Range\n"
        "Unknown: TNF-alpha (Human),,,\n"
        "Sample,Well,Signal,Mean,Calc. Concentration,Calc. Concentration Mean,Detection Range\n"
        "U001,C01,300,300,5.5,5.5,In Detection Range\n",
        encoding="utf-8",
    )
    exp = read_export(p, platform="msd")
    v = exp.values
    assert exp.plate_ids == ["ABC123"]
    assert list(v["analyte"]) == ["IL-6 (Human)"] * 4 + ["TNF-alpha (Human)"]
    assert list(v["role"]) == ["standard", "standard", "sample", "sample", "sample"]
    assert v.loc[3, "instrument_flag"] == "oor_low" and np.isnan(v.loc[3, "instrument_value"])
    assert v.loc[4, "instrument_value"] == 5.5
