"""Small summary tables of a results tree, shared by the HTML report and the dashboard artifacts.

Each function takes a full results table (docs/contracts.md section 5) and returns a
small DataFrame: per-visit QC counts, IFN scores by visit, a response table, the top
genes and pathways of a contrast. :func:`to_records` turns one into JSON-safe rows
(NaN becomes ``None``) for a Prefect table artifact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.report.tree import sorted_visits, visit_sort_key

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def as_bool(values: pd.Series) -> pd.Series:
    """Return ``values`` as a nullable boolean Series (``True``/``False``/``<NA>``).

    Accepts booleans, 0/1 and the strings true/false/yes/no in any case; anything else is ``<NA>``.
    """
    def conv(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            return pd.NA
        if isinstance(v, bool | np.bool_):
            return bool(v)
        text = str(v).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        return pd.NA

    return values.map(conv).astype("boolean")


def _count_true(values: pd.Series) -> int:
    return int(as_bool(values).fillna(False).sum())


def qc_summary(qc: pd.DataFrame) -> pd.DataFrame:
    """Summarise ``tables/qc_samples.tsv`` per visit, with a final ``all`` row.

    Parameters
    ----------
    qc
        The sample QC table.

    Returns
    -------
    pandas.DataFrame
        visit, samples, passed, failed, median_library_size, median_detected_genes,
        pca_outliers, sex_mismatches, swap_suspects (columns whose source is absent are left out).
    """
    visit = qc["visit"].astype(str) if "visit" in qc else pd.Series(["all"] * len(qc), index=qc.index)
    rows = []
    groups = [(v, qc[visit == v]) for v in sorted_visits(visit)] if "visit" in qc else []
    groups.append(("all", qc))
    for label, sub in groups:
        row: dict[str, Any] = {"visit": label, "samples": len(sub)}
        if "qc_pass" in sub:
            passed = as_bool(sub["qc_pass"])
            row["passed"] = int(passed.fillna(False).sum())
            row["failed"] = int((~passed).fillna(False).sum())
        for src, dst in (("library_size", "median_library_size"),
                         ("detected_genes", "median_detected_genes")):
            if src in sub:
                row[dst] = pd.to_numeric(sub[src], errors="coerce").median()
        for src, dst in (("pca_outlier", "pca_outliers"), ("sex_mismatch", "sex_mismatches"),
                         ("swap_suspect", "swap_suspects")):
            if src in sub:
                row[dst] = _count_true(sub[src])
        rows.append(row)
    return pd.DataFrame(rows)


def qc_failures(qc: pd.DataFrame) -> pd.DataFrame:
    """Return the samples of ``qc_samples.tsv`` that did not pass QC, with the reason."""
    if "qc_pass" not in qc:
        return qc.iloc[0:0]
    failed = ~as_bool(qc["qc_pass"]).fillna(True)
    cols = [c for c in ("sample_id", "patient_id", "visit", "qc_reason") if c in qc]
    return qc.loc[failed.to_numpy(), cols]


def ifn_by_visit(ifn: pd.DataFrame) -> pd.DataFrame:
    """Summarise ``tables/ifn_scores.tsv`` by gene set, method and visit.

    Samples flagged ``qc_pass`` false are left out and counted in ``excluded_qc``.

    Parameters
    ----------
    ifn
        The long IFN score table.

    Returns
    -------
    pandas.DataFrame
        gene_set, method, visit, n, median, q1, q3, positive (count), positive_pct, excluded_qc.
    """
    df = ifn.copy()
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    keep = as_bool(df["qc_pass"]).fillna(True) if "qc_pass" in df else pd.Series(True, index=df.index)
    positive = as_bool(df["positive"]) if "positive" in df else None
    rows = []
    # one split by set and method, in order of first appearance (a set or method that is NA has no row)
    for (gene_set, method), sub_all in df.groupby(["gene_set", "method"], sort=False):
        visit_text = sub_all["visit"].astype(str)
        for visit in sorted_visits(sub_all["visit"]):
            at_visit = sub_all[visit_text == visit]
            sub = at_visit[keep.loc[at_visit.index]]
            scores = sub["score"].dropna()
            row: dict[str, Any] = {
                "gene_set": gene_set, "method": method, "visit": visit, "n": int(scores.size),
                "median": scores.median() if scores.size else np.nan,
                "q1": scores.quantile(0.25) if scores.size else np.nan,
                "q3": scores.quantile(0.75) if scores.size else np.nan,
            }
            if positive is not None:
                pos = positive.loc[sub.index].dropna()
                row["positive"] = int(pos.sum())
                row["positive_pct"] = 100.0 * pos.mean() if pos.size else np.nan
            row["excluded_qc"] = int(len(at_visit) - len(sub))
            rows.append(row)
    return pd.DataFrame(rows)


def ifn_wide(summary: pd.DataFrame) -> pd.DataFrame:
    """Return :func:`ifn_by_visit` as one row per gene set and method, medians (and % positive) by visit."""
    if summary.empty:
        return summary
    rows = []
    for (gene_set, method), g in summary.groupby(["gene_set", "method"], sort=False):
        row: dict[str, Any] = {"gene_set": gene_set, "method": method}
        for r in g.itertuples():
            row[f"{r.visit} median"] = r.median
        if "positive_pct" in g:
            for r in g.itertuples():
                row[f"{r.visit} % pos"] = r.positive_pct
        rows.append(row)
    return pd.DataFrame(rows)


def primary_score(ifn: pd.DataFrame) -> tuple[str, str] | None:
    """Return the ``(gene_set, method)`` listed first in the IFN table (the run's primary score)."""
    if ifn.empty:
        return None
    first = ifn.iloc[0]
    return str(first["gene_set"]), str(first["method"])


def paired_changes(ifn: pd.DataFrame, gene_set: str, method: str) -> pd.DataFrame:
    """Return, per later visit, the median within-patient change of one score from the first visit.

    Parameters
    ----------
    ifn
        The long IFN score table.
    gene_set, method
        Which score.

    Returns
    -------
    pandas.DataFrame
        visit, baseline, n_pairs, median_change, decreased (patients whose score fell).
    """
    sub = ifn[(ifn["gene_set"] == gene_set) & (ifn["method"] == method)].copy()
    if "qc_pass" in sub:
        sub = sub[as_bool(sub["qc_pass"]).fillna(True).to_numpy()]
    sub["score"] = pd.to_numeric(sub["score"], errors="coerce")
    wide = sub.pivot_table(index="patient_id", columns="visit", values="score", aggfunc="mean")
    visits = sorted(wide.columns, key=visit_sort_key)
    rows = []
    if len(visits) >= 2:
        base = visits[0]
        for v in visits[1:]:
            delta = (wide[v] - wide[base]).dropna()
            rows.append({"visit": v, "baseline": base, "n_pairs": int(delta.size),
                         "median_change": delta.median() if delta.size else np.nan,
                         "decreased": int((delta < 0).sum())})
    return pd.DataFrame(rows, columns=["visit", "baseline", "n_pairs", "median_change", "decreased"])


def ifn_markdown(ifn: pd.DataFrame, *, run_id: str) -> str:
    """Return a short Markdown summary of the IFN scores of a run, in words.

    Parameters
    ----------
    ifn
        The long IFN score table.
    run_id
        The run, named in the heading.

    Returns
    -------
    str
        Markdown.
    """
    lines = [f"# IFN scores, run {run_id}", ""]
    primary = primary_score(ifn)
    if primary is None:
        return "\n".join([*lines, "The IFN score table is empty."])
    gene_set, method = primary
    summary = ifn_by_visit(ifn)
    n_scores = summary[["gene_set", "method"]].drop_duplicates().shape[0]
    lines.append(f"{n_scores} score(s) (gene set x method); primary: **{gene_set}**, method **{method}**.")
    lines.append("")
    lines.append("| visit | n | median (IQR) | IFN-positive |")
    lines.append("|---|---|---|---|")
    for r in summary[(summary["gene_set"] == gene_set) & (summary["method"] == method)].itertuples():
        pos = "NA"
        if "positive" in summary and not pd.isna(getattr(r, "positive", np.nan)):
            pos = f"{int(r.positive)}/{r.n}"
        lines.append(f"| {r.visit} | {r.n} | {fmt_number(r.median)} ({fmt_number(r.q1)} to "
                     f"{fmt_number(r.q3)}) | {pos} |")
    changes = paired_changes(ifn, gene_set, method)
    if not changes.empty:
        lines.append("")
        for r in changes.itertuples():
            lines.append(f"* {r.visit} vs {r.baseline}: median within-patient change "
                         f"{fmt_number(r.median_change)} over {r.n_pairs} patient(s); "
                         f"{r.decreased} decreased.")
    excluded = int(summary["excluded_qc"].sum()) if "excluded_qc" in summary else 0
    if excluded:
        lines.append("")
        lines.append(f"{excluded} score(s) of samples that failed QC are left out of these figures.")
    return "\n".join(lines)


def clinical_response(*, response_w24: pd.DataFrame | None, outcomes: pd.DataFrame | None) -> pd.DataFrame:
    """Return one row per patient with the response at week 24 (or at the last visit scored).

    Parameters
    ----------
    response_w24
        ``tables/response_w24.tsv`` if present: returned as is.
    outcomes
        ``tables/clinical_outcomes.tsv``: used when ``response_w24`` is absent.

    Returns
    -------
    pandas.DataFrame
        The per-patient response table (empty when neither table exists).
    """
    if response_w24 is not None:
        return response_w24
    if outcomes is None or outcomes.empty:
        return pd.DataFrame()
    df = outcomes.copy()
    df["_order"] = df["visit"].map(visit_sort_key)
    last = df.sort_values(["patient_id", "_order"]).groupby("patient_id", sort=True).tail(1)
    cols = [c for c in ("patient_id", "visit", "tis", "response", "inactive_disease", "printo_improvement",
                        "missing_measures") if c in last]
    return last[cols].reset_index(drop=True)


def response_counts(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Count patients per visit and response category (none/minimal/moderate/major/NA)."""
    if "response" not in outcomes or "visit" not in outcomes:
        return pd.DataFrame()
    df = outcomes.assign(response=outcomes["response"].fillna("NA").astype(str))
    table = pd.crosstab(df["visit"].astype(str), df["response"])
    cats = [c for c in ("none", "minimal", "moderate", "major", "NA") if c in table.columns]
    cats += [c for c in table.columns if c not in cats]
    table = table[cats].reindex(sorted_visits(table.index))
    return table.reset_index().rename(columns={"index": "visit"})


def _sort_by(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    present = [k for k in keys if k in df]
    if not present:
        return df
    numeric = df.assign(**{f"_k{i}": pd.to_numeric(df[k], errors="coerce") for i, k in enumerate(present)})
    return numeric.sort_values([f"_k{i}" for i in range(len(present))], na_position="last", kind="stable")[
        df.columns]


def de_top(de: pd.DataFrame, n: int) -> pd.DataFrame:
    """Return the ``n`` genes with the smallest adjusted p-value (then p-value) of a DE table."""
    cols = [c for c in ("gene_id", "gene_name", "base_mean", "log2_fc", "log2_fc_shrunk", "p_value", "padj")
            if c in de]
    return _sort_by(de, ["padj", "p_value"]).head(n)[cols].reset_index(drop=True)


def gsea_top(gsea: pd.DataFrame, n: int) -> pd.DataFrame:
    """Return the ``n`` gene sets with the smallest FDR (then p-value) of a GSEA table."""
    cols = [c for c in ("gene_set", "source", "nes", "es", "p_value", "fdr", "n_genes") if c in gsea]
    return _sort_by(gsea, ["fdr", "p_value"]).head(n)[cols].reset_index(drop=True)


def de_counts(de: pd.DataFrame, *, alpha: float = 0.05) -> dict[str, int]:
    """Return genes tested, significant (padj < alpha), up and down in a DE table."""
    padj = pd.to_numeric(de.get("padj", pd.Series(dtype=float)), errors="coerce")
    lfc = pd.to_numeric(de.get("log2_fc", pd.Series(np.nan, index=de.index)), errors="coerce")
    sig = padj < alpha
    return {"genes": len(de), "significant": int(sig.sum()), "up": int((sig & (lfc > 0)).sum()),
            "down": int((sig & (lfc < 0)).sum())}


def fmt_number(value: Any) -> str:
    """Format a number for people: 4 significant digits, small p-values in scientific notation, NA."""
    if value is None or value is pd.NA:
        return "NA"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "NA"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == 0:
            return "0"
        if v.is_integer() and abs(v) < 1e9:
            return str(int(v))
        if abs(v) < 1e-3 or abs(v) >= 1e7:
            return f"{v:.2e}"
        return f"{v:.4g}"
    return str(value)


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v) or math.isinf(v):
            return None
        return float(f"{v:.4g}")
    return str(value)


def to_records(df: pd.DataFrame, *, max_rows: int | None = None) -> list[dict[str, Any]]:
    """Return the rows of ``df`` as JSON-safe dicts (NaN and inf become ``None``; floats 4 digits).

    Parameters
    ----------
    df
        Any table.
    max_rows
        Keep only the first rows.

    Returns
    -------
    list of dict
        One dict per row, keys are the column names.
    """
    if max_rows is not None:
        df = df.head(max_rows)
    return [{str(k): _json_value(v) for k, v in row.items()} for row in df.to_dict(orient="records")]
