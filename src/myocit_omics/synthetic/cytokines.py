"""Cytokine panel: true concentrations, two Luminex plates with bridge samples, Simoa IFN-alpha."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from myocit_omics.synthetic.cohort import Cohort, rng_for
from myocit_omics.synthetic.params import OMICS_VISITS, CytokineParameters


@dataclass(frozen=True)
class Analyte:
    """One analyte of the panel and its generative parameters (concentrations in the unit given).

    Attributes
    ----------
    name
        Name as written in the export.
    base
        Median concentration at IFN activity 0 and clinical activity 0.
    ifn_beta
        Natural-log change per unit of latent IFN activity.
    activity_beta
        Natural-log change per unit of clinical activity (1 = the patient's W0 activity).
    top
        Highest standard (Standard1) expected concentration; lower standards 1:4.
    bead_id
        Bead region.
    """

    name: str
    base: float
    ifn_beta: float
    activity_beta: float
    top: float
    bead_id: int


#: The Luminex panel (pg/mL). IL-1beta, IL-17A, IL-2, IL-10 and IFN-gamma are mostly
#: below the lowest standard.
LUMINEX_PANEL: tuple[Analyte, ...] = (
    Analyte("CXCL10", 150.0, 0.55, 0.10, 10000.0, 19),
    Analyte("Galectin-9", 3000.0, 0.35, 0.05, 50000.0, 21),
    Analyte("TNFR2", 2500.0, 0.25, 0.30, 50000.0, 22),
    Analyte("IL-18", 180.0, 0.30, 0.20, 10000.0, 26),
    Analyte("MCP-1", 250.0, 0.20, 0.20, 10000.0, 27),
    Analyte("IL-6", 2.5, 0.10, 0.90, 10000.0, 28),
    Analyte("IL-10", 1.5, 0.10, 0.40, 10000.0, 29),
    Analyte("TNF-alpha", 6.0, 0.05, 0.30, 5000.0, 30),
    Analyte("IL-1beta", 0.04, 0.0, 0.20, 10000.0, 33),
    Analyte("IL-8", 8.0, 0.0, 0.30, 10000.0, 34),
    Analyte("CXCL9", 120.0, 0.40, 0.10, 20000.0, 35),
    Analyte("CXCL11", 40.0, 0.50, 0.0, 10000.0, 36),
    Analyte("IL-1RA", 300.0, 0.10, 0.30, 20000.0, 37),
    Analyte("IFN-gamma", 2.0, 0.15, 0.10, 10000.0, 38),
    Analyte("IL-17A", 0.03, 0.0, 0.10, 10000.0, 39),
    Analyte("IL-2", 0.02, 0.0, 0.0, 10000.0, 42),
    Analyte("CXCL13", 60.0, 0.20, 0.20, 10000.0, 43),
    Analyte("BAFF", 900.0, 0.15, 0.0, 20000.0, 44),
)
#: IFN-alpha by Simoa (fg/mL).
SIMOA_IFNA = Analyte("IFN-alpha", 1.0, 1.7, 0.0, 0.0, 0)

ROWS = "ABCDEFGH"


def cytokine_sample_id(patient_id: str, visit: str) -> str:
    """Return the serum sample id, e.g. ``CYT-MYO-01-W0``."""
    return f"CYT-{patient_id}-{visit}"


def fivepl(x: np.ndarray, a: float, b: float, c: float, d: float, f: float) -> np.ndarray:
    """XPONENT 'Logistic 5P': ``y = A + (B - A) / (1 + (x/C)^D)^F`` (A low, B high, D < 0)."""
    x = np.maximum(np.asarray(x, dtype=float), 1e-12)
    return a + (b - a) / (1.0 + (x / c) ** d) ** f


def inverse_fivepl(y: float, a: float, b: float, c: float, d: float, f: float) -> float:
    """Back-calculate a concentration from a net MFI strictly between A and B."""
    return float(c * (((b - a) / (y - a)) ** (1.0 / f) - 1.0) ** (1.0 / d))


@dataclass
class Plate:
    """One Luminex plate: wells in acquisition order and the instrument's view of them.

    Attributes
    ----------
    plate_id
        Also the xPONENT ``Batch`` name.
    run_date
        Date of the run.
    wells
        One row per well: index (1-based acquisition order), well, sample (name in the export),
        role, sample_id, patient_id, visit, dilution_factor.
    median, count
        Per well x analyte MFI medians and bead counts (same row order as ``wells``).
    curves
        Per analyte: true and instrument-fitted 5PL coefficients (A, B, C, D, F).
    standards
        Per analyte: expected concentrations of Standard1..n.
    controls
        Per analyte: expected concentrations of Control1, Control2.
    offsets
        Per analyte multiplicative offset applied to sample concentrations on this plate.
    """

    plate_id: str
    run_date: date
    wells: pd.DataFrame
    median: np.ndarray
    count: np.ndarray
    curves: dict[str, dict[str, list[float]]]
    standards: dict[str, list[float]]
    controls: dict[str, list[float]]
    offsets: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CytokineStudy:
    """True concentrations, the two Luminex plates, and the Simoa wells."""

    truth: pd.DataFrame
    plates: list[Plate]
    bridge_samples: list[str]
    simoa: pd.DataFrame
    simoa_plate_map: pd.DataFrame


def true_concentrations(cohort: Cohort, params: CytokineParameters, rng: np.random.Generator) -> pd.DataFrame:
    """Return one row per sample and analyte: the true serum concentration.

    Returns
    -------
    pandas.DataFrame
        sample_id, patient_id, visit, analyte, platform, unit, concentration.
    """
    visits = cohort.visits.set_index(["patient_id", "visit"])
    rows = []
    for analyte in (*LUMINEX_PANEL, SIMOA_IFNA):
        platform = "simoa" if analyte is SIMOA_IFNA else "luminex"
        unit = "fg/mL" if platform == "simoa" else "pg/mL"
        patient_eff = dict(
            zip(
                cohort.patients["patient_id"],
                rng.normal(0, params.patient_log_sd, size=len(cohort.patients)),
                strict=True,
            )
        )
        for pid in cohort.patients["patient_id"]:
            for v in OMICS_VISITS:
                ifn = float(visits.at[(pid, v), "ifn_activity"])
                act = float(visits.at[(pid, v), "activity"])
                log_c = (
                    np.log(analyte.base)
                    + analyte.ifn_beta * ifn
                    + analyte.activity_beta * act
                    + patient_eff[pid]
                    + rng.normal(0, params.noise_log_sd)
                )
                rows.append(
                    {
                        "sample_id": cytokine_sample_id(pid, v),
                        "patient_id": pid,
                        "visit": v,
                        "analyte": analyte.name,
                        "platform": platform,
                        "unit": unit,
                        "concentration": round(float(np.exp(log_c)), 4),
                    }
                )
    return pd.DataFrame(rows)


def _well_order() -> list[str]:
    return [f"{r}{c}" for c in range(1, 13) for r in ROWS]


def _layout(
    plate_id: str, samples: list[tuple[str, str, str, str]], params: CytokineParameters
) -> pd.DataFrame:
    """Standards in columns 1-2 (duplicates side by side), backgrounds H1/H2, controls A3-D3, then samples."""
    wells = _well_order()
    assign: dict[str, tuple[str, str, str, str, str]] = {}
    for k in range(params.n_standards):
        for col in (1, 2):
            assign[f"{ROWS[k]}{col}"] = (f"Standard{k + 1}", "standard", "", "", "")
    assign["H1"] = ("Background0", "background", "", "", "")
    assign["H2"] = ("Background0", "background", "", "", "")
    for k, well in enumerate(("A3", "B3", "C3", "D3")):
        assign[well] = (f"Control{k // 2 + 1}", "control", "", "", "")
    free = [w for w in wells if w not in assign]
    if 2 * len(samples) > len(free):
        msg = f"{len(samples)} samples in duplicate do not fit on plate {plate_id}"
        raise ValueError(msg)
    for k, (sid, pid, visit, role) in enumerate(samples):
        for rep in range(2):
            assign[free[2 * k + rep]] = (sid, role, sid, pid, visit)
    rows = []
    for w in wells:
        if w not in assign:
            continue
        name, role, sid, pid, visit = assign[w]
        is_sample = role in ("sample", "bridge")
        rows.append(
            {
                "index": len(rows) + 1,
                "well": w,
                "sample": name,
                "role": role,
                "sample_id": sid if is_sample else name,
                "patient_id": pid,
                "visit": visit,
                "dilution_factor": params.sample_dilution if is_sample else 1.0,
            }
        )
    return pd.DataFrame(rows)


def curve_midpoint(lowest: float, a: float, b: float, d: float, f: float, *, lowest_net: float) -> float:
    """Return the 5PL's ``C`` that puts the lowest standard at a net MFI of ``lowest_net`` above ``A``.

    Solves ``(B - A) / (1 + (x/C)^D)^F = lowest_net`` at ``x = lowest`` (``D < 0``), i.e. the kit's
    standard range is placed so that its lowest standard is measurable above the background.
    """
    u = ((b - a) / lowest_net) ** (1.0 / f) - 1.0
    return float(lowest * u ** (1.0 / abs(d)))


def choose_bridge_samples(
    candidates: list[str], conc: dict[tuple[str, str], float], params: CytokineParameters
) -> list[str]:
    """Choose the bridge samples as a lab does after plate 1: the samples quantifiable for most analytes.

    A sample counts as quantifiable for an analyte when its in-well concentration is at least twice
    the lowest standard and at most the highest (what plate 1 showed; the generator reads the true
    concentration). Ranked by that count, then by ``params.bridge_rank_analyte`` (highest first),
    then by sample id; the first ``params.n_bridge`` are returned in plate order.
    """

    def score(sid: str) -> tuple[int, float, str]:
        n = 0
        for an in LUMINEX_PANEL:
            lowest = an.top / params.standard_dilution ** (params.n_standards - 1)
            x = conc[(sid, an.name)] / params.sample_dilution
            n += int(2.0 * lowest <= x <= an.top)
        return (-n, -conc[(sid, params.bridge_rank_analyte)], sid)

    chosen = set(sorted(candidates, key=score)[: params.n_bridge])
    return [sid for sid in candidates if sid in chosen]


def _measure_plate(
    plate: Plate, conc: dict[tuple[str, str], float], params: CytokineParameters, rng: np.random.Generator
) -> None:
    """Fill ``plate.median`` and ``plate.count`` from the true curves and concentrations."""
    n_w, n_a = len(plate.wells), len(LUMINEX_PANEL)
    bg = rng.uniform(*params.background_mfi, size=n_a)
    median = np.zeros((n_w, n_a))
    for j, an in enumerate(LUMINEX_PANEL):
        a, b, c, d, f = plate.curves[an.name]["true"]
        x = np.zeros(n_w)
        for i, w in plate.wells.iterrows():
            if w.role == "standard":
                x[i] = plate.standards[an.name][int(w["sample"].removeprefix("Standard")) - 1]
            elif w.role == "control":
                x[i] = plate.controls[an.name][int(w["sample"].removeprefix("Control")) - 1]
            elif w.role in ("sample", "bridge"):
                x[i] = conc[(w.sample_id, an.name)] * plate.offsets.get(an.name, 1.0) / w.dilution_factor
        net = np.where(plate.wells.role.to_numpy() == "background", 0.0, fivepl(x, a, b, c, d, f))
        noisy = (
            bg[j]
            + net * np.exp(rng.normal(0, params.mfi_cv, size=n_w))
            + rng.normal(0, params.mfi_additive_sd, size=n_w)
        )
        median[:, j] = np.maximum(1.0, np.round(noisy * 2) / 2)
    count = np.clip(np.round(rng.normal(95, 14, size=(n_w, n_a))), 20, None).astype(int)
    low = rng.choice(n_w, size=2, replace=False)
    for i in low:
        count[i, rng.integers(n_a)] = int(rng.integers(28, 45))
    plate.median = median
    plate.count = count


def simulate_cytokines(cohort: Cohort, params: CytokineParameters, seed: int) -> CytokineStudy:
    """Simulate the cytokine panel of the demo study.

    Parameters
    ----------
    cohort
        The cohort (latent IFN and clinical activity per visit, visit dates).
    params
        Cytokine parameters.
    seed
        Study seed.

    Returns
    -------
    CytokineStudy
        Truth, two Luminex plates (plate 2 with a planted multiplicative offset and the
        bridge samples of plate 1), Simoa wells and plate map.
    """
    rng = rng_for(seed, "cytokines")
    truth = true_concentrations(cohort, params, rng)
    conc = {(r.sample_id, r.analyte): r.concentration for r in truth.itertuples()}

    visits = cohort.visits.set_index(["patient_id", "visit"])
    samples = sorted(
        (
            (visits.at[(p, v), "date"], cytokine_sample_id(p, v), p, v)
            for p in cohort.patients["patient_id"]
            for v in OMICS_VISITS
        ),
    )
    first = samples[: params.n_plate1_samples]
    second = samples[params.n_plate1_samples :]
    bridge = choose_bridge_samples([sid for _, sid, _, _ in first], conc, params)
    # the random bridge pick this choice replaced is still drawn, so that the stream (run dates,
    # hence the export file names, and the Simoa values) stays as first published
    rng.choice(len(first), size=params.n_bridge, replace=False)
    plate1_samples = [(s, p, v, "bridge" if s in bridge else "sample") for _, s, p, v in first]
    plate2_samples = [(s, p, v, "sample") for _, s, p, v in second]
    plate2_samples += [(s, p, v, "bridge") for _, s, p, v in first if s in bridge]
    run1 = date.fromisoformat(first[-1][0]) + timedelta(days=int(rng.integers(10, 30)))
    run2 = date.fromisoformat(second[-1][0]) + timedelta(days=int(rng.integers(14, 40)))

    log_low = tuple(np.log(params.lowest_standard_net_mfi))
    plates = []
    for k, (plate_samples, run) in enumerate(((plate1_samples, run1), (plate2_samples, run2)), start=1):
        plate_id = f"MYOCIT-LX-P{k}"
        curves, standards, controls = {}, {}, {}
        for an in LUMINEX_PANEL:
            std = [an.top / params.standard_dilution**i for i in range(params.n_standards)]
            a = rng.uniform(4, 12)
            b = rng.uniform(15000, 28000)
            d = -rng.uniform(*params.hill_slope_range)
            f = rng.uniform(*params.asymmetry_range)
            c = curve_midpoint(min(std), a, b, d, f, lowest_net=float(np.exp(rng.uniform(*log_low))))
            true = [a, b, c, d, f]
            fitted = [float(v * np.exp(rng.normal(0, params.fit_coefficient_log_sd))) for v in true]
            curves[an.name] = {
                "true": [float(v) for v in true],
                "fitted": [float(f"{v:.6g}") for v in fitted],
            }
            standards[an.name] = [float(f"{s:.6g}") for s in std]
            controls[an.name] = [float(f"{an.top / 200:.4g}"), float(f"{an.top / 12:.4g}")]
        offsets = {}
        if k == 2:
            offsets = {
                an.name: round(
                    params.plate2_offset_global * float(np.exp(rng.normal(0, params.plate2_offset_log_sd))), 4
                )
                for an in LUMINEX_PANEL
            }
        plate = Plate(
            plate_id=plate_id,
            run_date=run,
            wells=_layout(plate_id, plate_samples, params),
            median=np.zeros(0),
            count=np.zeros(0),
            curves=curves,
            standards=standards,
            controls=controls,
            offsets=offsets,
        )
        _measure_plate(plate, conc, params, rng)
        plates.append(plate)

    # Simoa: duplicate wells on two 96-well plates (calibrators and controls take 20 wells each).
    simoa_rows, map_rows = [], []
    per_plate = (96 - 20) // 2
    wells = _well_order()[20:]
    for k, (_, sid, pid, v) in enumerate(samples):
        plate_no, slot = divmod(k, per_plate)
        plate_id = f"MYOCIT-SIMOA-P{plate_no + 1}"
        true = conc[(sid, SIMOA_IFNA.name)]
        for rep in range(2):
            well = wells[2 * slot + rep]
            value = max(0.05, true * float(np.exp(rng.normal(0, params.simoa_cv))))
            flag = (
                "<LLOQ"
                if value < params.simoa_lloq_fg_ml
                else (">ULOQ" if value > params.simoa_uloq_fg_ml else "")
            )
            simoa_rows.append(
                {
                    "sample_id": sid,
                    "analyte": SIMOA_IFNA.name,
                    "value": value,
                    "unit": "fg/mL",
                    "lloq": params.simoa_lloq_fg_ml,
                    "uloq": params.simoa_uloq_fg_ml,
                    "plate": plate_id,
                    "well": well,
                    "flag": flag,
                }
            )
            map_rows.append(
                {
                    "plate_id": plate_id,
                    "well": well,
                    "sample_id": sid,
                    "patient_id": pid,
                    "visit": v,
                    "role": "sample",
                    "dilution_factor": params.simoa_dilution,
                }
            )
    return CytokineStudy(
        truth=truth,
        plates=plates,
        bridge_samples=bridge,
        simoa=pd.DataFrame(simoa_rows),
        simoa_plate_map=pd.DataFrame(map_rows),
    )
