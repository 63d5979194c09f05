"""A real xPONENT export whose standard series lost a decimal point: curves still fitted, the damage named.

The fixture (SerolyzeR's CovidOIS MAGPIX export, re-saved by a spreadsheet: BOM, unquoted,
trailing commas) has eleven standard wells ``S`` (A2..A12) in a 2-fold dilution series but
no expected concentrations. The test gives them what an xPONENT quantitative protocol writes:
names ``Standard1..11`` and a ``Standard Expected Concentration`` block (2-fold from 3450,
as in the issue: Standard5 = 215.625), then damages one standard per analyte as a
comma-decimal spreadsheet re-save does (``215.625`` -> ``215625``).

The same on the real Bio-Plex Manager 15-plex export (eleven standards S1..S11 in duplicate,
a 2-fold series in FI, ExpectedConc left 0 by the lab): the 2-fold series is entered as the
standards' ExpectedConc, one standard per analyte with its decimal point lost.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from myocit_omics.cytokines.pipeline import CytokineParams, process_exports
from myocit_omics.cytokines.standards import judge_series
from myocit_omics.io.cytokine import read_export

FIXTURE = "serolyzer_CovidOISExPONTENT_CO_reduced.csv"
TOP = 3450.0
#: the damaged standard of each analyte and its value with the decimal point lost
SLIPS = {"Spike_6P_IPP": ("Standard5", "215625"), "ME_NA": ("Standard8", "26953125")}


def _expected(i: int) -> float:
    return TOP / 2 ** (i - 1)


def _with_standards(src: str, slips: dict[str, tuple[str, str]] | None = None) -> str:
    """Name the S wells Standard1..11 and add the expected-concentration block (damaged by ``slips``)."""
    lines = src.split("\n")
    out = []
    analytes: list[str] = []
    for ln in lines:
        m = re.match(r'^"(\d+)\(1,A(\d+)\)",S,', ln)
        if m:
            ln = ln.replace(",S,", f",Standard{int(m.group(2)) - 1},", 1)
        if ln.startswith("Location,Sample,") and not analytes:
            analytes = [c for c in ln.split(",")[2:] if c and c != "Total Events"]
        out.append(ln)
    pad = "," * 14
    block = ["DataType:,Standard Expected Concentration" + pad, "Reagent," + ",".join(analytes) + pad]
    for i in range(1, 12):
        cells = []
        for a in analytes:
            text = f"{_expected(i):.10g}"
            if slips and slips.get(a, ("", ""))[0] == f"Standard{i}":
                text = slips[a][1]
            cells.append(text)
        block.append(f"Standard{i}," + ",".join(cells) + pad)
    block.append(pad)
    at = next(i for i, ln in enumerate(out) if ln.startswith("DataType:,Dilution Factor"))
    return "\n".join(out[:at] + block + out[at:])


@pytest.fixture
def exports(shared, tmp_path):
    src = shared("fixtures", "exports", FIXTURE).read_bytes()
    assert src.startswith(b"\xef\xbb\xbf")
    text = src[3:].decode("utf-8")
    clean, damaged = tmp_path / "clean.csv", tmp_path / "damaged.csv"
    clean.write_bytes(b"\xef\xbb\xbf" + _with_standards(text).encode("utf-8"))
    damaged.write_bytes(b"\xef\xbb\xbf" + _with_standards(text, SLIPS).encode("utf-8"))
    return clean, damaged


def _agreement(ref, res) -> tuple[float, int]:
    """Share of in-range sample wells (ok on the undamaged file) within 10 % of the undamaged value."""
    keys = ["plate_id", "well", "analyte"]
    a = ref.long.set_index(keys)
    b = res.long.set_index(keys).loc[a.index]
    sel = (a["flag"] == "ok") & ref.work.set_index(keys).loc[a.index, "role"].eq("sample")
    rel = (b.loc[sel, "value"] / a.loc[sel, "value"] - 1.0).abs()
    return float((rel <= 0.10).mean()), int(sel.sum())


def test_damaged_file_reads_with_the_damage(exports):
    clean, damaged = exports
    exp = read_export(damaged)
    v = exp.values
    for analyte, (std, text) in SLIPS.items():
        got = v.loc[(v["analyte"] == analyte) & (v["sample"] == std), "expected_conc"]
        assert (got == float(text)).all() and len(got) == 1
    # the series is a real one on the undamaged file: clean, ratio 2
    ok = read_export(clean).values
    series = ok[(ok["role"] == "standard") & (ok["analyte"] == "ME_NA")][["sample", "expected_conc"]]
    verdict = judge_series(list(series.itertuples(index=False, name=None)))
    assert verdict.status == "clean" and verdict.ratio == pytest.approx(2.0)


@pytest.mark.parametrize("mode", ["repair", "exclude"])
def test_every_analyte_fitted_and_values_agree_with_the_undamaged_file(exports, mode):
    clean, damaged = exports
    params = CytokineParams(standards_series=mode)
    ref = process_exports([(read_export(clean), None, "t")], params)
    res = process_exports([(read_export(damaged), None, "t")], params)
    # the undamaged file gives usable curves with in-range wells (the comparison means something)
    assert all(f.ok for f in ref.fits.values()) and len(ref.fits) == 2
    # a fitted curve for every analyte, no fit_failed
    assert set(res.fits) == set(ref.fits) and all(f.ok for f in res.fits.values())
    assert not (res.long["flag"] == "fit_failed").any()
    share, n = _agreement(ref, res)
    assert n >= 40
    assert share >= 0.95, f"{mode}: {share:.1%} of {n} in-range wells within 10 %"
    if mode == "repair":
        assert share == 1.0
    # the standard is named: QC flag, standards table, per-value note, step problems
    word = "repaired" if mode == "repair" else "excluded"
    for analyte, (std, text) in SLIPS.items():
        qc = res.qc.set_index("analyte").loc[analyte, "flag"]
        assert f"standard_{word}({std})" in qc
        row = res.standards[(res.standards["analyte"] == analyte) & (res.standards["standard"] == std)]
        assert list(row["series"]) == [word]
        assert row["expected_exported"].iloc[0] == float(text)
        notes = res.long.loc[res.long["analyte"] == analyte, "curve_note"]
        assert notes.str.contains(f"standard_{word}({std}:{text}", regex=False).all()
        prob = next(
            p
            for p in res.problems
            if p.rule == "cytokine.standards_series" and p.extra.get("analyte") == analyte
        )
        assert std in prob.message and text in prob.message
    assert {r["status"] for r in res.series if r["status"] != "clean"} == {word}


def test_damaged_standards_named_in_the_run_record(exports, tmp_path):
    """run_cytokines (the flow's step) returns the decisions; the step writes them into the manifest."""
    from myocit_omics.cytokines.pipeline import ExportBatch, run_cytokines
    from myocit_omics.results import ResultsTree

    _, damaged = exports
    out = run_cytokines(
        [ExportBatch(files={"export": damaged}, name="b1")],
        config=None,
        tree=ResultsTree(tmp_path / "out"),
    )
    recs = {r["analyte"]: r for r in out["standards_series"]}
    assert set(recs) == set(SLIPS)
    for analyte, (std, text) in SLIPS.items():
        assert recs[analyte]["status"] == "repaired"
        assert recs[analyte]["repaired"][std][0] == float(text)
    assert out["parameters"]["standards_series"] == "repair"
    assert np.isfinite(out["n_values"])


# --------------------------------------------------------------------------- Bio-Plex Manager XML

BIOPLEX = "allotropy_bio-rad_bio-plex_manager_example_01.xml"


def _bioplex_with_standards(text: str, slips: dict[str, str] | None = None) -> str:
    """Enter a 2-fold series (S1 = 3450) as each standard's ExpectedConc (the export has 0 = not set).

    ``slips``: analyte -> standard whose value is entered with the decimal point lost.
    """

    def standard(m: re.Match) -> str:
        block = m.group(0)
        label = re.search(r"<Label>(S\d+)</Label>", block).group(1)
        k = int(label[1:])

        def analyte(a: re.Match) -> str:
            name = re.search(r"<AnalyteName>([^<]+)</AnalyteName>", a.group(0)).group(1)
            value = _expected(k)
            if slips and slips.get(name) == label:
                value = float(f"{value:.10g}".replace(".", ""))
            return re.sub(
                r"<ExpectedConc>[^<]*</ExpectedConc>",
                f"<ExpectedConc>{value:.17E}</ExpectedConc>",
                a.group(0),
            )

        return re.sub(r"<Analyte RegionNumber=\"\d+\">.*?</Analyte>", analyte, block, flags=re.S)

    return re.sub(r"<Standard>.*?</Standard>", standard, text, flags=re.S)


@pytest.fixture
def bioplex_exports(shared, tmp_path):
    text = shared("fixtures", "exports", BIOPLEX).read_text(encoding="utf-8")
    names = re.findall(r"<Interpolator RegionNumber=\"\d+\"[^>]*>\s*<AnalyteName>([^<]+)<", text)
    # one slip per analyte, on a standard with a decimal point (S3 .. S11), cycling
    slips = {a: f"S{3 + i % 9}" for i, a in enumerate(names)}
    clean, damaged = tmp_path / "clean.xml", tmp_path / "damaged.xml"
    clean.write_text(_bioplex_with_standards(text), encoding="utf-8")
    damaged.write_text(_bioplex_with_standards(text, slips), encoding="utf-8")
    return clean, damaged, slips


@pytest.mark.parametrize("mode", ["repair", "exclude"])
def test_bioplex_15_plex_one_slip_per_analyte(bioplex_exports, mode):
    clean, damaged, slips = bioplex_exports
    exp = read_export(damaged)
    assert len(slips) == 15
    v = exp.values
    for analyte, std in slips.items():
        got = v.loc[(v["analyte"] == analyte) & (v["sample"] == std), "expected_conc"].unique()
        power = np.log10(got[0] / _expected(int(std[1:])))  # the damage is in: a power-of-ten slip
        assert len(got) == 1 and power >= 1 and power == pytest.approx(round(power))
    params = CytokineParams(standards_series=mode)
    ref = process_exports([(read_export(clean), None, "t")], params)
    res = process_exports([(exp, None, "t")], params)
    assert len(ref.fits) == 15 and all(f.ok for f in ref.fits.values())
    assert len(res.fits) == 15 and all(f.ok for f in res.fits.values())
    assert not (res.long["flag"] == "fit_failed").any()
    share, n = _agreement(ref, res)
    assert n >= 300
    assert share >= 0.95, f"{mode}: {share:.1%} of {n} in-range wells within 10 %"
    word = "repaired" if mode == "repair" else "excluded"
    qc = res.qc.set_index("analyte")["flag"]
    for analyte, std in slips.items():
        assert f"standard_{word}({std})" in qc[analyte]
        row = res.standards[(res.standards["analyte"] == analyte) & (res.standards["standard"] == std)]
        assert list(row["series"]) == [word]
