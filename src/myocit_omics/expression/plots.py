"""Figures of the expression step: QC metrics, PCA, sex check, IFN scores by visit and per patient.

Each function takes tables (or arrays) and returns a matplotlib figure; the pipeline saves them
with :func:`myocit_omics.results.save_figure` (atomic). No figure is needed to compute anything.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import LogFormatter

from myocit_omics.config import PROTOCOL_VISITS

PASS_COLOURS = {True: "#4C72B0", False: "#C44E52"}


def _visit_order(visits: pd.Series) -> list[str]:
    seen = [str(v) for v in pd.unique(visits.astype(str))]
    known = [v for v in PROTOCOL_VISITS if v in seen]
    return known + sorted(v for v in seen if v not in known)


def qc_metrics_figure(qc: pd.DataFrame, *, min_library_size: float) -> Any:
    """Bar charts of library size, detected genes and top-gene share per sample, failed samples in red."""
    fig, axes = plt.subplots(3, 1, figsize=(max(6, 0.22 * len(qc)), 8), sharex=True)
    colours = [PASS_COLOURS[bool(p)] for p in qc["qc_pass"]]
    x = np.arange(len(qc))
    for ax, col, label in zip(
        axes,
        ("library_size", "detected_genes", "top_share"),
        ("library size (reads)", "detected genes", "share in top genes"),
        strict=True,
    ):
        ax.bar(x, qc[col].astype(float), color=colours)
        ax.set_ylabel(label)
    axes[0].axhline(min_library_size, ls="--", color="grey", lw=1)
    axes[0].set_yscale("log")
    # plain labels (1e+05): the default $10^{5}$ labels need mathtext, whose parser costs a second
    axes[0].yaxis.set_major_formatter(LogFormatter())
    axes[0].yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    axes[-1].set_xticks(x)
    axes[-1].set_xticklabels(qc["sample_id"], rotation=90, fontsize=6)
    axes[0].set_title("Sample QC (red: excluded by the QC rule)")
    fig.tight_layout()
    return fig


def pca_figure(pcs: np.ndarray, ratio: np.ndarray, qc: pd.DataFrame, *, colour_by: str) -> Any:
    """PC1 vs PC2 coloured by a column of the QC table (``seq_batch`` or ``visit``); outliers ringed."""
    fig, ax = plt.subplots(figsize=(6, 5))
    groups = qc[colour_by].astype(str)
    order = _visit_order(groups) if colour_by == "visit" else sorted(groups.unique())
    cmap = plt.get_cmap("tab10")
    y = pcs[:, 1] if pcs.shape[1] > 1 else np.zeros(len(pcs))
    for i, g in enumerate(order):
        mask = (groups == g).to_numpy()
        ax.scatter(pcs[mask, 0], y[mask], color=cmap(i % 10), label=g, s=30)
    out = qc["pca_outlier"].to_numpy(dtype=bool) | ~qc["qc_pass"].to_numpy(dtype=bool)
    ax.scatter(pcs[out, 0], y[out], facecolors="none", edgecolors="black", s=90, label="outlier / excluded")
    for i in np.flatnonzero(out):
        ax.annotate(str(qc["sample_id"].iat[i]), (pcs[i, 0], y[i]), fontsize=6)
    ax.set_xlabel(f"PC1 ({ratio[0]:.0%})")
    if len(ratio) > 1:
        ax.set_ylabel(f"PC2 ({ratio[1]:.0%})")
    ax.set_title(f"PCA of log-CPM, coloured by {colour_by}")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def sex_check_figure(qc: pd.DataFrame) -> Any:
    """Sex score (mean chrY log-CPM minus XIST) per sample, by recorded sex; mismatches labelled."""
    fig, ax = plt.subplots(figsize=(max(6, 0.2 * len(qc)), 4))
    x = np.arange(len(qc))
    colours = qc["sex_recorded"].astype(str).map({"F": "#DD8452", "M": "#4C72B0"}).fillna("grey")
    ax.bar(x, qc["sex_score"].astype(float).fillna(0.0), color=colours)
    ax.axhline(0, color="black", lw=0.8)
    for i in np.flatnonzero(qc["sex_mismatch"].to_numpy(dtype=bool)):
        ax.annotate("mismatch", (x[i], float(qc["sex_score"].iat[i])), fontsize=7, color="red", ha="center")
    ax.set_xticks(x)
    ax.set_xticklabels(qc["sample_id"], rotation=90, fontsize=6)
    ax.set_ylabel("chrY genes - XIST (log2 CPM)")
    ax.set_title("Sex check (orange: recorded F, blue: recorded M; > 0 predicts male)")
    fig.tight_layout()
    return fig


def ifn_by_visit_figure(scores: pd.DataFrame, *, label: str) -> Any:
    """One panel per method: the set's scores by visit (QC-passed samples), threshold line."""
    d = scores[(scores["label"] == label) & scores["qc_pass"].astype(bool)]
    methods = list(pd.unique(d["method"]))
    fig, axes = plt.subplots(
        1, max(1, len(methods)), figsize=(3.2 * max(1, len(methods)), 3.6), squeeze=False
    )
    order = _visit_order(d["visit"]) if len(d) else []
    for ax, method in zip(axes[0], methods, strict=False):
        dm = d[d["method"] == method]
        data = [dm.loc[dm["visit"].astype(str) == v, "score"].to_numpy(dtype=float) for v in order]
        ax.boxplot(data, tick_labels=order, showfliers=False)
        for i, vals in enumerate(data, start=1):
            ax.scatter(np.full(len(vals), i) + np.linspace(-0.1, 0.1, len(vals)), vals, s=10, color="#4C72B0")
        ax.set_title(method, fontsize=9)
    fig.suptitle(
        f"IFN score {label} by visit (reference: {d['reference'].iat[0] if len(d) else 'NA'})", fontsize=10
    )
    fig.tight_layout()
    return fig


def ifn_trajectories_figure(scores: pd.DataFrame, *, label: str) -> Any:
    """One panel per method: each patient's score across visits (QC-passed samples)."""
    d = scores[(scores["label"] == label) & scores["qc_pass"].astype(bool)]
    methods = list(pd.unique(d["method"]))
    fig, axes = plt.subplots(
        1, max(1, len(methods)), figsize=(3.2 * max(1, len(methods)), 3.6), squeeze=False
    )
    order = _visit_order(d["visit"]) if len(d) else []
    pos = {v: i for i, v in enumerate(order)}
    for ax, method in zip(axes[0], methods, strict=False):
        dm = d[d["method"] == method]
        for _pid, dp in dm.groupby("patient_id", observed=True):
            dp = dp.assign(_x=dp["visit"].astype(str).map(pos)).sort_values("_x")
            ax.plot(dp["_x"], dp["score"], marker="o", ms=3, lw=1, alpha=0.7)
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels(order)
        ax.set_title(method, fontsize=9)
    fig.suptitle(f"IFN score {label}: per-patient trajectories", fontsize=10)
    fig.tight_layout()
    return fig
