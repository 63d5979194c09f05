"""Agreement with the instrument's own concentrations and curve (tables/cytokine_agreement.tsv)."""

from __future__ import annotations

import csv
import re

import numpy as np
import pandas as pd
import pytest

from myocit_omics.cytokines.agreement import AGREEMENT_COLUMNS, instrument_curve
from myocit_omics.cytokines.pipeline import CytokineParams, process_exports, write_outputs
from myocit_omics.io.cytokine import read_export
from myocit_omics.results import ResultsTree


def _edit_result(path, out, analyte_cell: int, factor: float):
    """Multiply one analyte's numbers in the Result block (quoted file), as an edited export."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, ln in enumerate(lines) if ln.startswith('"DataType:","Result"'))
    end = next(k for k in range(start + 1, len(lines)) if not lines[k].strip())
    for i in range(start + 2, end):
        cells = lines[i].rstrip("\r\n").split('","')
        try:
            cells[analyte_cell] = f"{float(cells[analyte_cell]) * factor:.4f}"
        except ValueError:
            continue
        lines[i] = '","'.join(cells) + "\r\n"
    out.write_text("".join(lines), encoding="utf-8")
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_model_agrees_and_the_instrument_curve_is_reproduced(plate, tmp_path, seed):
    # the instrument fitted a Logistic 5P with 1/y^2 weights to the plate's standards and exported it
    path, _ = plate(n_analytes=3, seed=seed, instrument_curve=True, instrument_fit=True)
    exp = read_export(path)
    curve = instrument_curve(exp.analytes.iloc[0].to_dict())
    assert curve is not None and curve["D"] > 0  # xPONENT's negative slope read into ours
    res = process_exports([(exp, None, "t")], CytokineParams(model="5pl"))
    ag = res.agreement.set_index("analyte")
    assert list(ag.index) == ["AN01", "AN02", "AN03"]
    # the figures: quantifiable wells compared, and >= 90 % of them within 10 %
    assert (ag["n_compared"] >= 30).all()
    assert (ag["within_tolerance_share"] >= 0.9).all(), ag["within_tolerance_share"].to_dict()
    assert (ag["status"] == "agrees").all()
    # the instrument's exported curve, evaluated here, gives the instrument's own numbers (within 1 %)
    assert (ag["instrument_curve_share"] == 1.0).all()
    assert (ag["n_instrument_curve"] > ag["n_compared"]).all()
    assert not res.qc["flag"].str.contains("instrument_disagrees").any()
    # cross-check one analyte's share by hand
    w = res.work[res.work["analyte"] == "AN02"]
    q = w[
        w["role"].eq("sample")
        & w["flag"].eq("ok")
        & (w["instrument_flag"] == "")
        & w["instrument_value"].gt(0)
    ]
    assert len(q) == ag.loc["AN02", "n_compared"]
    share = float(((q["value"] / q["instrument_value"] - 1).abs() <= 0.10).mean())
    assert share == pytest.approx(ag.loc["AN02", "within_tolerance_share"])
    # written with the other tables
    written = write_outputs(res, ResultsTree(tmp_path / "out"), plots=False)
    table = pd.read_csv(written["tables"]["cytokine_agreement"], sep="\t")
    assert tuple(table.columns) == AGREEMENT_COLUMNS and len(table) == 3


def test_other_weights_disagreement_is_a_qc_warning_with_the_likely_cause(plate):
    # the instrument weighed near-zero Net MFI far more (seed 5: a different 5P on AN03)
    path, _ = plate(
        n_analytes=3, seed=5, instrument_curve=True, instrument_fit=True, instrument_weight_floor=0.0
    )
    res = process_exports([(read_export(path), None, "t")], CytokineParams(model="5pl"))
    ag = res.agreement.set_index("analyte")
    assert ag.loc["AN03", "status"] == "disagrees" and ag.loc["AN03", "within_tolerance_share"] < 0.9
    assert "different weights or standards" in ag.loc["AN03", "likely_cause"]
    assert ag.loc["AN01", "status"] == "agrees"
    qc = res.qc.set_index("analyte")
    assert "instrument_disagrees(" in qc.loc["AN03", "flag"]
    assert "instrument_disagrees" not in qc.loc["AN01", "flag"]
    prob = next(p for p in res.problems if p.rule == "cytokine.instrument_disagrees")
    assert prob.column == "AN03" and "likely cause" in prob.message


def test_edited_results_do_not_follow_the_exported_curve(plate, tmp_path):
    path, _ = plate(n_analytes=2, n_wells=60, instrument_curve=True, instrument_fit=True)
    bad = _edit_result(path, tmp_path / "edited.csv", analyte_cell=2, factor=2.0)  # AN01 doubled
    res = process_exports([(read_export(bad), None, "t")], CytokineParams(model="5pl"))
    ag = res.agreement.set_index("analyte")
    assert ag.loc["AN01", "status"] == "disagrees"
    assert ag.loc["AN01", "instrument_curve_share"] == 0.0
    assert "do not follow its own exported curve" in ag.loc["AN01", "likely_cause"]
    assert ag.loc["AN02", "status"] == "agrees"


def test_a_different_model_is_named(plate):
    path, _ = plate(
        n_analytes=3, seed=4, instrument_curve=True, instrument_fit=True, instrument_weight_floor=0.0
    )
    res = process_exports([(read_export(path), None, "t")], CytokineParams(model="4pl"))
    ag = res.agreement.set_index("analyte")
    off = ag[ag["status"] == "disagrees"]
    assert len(off) >= 1
    assert off["likely_cause"].str.contains("different curve model: the instrument fitted Logistic 5P").all()


def _count_msd_csv(path) -> int:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    head = rows[1]
    j = head.index("Calc. Concentration")
    n = 0
    for r in rows[2:]:
        try:
            n += np.isfinite(float(r[j]))
        except (ValueError, IndexError):
            continue
    return n


def _count_msd_xlsx(path) -> int:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = [list(r) for r in wb["Workbench data"].iter_rows(values_only=True)]
    finally:
        wb.close()
    hi = next(i for i, r in enumerate(rows) if r and "Calc. Concentration" in r)
    j = rows[hi].index("Calc. Concentration")
    return sum(1 for r in rows[hi + 1 :] if isinstance(r[j], (int, float)) and np.isfinite(r[j]))


@pytest.mark.parametrize(
    "name,count",
    [
        ("allotropy_msd_workbench_test_1.csv", _count_msd_csv),
        ("allotropy_test_msd_workbench_xlsx.xlsx", _count_msd_xlsx),
    ],
)
def test_real_fixtures_with_instrument_concentrations(shared, tmp_path, name, count):
    """The fixtures that carry instrument concentrations (MSD Calc. Concentration) get the table.

    Neither has a standard series of ours to compare with (one level; a non-constant 2000/k
    series with random signals): the table says so, with the reason, rather than a share.
    """
    path = shared("fixtures", "exports", name)
    res = process_exports([(read_export(path), None, "t")], CytokineParams())
    ag = res.agreement
    assert ag["n_instrument_values"].sum() == count(path) > 0
    assert (ag["n_compared"] == 0).all() and (ag["status"] == "not_comparable").all()
    assert ag["likely_cause"].str.startswith("no curve of ours (").all()
    written = write_outputs(res, ResultsTree(tmp_path / "out"), plots=False)
    assert len(pd.read_csv(written["tables"]["cytokine_agreement"], sep="\t")) == len(ag)


def test_fixtures_without_instrument_concentrations_have_no_rows(shared):
    for name in (
        "allotropy_bio-rad_bio-plex_manager_example_01.xml",
        "serolyzer_New_Batch_14_20140513_082522.csv",
        "olinkanalyze_npx_data_v3.zip",
    ):
        res = process_exports(
            [(read_export(shared("fixtures", "exports", name)), None, "t")], CytokineParams()
        )
        assert res.agreement.empty, name


def test_avg_result_only_is_compared_per_sample(plate, tmp_path):
    """An export with the per-sample Avg Result and no per-well Result (a protocol option)."""
    path, _ = plate(n_analytes=2, seed=2, instrument_curve=True, instrument_fit=True)
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith('"DataType:","Result"'))
    end = next(k for k in range(start + 1, len(lines)) if not lines[k].strip())
    header = next(csv.reader([lines[start + 1]]))
    analytes = [a for a in header[2:] if a and a != "Total Events"]
    per_sample: dict[str, list[list[str]]] = {}
    for ln in lines[start + 2 : end]:
        cells = next(csv.reader([ln]))
        per_sample.setdefault(cells[1], []).append(cells[2 : 2 + len(analytes)])
    avg_rows = []
    for sample, wells in per_sample.items():
        cells = []
        for j in range(len(analytes)):
            try:
                cells.append(f"{np.mean([float(w[j]) for w in wells]):.4f}")
            except ValueError:  # '< x' / '> x' / NaN as the instrument writes them
                cells.append(next(w[j] for w in wells if not re.match(r"^-?[\d.]+$", w[j])))
        avg_rows.append(",".join(f'"{c}"' for c in [sample, *cells]))
    block = ['"DataType:","Avg Result"', ",".join(f'"{c}"' for c in ["Sample", *analytes]), *avg_rows]
    out = tmp_path / "avg_only.csv"
    out.write_text("\r\n".join(lines[:start] + block + lines[end:]) + "\r\n", encoding="utf-8")
    exp = read_export(out)
    assert "Result" not in exp.blocks and exp.metadata["instrument_value_source"] == "Avg Result"
    assert np.isfinite(exp.values["instrument_value"]).sum() > 50
    res = process_exports([(exp, None, "t")], CytokineParams(model="5pl"))
    ag = res.agreement.set_index("analyte")
    assert (ag["compared_by"] == "sample").all()
    n_samples = exp.values.loc[exp.values["role"] == "sample", "sample"].nunique()
    assert (ag["n_compared"] > 10).all() and (ag["n_compared"] <= n_samples).all()
    assert (ag["within_tolerance_share"] >= 0.9).all()
    assert (ag["instrument_curve_share"] == 1.0).all()
