"""Cytokine hand-ins: xPONENT exports as the instrument writes them, bridge samples, offset, Simoa CSV."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

LOCATION = re.compile(r"^(\d+)\((\d+),([A-H]\d{1,2})\)$")
ROLES = {"sample", "bridge", "standard", "background", "control"}


def _numeric(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return float("nan")


def test_xponent_layout(luminex: list[dict]) -> None:
    required = {
        "Median",
        "Net MFI",
        "Count",
        "Result",
        "Avg Net MFI",
        "Avg Result",
        "Dilution Factor",
        "Standard Expected Concentration",
        "Control Expected Concentration",
        "Analysis Types",
        "Analysis Coefficients",
        "Units",
        "Warnings/Errors",
    }
    for plate in luminex:
        raw = plate["export"].read_bytes()
        assert raw.startswith(b'"Program","xPONENT"')
        assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
        lines = raw.decode().split("\r\n")
        assert lines[-2] == "-- CRC --" and lines[-1].startswith("CRC32: ")
        assert any(line.startswith('"Samples",') for line in lines)
        assert '"Results"' in lines
        blocks = plate["blocks"]
        assert required <= set(blocks)
        median = blocks["Median"]
        assert median[0][:2] == ["Location", "Sample"] and median[0][-1] == "Total Events"
        n_analytes = len(median[0]) - 3
        assert n_analytes >= 15
        for row in median[1:]:
            m = LOCATION.match(row[0])
            assert m and m.group(2) == "1", row[0]
        samples = [r[1] for r in median[1:]]
        assert {f"Standard{k}" for k in range(1, 8)} <= set(samples)
        assert samples.count("Standard1") == 2 and "Background0" in samples
        # duplicate sample wells
        ids = [s for s in samples if s.startswith("CYT-")]
        assert all(ids.count(s) == 2 for s in ids)
        std = blocks["Standard Expected Concentration"]
        for j in range(1, n_analytes + 1):
            series = [float(r[j]) for r in std[1:]]
            ratios = np.array(series[:-1]) / np.array(series[1:])
            assert np.allclose(ratios, ratios[0], rtol=1e-3) and ratios[0] > 1


def test_instrument_results_follow_its_own_5pl_and_the_dilution(luminex: list[dict]) -> None:
    for plate in luminex:
        blocks = plate["blocks"]
        analytes = blocks["Net MFI"][0][2:-1]
        coef = {row[0]: [float(x) for x in row[1:]] for row in blocks["Analysis Coefficients"][1:]}
        dilution = {r[0]: r[2] for r in blocks["Dilution Factor"][1:]}
        lowest = {
            a: min(float(r[j + 1]) for r in blocks["Standard Expected Concentration"][1:])
            for j, a in enumerate(analytes)
        }
        checked = 0
        for net_row, res_row in zip(blocks["Net MFI"][1:], blocks["Result"][1:], strict=True):
            assert net_row[0] == res_row[0]
            if net_row[1] == "Background0":
                assert set(res_row[2:-1]) == {"NaN"}
                continue
            df = float(dilution[net_row[0]] or 1)
            for j, a in enumerate(analytes):
                y = float(net_row[j + 2])
                ca, cb, cc, cd, cf = (coef[f"Coefficient {k}"][j] for k in "ABCDF")
                cell = res_row[j + 2]
                if y <= ca:
                    assert cell == f"< {lowest[a]:g}", (cell, lowest[a])
                    continue
                x = cc * (((cb - ca) / (y - ca)) ** (1 / cf) - 1) ** (1 / cd)
                assert abs(float(cell) - x * df) <= 0.01 + 1e-4 * x * df, (a, cell, x * df)
                checked += 1
        assert checked > 500


def test_plates_hold_values_below_the_quantifiable_range(luminex: list[dict]) -> None:
    for plate in luminex:
        result = plate["blocks"]["Result"]
        cells = [c for row in result[1:] if row[1].startswith("CYT-") for c in row[2:-1]]
        below = [c for c in cells if c.startswith("<")]
        assert len(below) >= 10
        assert all(re.fullmatch(r"< \d+(\.\d+)?", c) for c in below)
        comments = [c for row in plate["blocks"]["Comments"][1:] for c in row[2:]]
        assert "Extrapolated" in comments


def test_bridge_samples_are_on_both_plates(luminex: list[dict], truth: dict) -> None:
    bridge = set(truth["plates"]["bridge_samples"])
    assert 6 <= len(bridge) <= 8
    for plate in luminex:
        pm = plate["plate_map"]
        assert list(pm.columns) == [
            "plate_id",
            "well",
            "sample_id",
            "patient_id",
            "visit",
            "role",
            "dilution_factor",
        ]
        assert set(pm["role"]) <= ROLES
        assert set(pm.loc[pm.role == "bridge", "sample_id"]) == bridge
        in_export = {r[1] for r in plate["blocks"]["Median"][1:]}
        assert bridge <= in_export
        # plate map and export agree well by well
        wells = {LOCATION.match(r[0]).group(3): r[1] for r in plate["blocks"]["Median"][1:]}
        assert dict(zip(pm["well"], pm["sample_id"], strict=True)) == wells
    ids1 = set(luminex[0]["plate_map"].sample_id)
    ids2 = set(luminex[1]["plate_map"].sample_id)
    assert {s for s in ids1 & ids2 if s.startswith("CYT-")} == bridge


def test_plate_two_carries_the_recorded_offset_on_bridge_samples(luminex: list[dict], truth: dict) -> None:
    offsets = truth["plates"]["plates"][1]["offset"]
    bridge = truth["plates"]["bridge_samples"]
    avg = []
    for plate in luminex:
        rows = plate["blocks"]["Avg Result"]
        avg.append(
            pd.DataFrame([r[1:] for r in rows[1:]], index=[r[0] for r in rows[1:]], columns=rows[0][1:])
        )
    for analyte in ("CXCL10", "Galectin-9", "TNFR2", "MCP-1", "CXCL9", "BAFF"):
        ratio = [_numeric(avg[1].at[s, analyte]) / _numeric(avg[0].at[s, analyte]) for s in bridge]
        observed = float(np.nanmedian(ratio))
        assert abs(np.log(observed / offsets[analyte])) < np.log(1.25), (analyte, observed, offsets[analyte])
        assert observed > 1.15


def test_ifn_related_cytokines_follow_the_latent_activity(
    luminex: list[dict], truth: dict, demo: Path
) -> None:
    latent = truth["visits"].set_index(["patient_id", "visit"])["ifn_activity"]
    rows = luminex[0]["blocks"]["Avg Result"]
    col = rows[0].index("CXCL10")
    xs, ys = [], []
    for r in rows[1:]:
        if r[0].startswith("CYT-"):
            pid, visit = r[0][4:10], r[0][11:]
            xs.append(latent[(pid, visit)])
            ys.append(_numeric(r[col]))
    assert pd.Series(xs).corr(pd.Series(ys), method="spearman") > 0.5
    simoa = pd.read_csv(demo / "batches" / "cytokine-simoa-ifna" / "simoa_ifna_results.csv")
    pm = pd.read_csv(demo / "batches" / "cytokine-simoa-ifna" / "plate_map.csv")
    assert list(simoa.columns) == [
        "sample_id",
        "analyte",
        "value",
        "unit",
        "lloq",
        "uloq",
        "plate",
        "well",
        "flag",
    ]
    merged = simoa.merge(pm, left_on=["plate", "well"], right_on=["plate_id", "well"], suffixes=("", "_map"))
    assert len(merged) == len(simoa) and (merged.sample_id == merged.sample_id_map).all()
    means = merged.groupby(["patient_id", "visit"])["value"].mean()
    rho = pd.Series(means.to_numpy()).corr(pd.Series([latent[k] for k in means.index]), method="spearman")
    assert rho > 0.7
    assert set(simoa.unit) == {"fg/mL"}
    below = simoa[simoa.value < simoa.lloq]
    assert len(below) > 0 and (below.flag == "<LLOQ").all()
    assert simoa.loc[simoa.value >= simoa.lloq, "flag"].isna().all()


def _header_keys(path: Path) -> list[str]:
    """First cells of the header block, up to the calibration section."""
    keys = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        first = line.split(",")[0].strip('"')
        if first.startswith("Most Recent"):
            break
        if first:
            keys.append(first)
    return keys


def test_header_block_and_cell_conventions_match_a_real_xponent_export(luminex: list[dict], shared) -> None:
    real = shared("fixtures", "exports", "allotropy_luminex_xPONENT_example02.csv")
    real_keys = _header_keys(real)
    real_blocks = {}
    current = None
    for row in csv.reader(io.StringIO(real.read_text(encoding="utf-8", errors="replace"))):
        if row and row[0] == "DataType:":
            current = real_blocks.setdefault(row[1], [])
        elif row and current is not None:
            current.append(row)
        else:
            current = None
    for plate in luminex:
        ours = _header_keys(plate["export"])
        # same keys, in the same order, except where the protocol differs (ProtocolAnalysis is Quan here)
        assert [k for k in ours if k in real_keys] == [k for k in real_keys if k in ours]
        assert len(set(real_keys) - set(ours)) == 0, set(real_keys) - set(ours)
        for name in (
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
            assert plate["blocks"][name][0][0] == real_blocks[name][0][0], name
            assert (plate["blocks"][name][0][-1] == "Total Events") == (
                real_blocks[name][0][-1] == "Total Events"
            )
        real_loc = real_blocks["Median"][1][0]
        assert LOCATION.match(real_loc) and LOCATION.match(plate["blocks"]["Median"][1][0])
        warn = plate["blocks"]["Warnings/Errors"][1:]
        assert warn and all(re.fullmatch(r"1,[A-H]\d{1,2}", w[0]) and w[1] == "Warning" for w in warn)
        assert real_blocks["Warnings/Errors"][1][2] == warn[0][2]
