"""Bio-Rad Bio-Plex Manager XML: the real export read into the common form; malformed files refused."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from myocit_omics.cytokines.pipeline import CytokineParams, process_exports
from myocit_omics.errors import InputError, ValidationFailed
from myocit_omics.io.cytokine import detect_platform, read_export

NAME = "allotropy_bio-rad_bio-plex_manager_example_01.xml"
GROUPS = {"Blanks": "background", "Controls": "control", "Standards": "standard", "Unknowns": "sample"}


@pytest.fixture
def xml_path(shared):
    return shared("fixtures", "exports", NAME)


def _independent(path):
    """Parse the XML here, without the reader: member wells, readings, labels, bead counts."""
    root = ET.parse(path).getroot()
    wells, readings, labels, roles = set(), {}, {}, {}
    for group, role in GROUPS.items():
        for s in root.find("Samples").find(group):
            label = s.findtext("Label")
            for mw in s.iter("MemberWell"):
                w = f"{'ABCDEFGHIJKLMNOP'[int(mw.get('RowNo')) - 1]}{int(mw.get('ColNo'))}"
                wells.add(w)
                labels[w], roles[w] = label, role
                for a in mw.iter("MWAnalyte"):
                    readings[(w, a.findtext("AnalyteName"))] = float(a.findtext("Reading"))
    counts = {}
    for w in root.iter("Well"):
        name = f"{'ABCDEFGHIJKLMNOP'[int(w.get('RowNo')) - 1]}{int(w.get('ColNo'))}"
        for br in w.iter("BeadRegion"):
            counts[(name, br.get("RegionNumber"))] = float(br.findtext("RegionCount"))
    analytes = {it.findtext("AnalyteName"): it.get("RegionNumber") for it in root.iter("Interpolator")}
    standards = {s.findtext("Label") for s in root.find("Samples").find("Standards")}
    return wells, readings, labels, roles, counts, analytes, standards


def test_bioplex_xml_reads_every_well_analyte_and_standard(xml_path):
    assert detect_platform(xml_path) == "bioplex"
    exp = read_export(xml_path)
    wells, readings, labels, roles, counts, analytes, standards = _independent(xml_path)
    v = exp.values
    assert (exp.platform, exp.fmt, exp.scale) == ("bioplex", "bioplex-xml", "mfi")
    assert set(v["well"]) == wells and len(wells) == 96
    assert set(v["analyte"]) == set(analytes) and len(analytes) == 15
    assert set(v.loc[v["role"] == "standard", "sample"]) == standards and len(standards) == 11
    assert len(v) == len(readings) == 96 * 15
    # MFI equal to the file's, well by well
    got = dict(zip(zip(v["well"], v["analyte"], strict=True), v["signal"], strict=True))
    assert got == readings
    for w in wells:
        row = v[v["well"] == w].iloc[0]
        assert row["sample"] == labels[w] and row["role"] == roles[w]
    # bead counts where the export holds the well's acquisition (8 wells here), NaN elsewhere
    region = dict(zip(exp.analytes["analyte"], exp.analytes["bead_id"], strict=True))
    have = v[np.isfinite(v["bead_count"])]
    analyte_counts = {k: c for k, c in counts.items() if k[1] in set(analytes.values())}
    assert len(have) == len(analyte_counts) > 0
    for r in have.itertuples():
        assert r.bead_count == counts[(r.well, region[r.analyte])]
    assert set(exp.analytes["bead_id"]) == set(analytes.values())
    assert exp.analytes["analysis_type"].eq("Logistic - 5PL").all()
    # every expected concentration in this export is 0 (Bio-Plex's "not set"): none kept
    assert v["expected_conc"].isna().all() and exp.standards.empty


def test_bioplex_without_standard_concentrations_keeps_mfi_with_one_warning(xml_path):
    res = process_exports([(read_export(xml_path), None, "t")], CytokineParams())
    long = res.long
    assert set(long["flag"]) <= {"no_standard_curve", "missing"}
    assert (long["flag"] == "no_standard_curve").sum() == np.isfinite(long["value"]).sum() > 1000
    assert (long["unit"] == "MFI").all()
    assert not (long["flag"] == "fit_failed").any()
    warn = [p for p in res.problems if p.rule == "cytokine.no_standard_curve"]
    assert len(warn) == 1 and "15 analyte(s)" in warn[0].message and "MFI" in warn[0].message
    assert res.qc["flag"].str.startswith("no_standard_curve").all()
    assert res.agreement.empty


def _damaged(xml_path, tmp_path, fn, name="bad.xml"):
    text = xml_path.read_text(encoding="utf-8")
    out = tmp_path / name
    out.write_text(fn(text), encoding="utf-8")
    return out


def test_truncated_bioplex_xml_is_refused_with_the_place(xml_path, tmp_path):
    bad = _damaged(xml_path, tmp_path, lambda t: t[: len(t) // 2])
    assert detect_platform(bad) == "bioplex"
    with pytest.raises(InputError) as err:
        read_export(bad)
    prob = err.value.problem
    assert prob.file == str(bad) and prob.row and prob.row > 100
    assert "truncated" in prob.message and re.search(r"last well read is [A-H]\d+", prob.message)


def test_unknown_namespace_is_refused(xml_path, tmp_path):
    bad = _damaged(xml_path, tmp_path, lambda t: t.replace("2010/Bio-Plex_5", "2031/Bio-Plex_9", 1))
    with pytest.raises(InputError) as err:
        read_export(bad)
    assert "Bio-Plex_9" in str(err.value.problem.value) and err.value.problem.file == str(bad)
    assert "namespace" in err.value.problem.message


def _member_well_block(text, well_number):
    m = re.search(
        rf'<MemberWell RowNo="\d+" ColNo="\d+" WellNumber="{well_number}">.*?</MemberWell>', text, re.S
    )
    return m


def test_missing_bead_region_names_well_and_region(xml_path, tmp_path):
    def drop(text):
        m = _member_well_block(text, 26)  # C2
        block = m.group(0)
        cut = re.sub(r'<MWAnalyte RegionNumber="18">.*?</MWAnalyte>', "", block, count=1, flags=re.S)
        return text[: m.start()] + cut + text[m.end() :]

    with pytest.raises(ValidationFailed) as err:
        read_export(_damaged(xml_path, tmp_path, drop))
    probs = err.value.problems
    assert len(probs) == 1
    assert probs[0].value == "well C2" and "region 18" in probs[0].message and "charlie" in probs[0].message


def test_non_numeric_mfi_names_well_analyte_and_value(xml_path, tmp_path):
    def spoil(text):
        m = _member_well_block(text, 26)
        block = re.sub(r"(<Reading[^>]*>)1\.42000000000000000E\+002", r"\g<1>14x2", m.group(0), count=1)
        return text[: m.start()] + block + text[m.end() :]

    bad = _damaged(xml_path, tmp_path, spoil)
    with pytest.raises(ValidationFailed) as err:
        read_export(bad)
    p = err.value.problems[0]
    assert p.value == "14x2" and "well C2" in p.message and "alpha" in p.message and p.file == str(bad)


def test_bead_region_without_number_is_refused(xml_path, tmp_path):
    def strip(text):
        m = _member_well_block(text, 26)
        block = m.group(0).replace('<MWAnalyte RegionNumber="12">', "<MWAnalyte>", 1)
        return text[: m.start()] + block + text[m.end() :]

    with pytest.raises(ValidationFailed) as err:
        read_export(_damaged(xml_path, tmp_path, strip))
    assert any("well C2" in p.message and "RegionNumber" in p.message for p in err.value.problems)


def test_bioplex_detected_by_content_not_name(xml_path, tmp_path):
    other = _damaged(xml_path, tmp_path, lambda t: t, name="export.txt")
    assert detect_platform(other) == "bioplex"
    plain = tmp_path / "plain.xml"
    plain.write_text("<?xml version='1.0'?><Plate><Well/></Plate>", encoding="utf-8")
    with pytest.raises(InputError) as err:
        detect_platform(plain)
    assert "Bio-Plex" in err.value.problem.expected
