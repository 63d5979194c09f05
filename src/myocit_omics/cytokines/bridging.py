"""Plate bridging on the log2 scale, as OlinkAnalyze's bridge normalisation does for NPX.

For each analyte, the first plate measuring it (or ``reference`` when given) is the
reference. For every other plate, the adjustment is the median over bridge samples present
on both plates of ``log2(ref) - log2(plate)`` (replicate wells averaged first, on log2); it
is added to every log2 value of that plate (values multiplied by ``2**adj``). Only values
flagged ``ok`` on both plates are paired (a censored value says nothing about the offset).
With fewer than ``min_pairs`` pairs the plate is not adjusted and the QC says so.

Bridge %CV: per bridge sample and analyte, the CV of its (linear) concentration across
plates; the median over bridge samples is reported before and after the adjustment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns of the adjustments table.
ADJUSTMENT_COLUMNS = (
    "analyte",
    "plate_id",
    "reference_plate",
    "adjustment_log2",
    "n_pairs",
    "bridge_cv_before",
    "bridge_cv_after",
    "status",
)


def _bridge_means(df: pd.DataFrame) -> pd.DataFrame:
    """Mean log2 per (analyte, plate, bridge sample), only from ok values."""
    sel = df[(df["role"] == "bridge") & (df["flag"] == "ok") & np.isfinite(df["log2_value"])]
    return sel.groupby(["analyte", "plate_id", "sample_id"], sort=False)["log2_value"].mean().reset_index()


def _cv(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    if len(v) < 2 or np.mean(v) <= 0:
        return float("nan")
    return float(100.0 * np.std(v, ddof=1) / np.mean(v))


def bridge_cv(df: pd.DataFrame, *, npx: bool = False) -> pd.Series:
    """Median across bridge samples of the inter-plate %CV, per analyte (linear scale)."""
    means = _bridge_means(df)
    out = {}
    for analyte, g in means.groupby("analyte", sort=False):
        cvs = [_cv(np.power(2.0, s["log2_value"].to_numpy())) for _, s in g.groupby("sample_id")]
        cvs = [c for c in cvs if np.isfinite(c)]
        out[analyte] = float(np.median(cvs)) if cvs else float("nan")
    del npx
    return pd.Series(out, dtype=float)


def bridge_plates(
    df: pd.DataFrame,
    *,
    reference: str | None = None,
    min_pairs: int = 3,
    plate_order: list[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bridge plates per analyte.

    Parameters
    ----------
    df
        Long table with ``analyte``, ``plate_id``, ``sample_id``, ``role`` (``bridge`` marks
        bridge wells), ``flag``, ``log2_value`` (and optionally ``value``, ``lloq``, ``uloq``).
    reference
        Reference plate id (default: the first plate, in ``plate_order``, measuring the analyte).
    min_pairs
        Fewest bridge samples with ok values on both plates needed to adjust.
    plate_order
        Order of plates (default: order of appearance).

    Returns
    -------
    tuple of pandas.DataFrame
        The adjusted copy of ``df`` (``log2_value`` shifted; ``value``, ``lloq``, ``uloq``
        scaled; a column ``bridge_adjustment_log2``) and the adjustments table
        (:data:`ADJUSTMENT_COLUMNS`).
    """
    out = df.copy()
    out["bridge_adjustment_log2"] = 0.0
    order = plate_order or list(dict.fromkeys(df["plate_id"]))
    means = _bridge_means(df)
    cv_before = bridge_cv(df)
    adj_rows = []
    plates_of = df.groupby("analyte", sort=False)["plate_id"].agg(set).to_dict()
    for analyte in dict.fromkeys(df["analyte"]):
        plates = [p for p in order if p in plates_of[analyte]]
        if len(plates) < 2:
            continue
        ref = reference if reference in plates else plates[0]
        m = means[means["analyte"] == analyte].pivot_table(
            index="sample_id", columns="plate_id", values="log2_value", aggfunc="mean"
        )
        for p in plates:
            if p == ref:
                continue
            if ref in m.columns and p in m.columns:
                d = (m[ref] - m[p]).dropna()
            else:
                d = pd.Series(dtype=float)
            if len(d) >= min_pairs:
                adj, status = float(np.median(d)), "bridged"
            else:
                adj, status = 0.0, f"not bridged: {len(d)} bridge pair(s) with ok values, {min_pairs} needed"
            sel = (out["analyte"] == analyte) & (out["plate_id"] == p)
            out.loc[sel, "bridge_adjustment_log2"] = adj
            out.loc[sel, "log2_value"] = out.loc[sel, "log2_value"] + adj
            npx = out["scale"].eq("npx") if "scale" in out.columns else pd.Series(False, index=out.index)
            for col in ("value", "lloq", "uloq", "value_used"):
                if col in out.columns:
                    out.loc[sel & ~npx, col] = out.loc[sel & ~npx, col] * 2.0**adj
                    out.loc[sel & npx, col] = out.loc[sel & npx, col] + adj
            adj_rows.append(
                {
                    "analyte": analyte,
                    "plate_id": p,
                    "reference_plate": ref,
                    "adjustment_log2": adj,
                    "n_pairs": len(d),
                    "bridge_cv_before": float(cv_before.get(analyte, np.nan)),
                    "status": status,
                }
            )
    cv_after = bridge_cv(out)
    adj = pd.DataFrame(adj_rows, columns=[c for c in ADJUSTMENT_COLUMNS if c != "bridge_cv_after"])
    adj["bridge_cv_after"] = [float(cv_after.get(a, np.nan)) for a in adj["analyte"]]
    return out, adj[list(ADJUSTMENT_COLUMNS)]
