"""Censoring flags of every value and the substitution rule for censored values.

Flags (column ``flag`` of ``tables/cytokines_long.tsv``), decided per well and analyte in
this order:

``missing``
    no number at all (empty, ``NaN``, a dry well, an unusable Olink value).
``fit_failed``
    the analyte's standard curve on this plate failed or is not monotone (the reason is in
    ``tables/cytokine_qc.tsv``); the value is not used (NaN), the instrument's own value is
    still in ``instrument_value``.
``below_lloq`` / ``above_uloq``
    back-calculated below the LLOQ / above the ULOQ (both times the well's dilution), or the
    signal lies beyond the curve's asymptote; for instrument concentrations, below/above the
    limits the export gives, or the export's own below/above-range marker.
``instrument_oor``
    the instrument reported only an out-of-range bound (``< 0.1``, ``> 3450``) and no curve
    of ours decides (MFI-free exports).
``extrapolated``
    the instrument marked the value extrapolated and no curve of ours overrides it.
``ok``
    inside the quantifiable range.
``no_standard_curve``
    the plate has no standard concentrations for the analyte (serology-style MFI plates, or
    standards exported without expected values) and the instrument gave no concentration:
    the value is the signal (MFI), kept for analysis relative to the plate's controls; one
    warning per plate says so.

Olink NPX below LOD is flagged ``below_lloq`` but its NPX is kept (as OlinkAnalyze does).

Substitution rules (parameter ``substitution``, written into every output):
``lloq_half`` (below -> LLOQ/2, above -> ULOQ), ``lloq_sqrt2`` (below -> LLOQ/sqrt 2, above ->
ULOQ), ``censored`` (below/above/instrument_oor -> NaN, kept as censored for
censoring-aware statistics). ``missing``/``fit_failed`` are always NaN; ``extrapolated``,
``no_standard_curve`` and ``ok`` keep their number.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: Every flag a value can carry.
FLAGS: tuple[str, ...] = (
    "ok",
    "below_lloq",
    "above_uloq",
    "extrapolated",
    "instrument_oor",
    "missing",
    "fit_failed",
    "no_standard_curve",
)
#: Integer codes used in the AnnData ``flags`` layer (``uns["flag_codes"]``).
FLAG_CODES: dict[str, int] = {f: i for i, f in enumerate(FLAGS)}
#: Substitution rules.
SUBSTITUTIONS: tuple[str, ...] = ("lloq_half", "lloq_sqrt2", "censored")
CENSORED = ("below_lloq", "above_uloq", "instrument_oor")


def flag_values(df: pd.DataFrame) -> pd.Series:
    """Flag every row of a long table.

    Parameters
    ----------
    df
        Columns ``value`` (our number, NaN if none), ``side`` (-1/0/+1 beyond the curve; 0 when
        no curve), ``lloq``, ``uloq`` (in sample concentration; NaN when unknown),
        ``instrument_flag``, ``curve`` (``fitted``, ``failed``, ``mfi`` (the value is the signal:
        no standard curve) or ``none``), ``scale``.

    Returns
    -------
    pandas.Series
        One flag of :data:`FLAGS` per row.
    """
    out = []
    for rec in df[["value", "side", "lloq", "uloq", "instrument_flag", "curve", "scale"]].itertuples(
        index=False
    ):
        value, side, lloq, uloq, iflag, curve, scale = rec
        iflag = str(iflag or "")
        finite = value is not None and not (isinstance(value, float) and math.isnan(value))
        if curve == "failed":
            out.append("fit_failed")
            continue
        if curve == "mfi":
            out.append("no_standard_curve" if finite else "missing")
            continue
        if curve == "fitted":
            if side < 0:
                out.append("below_lloq")
            elif side > 0:
                out.append("above_uloq")
            elif not finite:
                out.append("missing")
            elif np.isfinite(lloq) and value < lloq:
                out.append("below_lloq")
            elif np.isfinite(uloq) and value > uloq:
                out.append("above_uloq")
            else:
                out.append("ok")
            continue
        # no curve of ours: the instrument's number and markers decide
        if iflag in ("below_lloq", "below_detection") or (iflag == "oor_low" and scale != "mfi" and finite):
            out.append("below_lloq")
        elif iflag in ("above_uloq", "above_detection") or (
            iflag == "oor_high" and scale != "mfi" and finite
        ):
            out.append("above_uloq")
        elif iflag in ("oor_low", "oor_high"):
            out.append("instrument_oor")
        elif iflag == "missing" or not finite:
            out.append("missing")
        elif np.isfinite(lloq) and value < lloq:
            out.append("below_lloq")
        elif np.isfinite(uloq) and value > uloq:
            out.append("above_uloq")
        elif iflag == "extrapolated":
            out.append("extrapolated")
        else:
            out.append("ok")
    return pd.Series(out, index=df.index, dtype=object)


def substitute(
    value: np.ndarray,
    flag: np.ndarray,
    lloq: np.ndarray,
    uloq: np.ndarray,
    *,
    rule: str,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """Apply the substitution rule; return the values to analyse (NaN = not available/censored).

    Parameters
    ----------
    value, flag, lloq, uloq
        Per value: number, flag, limits (sample concentration).
    rule
        One of :data:`SUBSTITUTIONS`.
    scale
        Per value ``npx`` keeps the NPX below LOD (Olink convention); other scales substitute.

    Raises
    ------
    ValueError
        For an unknown rule.
    """
    if rule not in SUBSTITUTIONS:
        raise ValueError(f"unknown substitution rule {rule!r}; expected one of {', '.join(SUBSTITUTIONS)}")
    value = np.asarray(value, dtype=float).copy()
    flag = np.asarray(flag, dtype=object)
    lloq = np.asarray(lloq, dtype=float)
    uloq = np.asarray(uloq, dtype=float)
    npx = np.asarray(scale, dtype=object) == "npx" if scale is not None else np.zeros(len(value), bool)
    out = value.copy()
    out[np.isin(flag, ["missing", "fit_failed"])] = np.nan
    below = (flag == "below_lloq") & ~npx
    above = (flag == "above_uloq") & ~npx
    oor = (flag == "instrument_oor") & ~npx
    if rule == "censored":
        out[below | above | oor] = np.nan
        return out
    div = 2.0 if rule == "lloq_half" else math.sqrt(2.0)
    out[below] = lloq[below] / div
    out[above] = uloq[above]
    out[oor] = np.nan
    return out
