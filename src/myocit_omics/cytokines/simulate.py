"""Synthetic xPONENT plates with known truth, for tests and benchmarks.

Writes a CSV laid out as xPONENT writes it (header block, ``Results``, ``DataType:`` blocks,
``-- CRC --`` trailer), quoted or re-saved (unquoted, trailing commas), with a BOM or not.
MFI follow a 5PL per analyte plus background and multiplicative noise; ``Result`` is what an
instrument with the true curve would report (``<``/``>`` the outermost standards outside).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from myocit_omics.cytokines.curves import inverse5, logistic5
from myocit_omics.results import atomic_open


@dataclass
class SimulatedPlate:
    """Truth of a simulated plate.

    Attributes
    ----------
    params
        Per analyte the true curve of the Median: A, B, C, D, g.
    background
        Per analyte the true background MFI (equal to A).
    conc
        Per (well, analyte) the true sample concentration (dilution included).
    wells
        Per well: sample name and dilution factor.
    standards
        Expected concentrations of Standard1..N (same for every analyte).
    """

    params: dict[str, dict[str, float]]
    background: dict[str, float]
    conc: dict[tuple[str, str], float] = field(default_factory=dict)
    wells: dict[str, tuple[str, float]] = field(default_factory=dict)
    standards: list[float] = field(default_factory=list)


def well_order(n: int = 96) -> list[str]:
    """Wells in xPONENT's column-major order: A1, B1, ..., H1, A2, ..."""
    return [f"{r}{c}" for c in range(1, 13) for r in "ABCDEFGH"][:n]


