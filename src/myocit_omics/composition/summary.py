"""Small summaries of the composition tables, for the report section and the dashboard artifact."""

from __future__ import annotations

import pandas as pd

from myocit_omics.composition.plots import _visits


def _passed(df: pd.DataFrame) -> pd.DataFrame:
    if "qc_pass" not in df:
        return df
    ok = df["qc_pass"].astype(str).str.strip().str.lower().isin(["true", "1", "yes"])
    return df[ok.to_numpy()]


def composition_by_visit(table: pd.DataFrame) -> pd.DataFrame:
    """Median (and n) of each cell type's estimate by method and visit, QC-passed samples only."""
    df = _passed(table).assign(estimate=lambda d: pd.to_numeric(d["estimate"], errors="coerce"))
    visits = _visits(df["visit"])
    rows = []
    for (method, ct), g in df.groupby(["method", "cell_type"], sort=False):
        row: dict[str, object] = {"cell_type": ct, "method": method}
        for v in visits:
            gv = g.loc[g["visit"].astype(str) == v, "estimate"].dropna()
            row[f"{v} median"] = round(float(gv.median()), 4) if len(gv) else None
            row[f"{v} n"] = len(gv)
        rows.append(row)
    return pd.DataFrame(rows)


def dose_correlation(table: pd.DataFrame) -> pd.DataFrame:
    """Spearman rho of each cell type's estimate with the prednisone dose of the visit."""
    df = _passed(table).assign(
        estimate=lambda d: pd.to_numeric(d["estimate"], errors="coerce"),
        dose=lambda d: pd.to_numeric(d["prednisone_mg_kg_day"], errors="coerce"),
    )
    rows = []
    for (method, ct), g in df.groupby(["method", "cell_type"], sort=False):
        g = g.dropna(subset=["estimate", "dose"])
        rho = g["estimate"].corr(g["dose"], method="spearman") if len(g) >= 3 else float("nan")
        rows.append({"cell_type": ct, "method": method, "n": len(g), "spearman_rho_with_dose": round(rho, 3)})
    return pd.DataFrame(rows)


def adjusted_beside(
    unadjusted: pd.DataFrame, adjusted: pd.DataFrame, gene_set: str, method: str
) -> pd.DataFrame:
    """Median unadjusted and adjusted score of one gene set and method by visit, side by side."""
    out = []
    for label, df in (("unadjusted", unadjusted), ("composition-adjusted", adjusted)):
        d = _passed(df)
        d = d[(d["gene_set"] == gene_set) & (d["method"] == method)]
        d = d.assign(score=pd.to_numeric(d["score"], errors="coerce"))
        row: dict[str, object] = {"score": label}
        for v in _visits(d["visit"]):
            row[f"{v} median"] = round(float(d.loc[d["visit"].astype(str) == v, "score"].median()), 4)
        out.append(row)
    return pd.DataFrame(out)
