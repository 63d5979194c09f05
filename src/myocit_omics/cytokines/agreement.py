"""Agreement with the instrument: our concentrations against the instrument's, per plate and analyte.

Where an export carries the instrument's own concentrations (xPONENT ``Result``, or
``Avg Result`` per sample when there is no per-well ``Result``; MSD
``Calc. Concentration``, Bio-Plex ``MWObsConc``), ``tables/cytokine_agreement.tsv`` reports per
plate and analyte the share of *quantifiable* wells (samples, controls and bridge wells that
are ``ok`` on our curve and carry a plain instrument number, no ``<``/``>``/extrapolated
marker) whose value is within ``tolerance_pct`` (10 %) of the instrument's.

Where the export also carries the instrument's curve (xPONENT ``Analysis Types`` and
``Analysis Coefficients``: ``Logistic 5P``/``4P``, ``y = A + (B - A) / (1 + (x/C)^D)^F`` on
Net MFI, ../shared/domain/cytokine_exports.md 1.1), the project evaluates that curve on the
same signals too: ``instrument_curve_share`` is the share of wells where it reproduces the
instrument's own number within 1 % (a check that the export is self-consistent and read
right), ``ours_vs_instrument_curve_share`` compares our curve with it on the quantifiable wells.

``status``: ``agrees`` (share >= ``min_share``, 90 %), ``disagrees`` (below, with at least
3 wells; a QC flag ``instrument_disagrees(k/n)`` and a warning naming the likely cause),
``not_comparable`` (no quantifiable well in common; ``likely_cause`` says why).
Likely causes, in the order they are checked: our curve used a repaired or excluded standard
the instrument did not; the instrument's numbers do not follow its own exported curve; a
different curve model (instrument ``Logistic 5P``, ours ``4pl``); the same model, so
different weights or standards (the instrument's weighting is not exported).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.cytokines.curves import inverse5

#: Columns of ``tables/cytokine_agreement.tsv``.
AGREEMENT_COLUMNS: tuple[str, ...] = (
    "plate_id",
    "analyte",
    "file",
    "instrument_model",
    "our_model",
    "n_instrument_values",
    "compared_by",
    "n_compared",
    "within_tolerance_share",
    "median_abs_diff_pct",
    "n_instrument_curve",
    "instrument_curve_share",
    "ours_vs_instrument_curve_share",
    "status",
    "likely_cause",
)

_COEF = re.compile(r"^coefficient\s*([a-g])$", re.I)


def instrument_curve(row: dict[str, Any]) -> dict[str, float] | None:
    """Return the instrument's curve of one analyte in this project's parameterisation, or None.

    ``row`` is a row of :attr:`CytokineExport.analytes` (``analysis_type`` and the
    ``Coefficient A`` .. ``Coefficient F`` columns of xPONENT). xPONENT's ``D`` is the slope of
    ``(x/C)^D`` (negative for a rising curve); ours is the slope of ``(C/x)^D``, so ``D`` changes
    sign; ``F`` (asymmetry) is our ``g`` (1 for ``Logistic 4P``).
    """
    kind = str(row.get("analysis_type", "") or "").lower()
    if "logistic" not in kind or not re.search(r"[45]\s*p", kind):
        return None
    coef: dict[str, float] = {}
    for key, val in row.items():
        m = _COEF.match(str(key).strip())
        if m:
            try:
                coef[m.group(1).upper()] = float(val)
            except (TypeError, ValueError):
                continue
    five = re.search(r"5\s*p", kind) is not None
    need = ("A", "B", "C", "D", "F") if five else ("A", "B", "C", "D")
    if not all(k in coef and math.isfinite(coef[k]) for k in need):
        return None
    if coef["C"] <= 0 or coef["D"] == 0:
        return None
    return {
        "A": coef["A"],
        "B": coef["B"],
        "C": coef["C"],
        "D": -coef["D"],
        "g": coef["F"] if five else 1.0,
    }


def evaluate_instrument_curve(
    curve: dict[str, float], signal: np.ndarray, dilution: np.ndarray
) -> np.ndarray:
    """Back-calculate with the instrument's curve (dilution applied); NaN outside the curve."""
    a, b, c, d, g = (curve[k] for k in "ABCDg")
    if d < 0:  # a falling curve written with a positive xPONENT slope: same curve, mirrored
        a, b, d = b, a, -d
    x, _side = inverse5(np.asarray(signal, dtype=float), a, b, c, d, g)
    dil = np.asarray(dilution, dtype=float)
    return x * np.where(np.isfinite(dil) & (dil > 0), dil, 1.0)


def _share(ours: np.ndarray, theirs: np.ndarray, tol: float) -> tuple[int, float, float]:
    ok = np.isfinite(ours) & np.isfinite(theirs) & (theirs > 0)
    if not ok.any():
        return 0, float("nan"), float("nan")
    rel = np.abs(ours[ok] / theirs[ok] - 1.0) * 100.0
    return int(ok.sum()), float(np.mean(rel <= tol)), float(np.median(rel))


