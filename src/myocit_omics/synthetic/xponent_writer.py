"""Write a Luminex plate as xPONENT writes its CSV export.

Layout after ../shared/domain/cytokine_exports.md section 1 and the real exports in the
shared fixtures: fully quoted cells, CRLF line ends, a header block, ``Samples`` and
``Results`` lines, then ``DataType:`` blocks, and the ``-- CRC --`` trailer. Net MFI is the
median minus the mean of the background wells; Result is back-calculated from Net MFI with
the instrument's 5PL coefficients and multiplied by the dilution factor; a Net MFI at or
below the lower asymptote gives ``< <lowest standard>``, at or above the upper asymptote
``> <highest standard>`` (not multiplied by the dilution factor), background wells ``NaN``.
"""

from __future__ import annotations

import csv
import io
import zlib
from datetime import date

import numpy as np

from myocit_omics.synthetic.cytokines import LUMINEX_PANEL, Plate, inverse_fivepl

WARNING_LOW_COUNT = (
    "The acquisition had at least one region that did not reach the maximum count.  (0x4FF010AB)"
)


def fmt(value: float, decimals: int = 2) -> str:
    """Format a number with at most ``decimals`` decimals, trailing zeros removed (``10921.5``, ``37214``)."""
    if not np.isfinite(value):
        return "NaN"
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _us_date(d: date) -> str:
    return f"{d.month:02d}/{d.day:02d}/{d.year}"


def _short_date(d: date) -> str:
    return f"{d.month}/{d.day}/{d.year}"


def _result(
    net: float, coef: list[float], dilution: float, lowest: float, highest: float
) -> tuple[str, float]:
    """Return the Result string and the in-well concentration (NaN when out of range)."""
    a, b, c, d, f = coef
    if net <= a:
        return f"< {fmt(lowest, 6)}", float("nan")
    if net >= b:
        return f"> {fmt(highest, 6)}", float("nan")
    x = inverse_fivepl(net, a, b, c, d, f)
    return fmt(x * dilution, 2), x


def plate_values(plate: Plate) -> dict[str, np.ndarray]:
    """Return the instrument's derived values: net MFI, Result strings and in-well concentrations."""
    names = [an.name for an in LUMINEX_PANEL]
    bg_rows = plate.wells.role.to_numpy() == "background"
    bg = plate.median[bg_rows].mean(axis=0)
    net = plate.median - bg[None, :]
    result = np.empty(net.shape, dtype=object)
    conc = np.full(net.shape, np.nan)
    for j, name in enumerate(names):
        std = plate.standards[name]
        for i, w in enumerate(plate.wells.itertuples()):
            if w.role == "background":
                result[i, j] = "NaN"
                continue
            dil = w.dilution_factor if w.role in ("sample", "bridge") else 1.0
            result[i, j], conc[i, j] = _result(
                float(net[i, j]), plate.curves[name]["fitted"], dil, min(std), max(std)
            )
    return {"net": net, "result": result, "conc": conc, "background": bg}