def write_xponent_plate(
    path: str | Path,
    *,
    n_analytes: int = 3,
    n_wells: int = 96,
    n_standards: int = 8,
    top_standard: float = 10000.0,
    dilution_ratio: float = 4.0,
    noise_cv: float = 0.04,
    seed: int = 1,
    quoted: bool = True,
    bom: bool = False,
    date: str = "05/17/2023",
    batch: str = "SIM_PLATE_1",
    sample_names: list[str] | None = None,
    sample_conc: dict[str, float] | None = None,
    sample_dilution: float = 2.0,
    plate_factor: float = 1.0,
    sample_factor: float = 1.0,
    expected_override: dict[int, str] | None = None,
    instrument_curve: bool = False,
    instrument_fit: bool = False,
    instrument_weight_floor: float = 0.01,
) -> SimulatedPlate:
    """Write a synthetic xPONENT CSV plate and return its truth.

    Parameters
    ----------
    path
        Output file.
    n_analytes, n_wells, n_standards, top_standard, dilution_ratio
        Plate layout: 2 background wells, ``n_standards`` levels in duplicate (Standard1 the
        highest, each next one ``1/dilution_ratio`` of it), then samples in duplicate.
    noise_cv
        Multiplicative noise of the MFI.
    seed
        Random seed.
    quoted, bom, date, batch
        File style: quoted cells (xPONENT) or a spreadsheet re-save (unquoted, padded with
        trailing commas); UTF-8 BOM; the ``Date`` cell; the ``Batch`` name.
    sample_names, sample_conc
        Sample names (duplicated wells) and optionally their true concentration (the same for
        every analyte, times an analyte factor); random log-uniform when absent.
    sample_dilution
        Dilution factor of sample wells.
    plate_factor
        Multiplicative plate effect on every MFI (standards too: a curve absorbs it).
    sample_factor
        Multiplicative effect on the measured concentration of sample wells only (a plate
        offset that the standard curve does not see; bridging must remove it). The truth
        keeps the concentration without it.
    expected_override
        Replace the written expected concentration of Standard<i> (1-based) with this text
        (e.g. a lost decimal point).
    instrument_curve
        Also write the ``Analysis Coefficients`` and ``R^2`` blocks of the curve the ``Result``
        block was computed with (xPONENT ``Logistic 5P`` on Net MFI: A, B, C, D (negative), F).

    Returns
    -------
    SimulatedPlate
        The truth.
    """
    rng = np.random.default_rng(seed)
    analytes = [f"AN{i + 1:02d}" for i in range(n_analytes)]
    stds = [top_standard / dilution_ratio**i for i in range(n_standards)]
    params: dict[str, dict[str, float]] = {}
    for a in analytes:
        params[a] = {
            "A": float(rng.uniform(15, 60)),
            "B": float(rng.uniform(15000, 30000)),
            "C": float(np.exp(rng.uniform(np.log(100), np.log(2000)))),
            "D": float(rng.uniform(0.8, 1.4)),
            "g": float(rng.uniform(0.7, 1.3)),
        }
    wells = well_order(n_wells)
    layout: list[tuple[str, str, float]] = []  # well, sample, dilution
    layout += [(wells[0], "Background0", float("nan")), (wells[1], "Background0", float("nan"))]
    k = 2
    for i in range(n_standards):
        layout += [
            (wells[k], f"Standard{i + 1}", float("nan")),
            (wells[k + 1], f"Standard{i + 1}", float("nan")),
        ]
        k += 2
    n_samples = (n_wells - k) // 2
    names = sample_names if sample_names is not None else [f"Unknown{i + 1}" for i in range(n_samples)]
    for name in names[:n_samples]:
        layout += [(wells[k], name, sample_dilution), (wells[k + 1], name, sample_dilution)]
        k += 2
    truth = SimulatedPlate(params=params, background={a: params[a]["A"] for a in analytes}, standards=stds)
    afactor = {a: float(np.exp(rng.normal(0, 0.5))) for a in analytes}
    true_sample: dict[tuple[str, str], float] = {}
    for name in dict.fromkeys(s for _, s, d in layout if np.isfinite(d)):
        for a in analytes:
            if sample_conc is not None and name in sample_conc:
                true_sample[(name, a)] = sample_conc[name] * afactor[a]
            else:
                true_sample[(name, a)] = (
                    float(np.exp(rng.uniform(np.log(stds[-1] * 0.3), np.log(stds[0] * 1.5))))
                    * sample_dilution
                )
    median: dict[tuple[str, str], float] = {}
    count: dict[tuple[str, str], int] = {}
    for w, s, d in layout:
        truth.wells[w] = (s, d)
        for a in analytes:
            p = params[a]
            if s.startswith("Background"):
                x = 0.0
            elif s.startswith("Standard"):
                x = stds[int(s[len("Standard") :]) - 1]
            else:
                x = true_sample[(s, a)] / d * sample_factor
                truth.conc[(w, a)] = true_sample[(s, a)]
            mu = (
                float(logistic5(np.array([x]), p["A"], p["B"], p["C"], p["D"], p["g"])[0])
                if x > 0
                else p["A"]
            )
            median[(w, a)] = round(mu * plate_factor * float(np.exp(rng.normal(0, noise_cv))), 1)
            count[(w, a)] = int(rng.integers(40, 120))
    bg = {
        a: float(np.mean([median[(w, a)] for w, s, _ in layout if s.startswith("Background")]))
        for a in analytes
    }
    net = {(w, a): round(median[(w, a)] - bg[a], 2) for w, _, _ in layout for a in analytes}

    rows: list[list[str]] = []
    rows += [
        ["Program", "xPONENT", "", "MAGPIX"],
        ["Build", "4.2.1705.0"],
        ["Date", date, "10:50 AM"],
        [],
        ["SN", "MAGPX00000000"],
        ["Batch", batch],
        ["Version", "1"],
        ["Operator", "sim"],
        ["ProtocolName", "SIM_PANEL"],
        ["SampleVolume", "50 uL"],
        ["ProtocolPlate", "Name", "plate", "Type", "96", "Plates", "1"],
        ["ProtocolMicrosphere", "Map", "MagPlex", "Type", "MagPlex", "Count", str(n_analytes)],
        ["ProtocolAnalysis", "Type", "Quan", "Mode", "FitOfAllStandards"],
        ["NormBead", "None"],
        [],
        ["Samples", str(len(layout)), "Min Events", "50", "Per Bead"],
        [],
        ["Results"],
        [],
    ]

    def loc(i: int, w: str) -> str:
        return f"{i + 1}(1,{w})"

    def block(name: str, header: list[str], body: list[list[str]]) -> None:
        rows.extend([["DataType:", name], header, *body, []])

    head = ["Location", "Sample", *analytes, "Total Events"]
    for name, src in (("Median", median), ("Net MFI", net), ("Count", count)):
        block(
            name,
            head,
            [
                [
                    loc(i, w),
                    s,
                    *[f"{src[(w, a)]:g}" for a in analytes],
                    str(sum(count[(w, a)] for a in analytes)),
                ]
                for i, (w, s, _) in enumerate(layout)
            ],
        )
    # the instrument's curve on Net MFI, in this module's parameterisation (A, B, C, D > 0, g)
    inst: dict[str, tuple[float, float, float, float, float]] = {
        a: (
            0.0,
            params[a]["B"] * plate_factor - params[a]["A"],
            params[a]["C"],
            params[a]["D"],
            params[a]["g"],
        )
        for a in analytes
    }
    if instrument_fit:
        from scipy.optimize import curve_fit

        def xp5(x: np.ndarray, a: float, b: float, c: float, d: float, f: float) -> np.ndarray:
            return a + (b - a) / (1.0 + (x / c) ** d) ** f

        for a in analytes:
            xs = np.array(
                [stds[int(s[len("Standard") :]) - 1] for _, s, _ in layout if s.startswith("Standard")]
            )
            ys = np.array([net[(w, a)] for w, s, _ in layout if s.startswith("Standard")])
            a0, b0, c0, d0, g0 = inst[a]
            popt, _ = curve_fit(
                xp5,
                xs,
                ys,
                p0=[a0, b0, c0, -d0, g0],
                sigma=np.maximum(np.abs(ys), max(instrument_weight_floor * float(np.max(np.abs(ys))), 1e-3)),
                bounds=([-1e3, 0.0, 1e-6, -20.0, 0.05], [1e3, 1e6, 1e9, -0.05, 20.0]),
                maxfev=20000,
            )
            inst[a] = (float(popt[0]), float(popt[1]), float(popt[2]), float(-popt[3]), float(popt[4]))
    result_body = []
    for i, (w, s, d) in enumerate(layout):
        cells = []
        for a in analytes:
            if s.startswith("Background"):
                cells.append("NaN")
                continue
            x, side = inverse5(np.array([net[(w, a)]]), *inst[a])
            dd = d if np.isfinite(d) else 1.0
            if side[0] < 0 or (np.isfinite(x[0]) and x[0] < stds[-1] * 0.5):
                cells.append(f"< {stds[-1]:g}")
            elif side[0] > 0 or (np.isfinite(x[0]) and x[0] > stds[0] * 2):
                cells.append(f"> {stds[0]:g}")
            else:
                cells.append(f"{x[0] * dd:.4f}")
        result_body.append([loc(i, w), s, *cells, ""])
    block("Result", head, result_body)
    block(
        "Units",
        ["Analyte:", *analytes],
        [["BeadID:", *[str(12 + i) for i in range(n_analytes)]], ["Units:", *["pg/mL"] * n_analytes]],
    )
    block(
        "Dilution Factor",
        ["Location", "Sample", "Dilution Factor"],
        [[loc(i, w), s, f"{d:g}" if np.isfinite(d) else ""] for i, (w, s, d) in enumerate(layout)],
    )
    exp_body = []
    for i, v in enumerate(stds):
        txt = (expected_override or {}).get(i + 1, f"{v:g}")
        exp_body.append([f"Standard{i + 1}", *[txt] * n_analytes])
    block("Standard Expected Concentration", ["Reagent", *analytes], exp_body)
    block("Analysis Types", ["Analyte:", *analytes], [["AnalysisType", *["Logistic 5P"] * n_analytes]])
    if instrument_curve:
        # the Result curve on Net MFI in xPONENT's terms: A, B, C, D (negative slope of (x/C)^D), F
        signs = {
            "Coefficient A": 1,
            "Coefficient B": 1,
            "Coefficient C": 1,
            "Coefficient D": -1,
            "Coefficient F": 1,
        }
        block(
            "Analysis Coefficients",
            ["Analyte:", *analytes],
            [
                [name, *[f"{sign * inst[a][k]:.10g}" for a in analytes]]
                for k, (name, sign) in enumerate(signs.items())
            ],
        )
        block("R^2", ["Analyte:", *analytes], [["Value", *["0.9999"] * n_analytes]])
    block("Audit Logs", ["UserId", "Date", "Message"], [])
    block(
        "Warnings/Errors",
        ["Location", "Status", "Message"],
        [
            [
                "1," + layout[-1][0],
                "Warning",
                "The acquisition had at least one region that did not reach the specified count.",
            ]
        ],
    )
    rows += [["-- CRC --"], ["CRC32: 00000000"]]

    buf = io.StringIO()
    if quoted:
        w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        for r in rows:
            w.writerow(r) if r else buf.write("\r\n")
    else:
        width = max(len(r) for r in rows) + 2
        w = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        for r in rows:
            w.writerow(r + [""] * (width - len(r)))
    with atomic_open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        fh.write(buf.getvalue())
    return truth