def agreement_row(
    g: pd.DataFrame,
    *,
    plate: str,
    analyte: str,
    file: str,
    analyte_info: dict[str, Any],
    our_model: str,
    our_reason: str,
    series_status: str,
    tolerance_pct: float = 10.0,
    min_share: float = 0.9,
    per_sample: bool = False,
) -> dict[str, Any] | None:
    """One row of the agreement table for one plate and analyte, or None without instrument numbers.

    Parameters
    ----------
    g
        The work rows of this plate and analyte (``role``, ``flag``, ``curve``, ``value``,
        ``instrument_value``, ``instrument_flag``, ``signal``, ``dilution_factor``).
    analyte_info
        The export's row of this analyte (analysis type, coefficients).
    our_model, our_reason
        Our curve's model (``4pl``/``5pl``, or ``none``) and, when none, why.
    series_status
        What the standard-series check did (``clean``, ``repaired``, ``excluded``, ...).
    per_sample
        The instrument's numbers are per sample (xPONENT ``Avg Result`` without a per-well
        ``Result``): compared with the mean of the sample's wells, over samples whose wells are
        all quantifiable; ``n_compared`` then counts samples.
    """
    inst = g["instrument_value"].to_numpy(dtype=float)
    has_inst = np.isfinite(inst)
    if not has_inst.any():
        return None
    kind = str(analyte_info.get("analysis_type", "") or "")
    quant = (
        g["role"].isin(["sample", "control", "bridge"]).to_numpy()
        & (g["flag"] == "ok").to_numpy()
        & (g["curve"] == "fitted").to_numpy()
        & (g["instrument_flag"].fillna("") == "").to_numpy()
        & has_inst
        & (inst > 0)
    )
    ours = g["value"].to_numpy(dtype=float)
    curve = instrument_curve(analyte_info)
    by_curve = (
        evaluate_instrument_curve(
            curve, g["signal"].to_numpy(dtype=float), g["dilution_factor"].to_numpy(dtype=float)
        )
        if curve is not None
        else np.full(len(g), np.nan)
    )
    if per_sample:
        frame = pd.DataFrame(
            {"s": g["sample"].to_numpy(), "q": quant, "ours": ours, "inst": inst, "curve": by_curve}
        )
        agg = frame.groupby("s", sort=False).agg(
            q=("q", "all"), ours=("ours", "mean"), inst=("inst", "first"), curve=("curve", "mean")
        )
        quant, ours, inst, by_curve = (
            agg["q"].to_numpy(),
            agg["ours"].to_numpy(),
            agg["inst"].to_numpy(),
            agg["curve"].to_numpy(),
        )
        has_inst = np.isfinite(inst)
    n, share, med = _share(np.where(quant, ours, np.nan), inst, tolerance_pct)
    n_c, share_c, share_oc = 0, float("nan"), float("nan")
    if curve is not None:
        n_c, share_c, _ = _share(by_curve, np.where(has_inst, inst, np.nan), 1.0)
        _, share_oc, _ = _share(np.where(quant, ours, np.nan), by_curve, tolerance_pct)
    cause = ""
    if n == 0:
        status = "not_comparable"
        if our_model in ("none", "instrument", "npx", ""):
            cause = f"no curve of ours ({our_reason or 'the export has no usable standard series'})"
        else:
            cause = "no well is quantifiable on both our curve and the instrument's"
    elif share >= min_share or n < 3:
        status = "agrees" if share >= min_share else "too_few_wells"
    else:
        status = "disagrees"
        our_kind = our_model.lower().replace("pl", "")
        inst_kind = re.search(r"([45])\s*p", kind.lower())
        if series_status in ("repaired", "excluded"):
            cause = (
                f"our curve used the {series_status} standard series; the instrument fitted the "
                "expected concentrations as exported"
            )
        elif curve is not None and n_c and share_c < 0.9:
            cause = (
                "the instrument's numbers do not follow its own exported curve (results edited, or "
                "computed from other standards)"
            )
        elif inst_kind and inst_kind.group(1) != our_kind:
            cause = (
                f"different curve model: the instrument fitted {kind}, ours is {our_model} "
                "(set cytokines.model to compare like with like)"
            )
        elif inst_kind:
            cause = (
                f"same model ({kind}) but different weights or standards (the instrument's weighting "
                "is not in the export)"
            )
        else:
            cause = "different curve model, weights or standards (the export does not say which it used)"
    return {
        "plate_id": plate,
        "analyte": analyte,
        "file": file,
        "instrument_model": kind,
        "our_model": our_model,
        "n_instrument_values": int(has_inst.sum()),
        "compared_by": "sample" if per_sample else "well",
        "n_compared": n,
        "within_tolerance_share": share,
        "median_abs_diff_pct": med,
        "n_instrument_curve": n_c,
        "instrument_curve_share": share_c,
        "ours_vs_instrument_curve_share": share_oc,
        "status": status,
        "likely_cause": cause,
    }