def render_xponent(plate: Plate, *, plate_number: int = 1, serial: str = "FM3DD22105007") -> str:
    """Render one plate as the text of an xPONENT CSV export.

    Parameters
    ----------
    plate
        The plate (wells, medians, counts, curves).
    plate_number
        Plate number written in the Location cells (``1(1,A1)``).
    serial
        Instrument serial number of the header block.

    Returns
    -------
    str
        The file's text, CRLF line ends, no final newline after the CRC line.
    """
    names = [an.name for an in LUMINEX_PANEL]
    wells = plate.wells
    vals = plate_values(plate)
    net, result, conc = vals["net"], vals["result"], vals["conc"]
    total = plate.count.sum(axis=1) + np.round(plate.count.sum(axis=1) * 0.08).astype(int)
    loc = [f"{w.index}({plate_number},{w.well})" for w in wells.itertuples()]
    out = io.StringIO()
    wr = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")

    def blank() -> None:
        out.write("\r\n")

    d = plate.run_date
    start_min = 9 * 60 + 5 + (d.toordinal() % 40)
    stop_min = start_min + 52

    def clock(minutes: int, seconds: int) -> str:
        h, m = divmod(minutes, 60)
        return f"{(h - 1) % 12 + 1}:{m:02d}:{seconds:02d} {'AM' if h < 12 else 'PM'}"

    h0, m0 = divmod(start_min, 60)
    wr.writerow(["Program", "xPONENT", "", "FlexMAP 3D"])
    wr.writerow(["Build", "4.3.229.0"])
    wr.writerow(["Date", _us_date(d), f"{(h0 - 1) % 12 + 1}:{m0:02d} {'AM' if h0 < 12 else 'PM'}"])
    blank()
    for key, value in (
        ("SN", serial),
        ("Batch", plate.plate_id),
        ("Version", "1"),
        ("Operator", "labtech2"),
        ("ComputerName", "IMMUNOLAB-LX01"),
        ("Country Code", "409"),
        ("ProtocolName", "MYOCIT_HsCyto18"),
        ("ProtocolVersion", "2"),
        ("ProtocolDescription", "Human cytokine 18-plex, serum 1:2, 50 beads/region"),
        ("ProtocolDevelopingCompany", "MYOCIT immunology lab"),
        ("SampleVolume", "50 uL"),
        ("DDGate", "7500 to 25000"),
        ("SampleTimeout", "60 sec"),
        ("BatchStartTime", f"{_short_date(d)} {clock(start_min, 31)}"),
        ("BatchStopTime", f"{_short_date(d)} {clock(stop_min, 8)}"),
        ("BatchDescription", "<None>"),
    ):
        wr.writerow([key, value])
    wr.writerow(["ProtocolPlate", "Name", "Current 96-well plate", "Type", "96", "Plates", "1"])
    wr.writerow(["ProtocolMicrosphere", "Map", "FlexMAP 3D Map", "Type", "MagPlex", "Count", str(len(names))])
    wr.writerow(["ProtocolReporterGain", "Standard PMT"])
    wr.writerow(["ProtocolAnalysis", "Type", "Quan", "Mode", "FitOfAllStandards"])
    wr.writerow(["NormBead", "None"])
    wr.writerow(["ProtocolHeater", "Off"])
    blank()
    cal = f"{_us_date(d)} 08:1{d.day % 10}:2{d.month % 10}"
    wr.writerow(["Most Recent Calibration and Verification Results:"])
    wr.writerow(["Last F3DeCAL1 Calibration", f"Passed {cal}"])
    wr.writerow(["Last F3DCAL2 Calibration", f"Passed {cal}"])
    wr.writerow(["Last F3DeVER1 Verification", f"Passed {cal}"])
    wr.writerow(["Last Fluidics Test", f"Passed {cal}"])
    wr.writerow([""])
    wr.writerow(["CALInfo:"])
    wr.writerow(["Classification Calibrator Extended"])
    wr.writerow(
        [
            "Lot",
            "ExpirationDate",
            "CalibrationTime",
            "DDTemp",
            "CL1Temp",
            "CL2Temp",
            "CL3Temp",
            "DDVolts",
            "CL1Volts",
            "CL2Volts",
            "CL3Volts",
            "DDRVal",
            "CL1RVal",
            "CL2RVal",
            "CL3RVal",
            "Result",
            "MachineSerialNo",
        ]
    )
    wr.writerow(
        [
            "B93260",
            f"02/08/{d.year + 1}",
            f"{_short_date(d)} 8:10:54 AM",
            "23.43",
            "24.37",
            "24.37",
            "24.21",
            "76.41",
            "106.07",
            "113.08",
            "109.61",
            "530",
            "1062",
            "1225",
            "1222",
            "Pass",
            serial,
        ]
    )
    blank()
    blank()
    wr.writerow(["Samples", str(len(wells)), "Min Events", "50", "Per Bead"])
    blank()
    wr.writerow(["Results"])
    blank()

    def per_well_block(
        title: str, cells: np.ndarray, *, total_events: bool = True, rows: list[int] | None = None
    ) -> None:
        wr.writerow(["DataType:", title])
        wr.writerow(["Location", "Sample", *names] + (["Total Events"] if total_events else []))
        for i in rows if rows is not None else range(len(wells)):
            row = [loc[i], wells["sample"].iat[i], *[str(v) for v in cells[i]]]
            wr.writerow(row + ([str(total[i])] if total_events else []))
        blank()

    fmt_arr = np.vectorize(fmt, otypes=[object])
    per_well_block("Median", fmt_arr(plate.median, 2))
    per_well_block("Net MFI", fmt_arr(net, 2))
    per_well_block("Count", plate.count.astype(str))
    per_well_block("Result", result)

    # Averages per sample name (replicates pooled), in order of first appearance.
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(wells["sample"]):
        groups.setdefault(s, []).append(i)
    avg_net = {s: net[idx].mean(axis=0) for s, idx in groups.items()}
    wr.writerow(["DataType:", "Avg Net MFI"])
    wr.writerow(["Sample", *names, "Total Events"])
    for s, idx in groups.items():
        wr.writerow([s, *[fmt(v, 2) for v in avg_net[s]], fmt(float(np.mean(total[idx])), 1)])
    blank()
    wr.writerow(["DataType:", "Avg Result"])
    wr.writerow(["Sample", *names])
    for s, idx in groups.items():
        role = wells["role"].iat[idx[0]]
        dil = wells["dilution_factor"].iat[idx[0]] if role in ("sample", "bridge") else 1.0
        if role == "background":
            cells = ["NaN"] * len(names)
        else:
            cells = []
            for j, name in enumerate(names):
                std = plate.standards[name]
                cells.append(
                    _result(float(avg_net[s][j]), plate.curves[name]["fitted"], dil, min(std), max(std))[0]
                )
        wr.writerow([s, *cells])
    blank()
    wr.writerow(["DataType:", "%CV Replicates"])
    wr.writerow(["Sample", *names])
    for s, idx in groups.items():
        sub = net[idx]
        if len(idx) < 2:
            cells = ["NaN"] * len(names)
        else:
            mean = sub.mean(axis=0)
            sd = sub.std(axis=0, ddof=1)
            cells = [fmt(100 * sd[j] / mean[j], 2) if mean[j] > 0 else "NaN" for j in range(len(names))]
        wr.writerow([s, *cells])
    blank()
    for title, values, prefix in (
        ("Standard Expected Concentration", plate.standards, "Standard"),
        ("Control Expected Concentration", plate.controls, "Control"),
    ):
        wr.writerow(["DataType:", title])
        wr.writerow(["Reagent", *names])
        for k in range(len(values[names[0]])):
            wr.writerow([f"{prefix}{k + 1}", *[fmt(values[n][k], 6) for n in names]])
        blank()

    expected = np.full(net.shape, np.nan)
    for i, w in enumerate(wells.itertuples()):
        for j, name in enumerate(names):
            if w.role == "standard":
                expected[i, j] = plate.standards[name][int(w.sample.removeprefix("Standard")) - 1]
            elif w.role == "control":
                expected[i, j] = plate.controls[name][int(w.sample.removeprefix("Control")) - 1]
    sc_rows = [i for i, r in enumerate(wells["role"]) if r in ("standard", "control")]
    recovery = np.empty(net.shape, dtype=object)
    for i in sc_rows:
        for j in range(len(names)):
            recovery[i, j] = fmt(100 * conc[i, j] / expected[i, j], 2) if np.isfinite(conc[i, j]) else "N/A"
    per_well_block("% Recovery", recovery, total_events=False, rows=sc_rows)

    comments = np.full(net.shape, "", dtype=object)
    for j, name in enumerate(names):
        lo, hi = min(plate.standards[name]), max(plate.standards[name])
        for i, w in enumerate(wells.itertuples()):
            x = conc[i, j]
            if w.role != "background" and np.isfinite(x) and (x < lo or x > hi):
                comments[i, j] = "Extrapolated"
    per_well_block("Comments", comments, total_events=False)

    bead_ids = [str(an.bead_id) for an in LUMINEX_PANEL]
    wr.writerow(["DataType:", "Units"])
    wr.writerow(["Analyte:", *names])
    wr.writerow(["BeadID:", *bead_ids])
    wr.writerow(["Units:", *["pg/mL"] * len(names)])
    blank()
    wr.writerow(["DataType:", "Per Bead Count"])
    wr.writerow(["Analyte:", *names])
    wr.writerow(["BeadID:", *bead_ids])
    wr.writerow(["Per Bead:", *["50"] * len(names)])
    blank()
    wr.writerow(["DataType:", "Dilution Factor"])
    wr.writerow(["Location", "Sample", "Dilution Factor"])
    for i, w in enumerate(wells.itertuples()):
        df = "" if w.role in ("standard", "background") else fmt(w.dilution_factor, 3)
        wr.writerow([loc[i], w.sample, df])
    blank()
    blank()
    wr.writerow(["DataType:", "Analysis Types"])
    wr.writerow(["Analyte:", *names])
    wr.writerow(["AnalysisType", *["Logistic 5P"] * len(names)])
    blank()
    wr.writerow(["DataType:", "Analysis Coefficients"])
    wr.writerow(["Analyte:", *names])
    for k, label in enumerate(("A", "B", "C", "D", "F")):
        wr.writerow([f"Coefficient {label}", *[fmt(plate.curves[n]["fitted"][k], 6) for n in names]])
    blank()
    wr.writerow(["DataType:", "R^2"])
    wr.writerow(["Analyte:", *names])
    r2 = []
    std_rows = [i for i, r in enumerate(wells["role"]) if r == "standard"]
    for j, name in enumerate(names):
        a, b, c, dd, f = plate.curves[name]["fitted"]
        x = expected[std_rows, j]
        pred = a + (b - a) / (1.0 + (x / c) ** dd) ** f
        y = net[std_rows, j]
        r2.append(fmt(1 - float(np.sum((y - pred) ** 2)) / float(np.sum((y - y.mean()) ** 2)), 6))
    wr.writerow(["Value", *r2])
    blank()
    wr.writerow(["DataType:", "Audit Logs"])
    wr.writerow(["UserId", "Date", "Message"])
    blank()
    wr.writerow(["DataType:", "Warnings/Errors"])
    wr.writerow(["Location", "Status", "Message"])
    for i, w in enumerate(wells.itertuples()):
        if plate.count[i].min() < 50:
            wr.writerow([f"{plate_number},{w.well}", "Warning", WARNING_LOW_COUNT])
    blank()
    body = out.getvalue()
    crc = zlib.crc32(body.encode("utf-8")) & 0xFFFFFFFF
    return body + f"-- CRC --\r\nCRC32: {crc:08X}"
