"""xPONENT file variants: semicolons with decimal commas, date conventions, plate-map linking."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from myocit_omics.cytokines.pipeline import CytokineParams, process_exports
from myocit_omics.io.cytokine import read_export, read_plate_map
from myocit_omics.io.cytokine.common import parse_export_date


def test_semicolon_export_with_decimal_commas_reads_the_same_values(plate, tmp_path):
    path, _ = plate(n_analytes=2, n_wells=30, quoted=False)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\n")
    for r in rows:
        # a comma-decimal locale: 12.5 -> 12,5 in number cells, the Location cell keeps its comma
        w.writerow([c.replace(".", ",") if c.replace(".", "", 1).lstrip("-").isdigit() else c for c in r])
    semi = tmp_path / "semicolon.csv"
    semi.write_text(buf.getvalue(), encoding="utf-8")
    a, b = read_export(path), read_export(semi)
    assert a.fmt == b.fmt == "xponent-csv"
    np.testing.assert_allclose(a.values["signal"], b.values["signal"])
    np.testing.assert_allclose(a.values["expected_conc"], b.values["expected_conc"])
    assert list(a.values["well"]) == list(b.values["well"])


@pytest.mark.parametrize(
    ("text", "iso", "convention"),
    [
        ("05/17/2023", "2023-05-17", "month_first"),
        ("3/13/2016", "2016-03-13", "month_first"),
        ("26/02/2014", "2014-02-26", "day_first"),
        ("2023-04-06", "2023-04-06", "iso"),
        ("04/06/2023", None, "ambiguous"),
        ("yesterday", None, "unparsed"),
    ],
)
def test_export_dates_are_never_guessed(text, iso, convention):
    assert parse_export_date(text) == (iso, convention)


def test_day_first_date_in_a_resaved_file(plate):
    path, _ = plate(n_analytes=1, n_wells=30, quoted=False, bom=True, date="26/02/2014")
    exp = read_export(path)
    assert exp.metadata["date_iso"] == "2014-02-26"
    assert exp.metadata["date_convention"] == "day_first"


def test_plate_map_gaps_are_reported_not_dropped(plate, tmp_path):
    path, truth = plate(n_analytes=1, n_wells=30, batch="RUN-7")
    wells = list(truth.wells)
    rows = [
        {
            "plate_id": "RUN-7",
            "well": w,
            "sample_id": s,
            "patient_id": "MYO-01" if s.startswith("Unk") else "",
            "visit": "W0" if s.startswith("Unk") else "",
            "role": "standard"
            if s.startswith("Standard")
            else ("background" if s.startswith("Back") else "sample"),
            "dilution_factor": "2" if s.startswith("Unk") else "",
        }
        for w, (s, _) in truth.wells.items()
        if w != wells[-1]
    ]
    rows.append(
        {
            "plate_id": "RUN-7",
            "well": "H12",
            "sample_id": "X",
            "patient_id": "MYO-02",
            "visit": "W4",
            "role": "sample",
            "dilution_factor": "2",
        }
    )
    pm_path = tmp_path / "plate_map.csv"
    pd.DataFrame(rows).to_csv(pm_path, index=False)
    res = process_exports([(read_export(path), read_plate_map(pm_path), "b")], CytokineParams())
    rules = {p.rule: p for p in res.problems}
    assert wells[-1] in rules["cytokine.unmapped"].message
    assert "H12" in rules["cytokine.not_measured"].value
    assert len(res.long) == 30  # the unmapped well is kept
    assert res.long.loc[res.long["well"] == wells[-1], "patient_id"].iloc[0] == ""


def test_instrument_concentrations_are_kept_and_disagreement_flagged(plate, tmp_path):
    path, _ = plate(n_analytes=2, n_wells=40, noise_cv=0.01)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, ln in enumerate(lines) if ln.startswith('"DataType:","Result"'))
    out = []
    for i, ln in enumerate(lines):
        if (
            start + 1 < i
            and ln.strip()
            and i < next(k for k in range(start + 1, len(lines)) if not lines[k].strip())
        ):
            cells = ln.rstrip("\r\n").split('","')
            try:  # AN01 is the third cell: the instrument reports it twice too high
                cells[2] = f"{float(cells[2]) * 2:.4f}"
            except ValueError:
                pass
            ln = '","'.join(cells) + "\r\n"
        out.append(ln)
    bad = tmp_path / "instrument_off.csv"
    bad.write_text("".join(out), encoding="utf-8")
    res = process_exports([(read_export(bad), None, "b")], CytokineParams())
    qc = res.qc.set_index("analyte")
    assert "instrument_disagrees" in qc.loc["AN01", "flag"]
    assert "instrument_disagrees" not in qc.loc["AN02", "flag"]
    ok = res.long[
        (res.long["analyte"] == "AN01") & (res.long["flag"] == "ok") & res.long["instrument_value"].notna()
    ]
    ratio = ok["instrument_value"] / ok["value"]
    assert ratio.median() == pytest.approx(2.0, rel=0.1)  # both numbers kept side by side
    assert any(p.rule == "cytokine.instrument_disagrees" and p.column == "AN01" for p in res.problems)


def test_control_recovery_is_checked(plate, tmp_path):
    names = ["Control1", "Control2"] + [f"U{i}" for i in range(10)]
    conc = {"Control1": 400.0, "Control2": 80.0}  # serum concentration; wells are diluted 1:2
    path, truth = plate(n_analytes=1, n_wells=40, sample_names=names, sample_conc=conc, noise_cv=0.01)
    true1 = truth.conc[(next(w for w, (s, _) in truth.wells.items() if s == "Control1"), "AN01")] / 2
    true2 = truth.conc[(next(w for w, (s, _) in truth.wells.items() if s == "Control2"), "AN01")] / 2
    text = path.read_text(encoding="utf-8")
    block = (
        '"DataType:","Control Expected Concentration"\r\n"Reagent","AN01"\r\n'
        f'"Control1","{true1:.4f}"\r\n"Control2","{true2 * 3:.4f}"\r\n\r\n'  # Control2's target is wrong
    )
    text = text.replace('"DataType:","Analysis Types"', block + '"DataType:","Analysis Types"')
    p2 = tmp_path / "controls.csv"
    p2.write_text(text, encoding="utf-8")
    exp = read_export(p2)
    assert set(exp.values.loc[exp.values["sample"].str.startswith("Control"), "role"]) == {"control"}
    res = process_exports([(exp, None, "b")], CytokineParams())
    assert "control_out_of_recovery(2)" in res.qc["flag"].iloc[0]  # the two Control2 wells
