"""Figures linking the omics to the clinic: trajectories, change-vs-change scatter, ROC curves."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from myocit_omics.clinical.core_set import visit_week
from myocit_omics.clinical.plots import RESPONSE_COLOURS


def _colour(response: dict[str, object], pid: str) -> tuple[str, str]:
    r = response.get(pid)
    key = str(r) if r is not None and not (isinstance(r, float) and math.isnan(r)) else "NA"
    return key, RESPONSE_COLOURS.get(key, "#999999")


def trajectory_panels(panels: list[tuple[str, pd.DataFrame]], response: dict[str, object]) -> Figure:
    """Per-patient trajectories over visit weeks, one panel per value, coloured by W24 response.

    Parameters
    ----------
    panels
        ``(title, table)`` with columns patient_id, visit, value.
    response
        patient_id -> W24 response category.

    Returns
    -------
    Figure
        The figure.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (title, df) in zip(axes[0], panels, strict=True):
        seen = set()
        for pid, sub in df.groupby("patient_id", sort=True):
            sub = sub.assign(_w=sub["visit"].map(visit_week)).dropna(subset=["_w"]).sort_values("_w")
            key, colour = _colour(response, str(pid))
            ax.plot(sub["_w"], sub["value"].astype(float), marker="o", ms=3, lw=1, color=colour,
                    label=None if key in seen else key)
            seen.add(key)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("week")
        if seen:
            ax.legend(fontsize=6, frameon=False, title="W24 response", title_fontsize=6)
    fig.tight_layout()
    return fig


def change_scatter(panels: list[tuple[str, pd.DataFrame, float, float]],
                   response: dict[str, object]) -> Figure:
    """Scatter of biomarker change against clinical change, the Spearman rho in each title.

    Parameters
    ----------
    panels
        ``(title, table with patient_id, x, y, rho, q)``.
    response
        patient_id -> W24 response category.

    Returns
    -------
    Figure
        The figure.
    """
    ncol = min(4, max(1, len(panels)))
    nrow = math.ceil(len(panels) / ncol) if panels else 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 3.0 * nrow), squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    for ax, (title, df, rho, q) in zip(axes.ravel(), panels, strict=False):
        colours = [_colour(response, str(p))[1] for p in df["patient_id"]]
        ax.scatter(df["x"], df["y"], c=colours, s=18)
        ax.axhline(0, color="#cccccc", lw=0.6)
        ax.axvline(0, color="#cccccc", lw=0.6)
        rho_text = "NA" if math.isnan(rho) else f"{rho:.2f}"
        q_text = "NA" if math.isnan(q) else f"{q:.2g}"
        ax.set_title(f"{title}\nSpearman rho = {rho_text}, q = {q_text}", fontsize=8)
        if " vs " in title:
            xlab, ylab = title.split(": ", 1)[-1].split(" vs ", 1)
            ax.set_xlabel(xlab, fontsize=7)
            ax.set_ylabel(ylab, fontsize=7)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def roc_curves(curves: list[tuple[str, np.ndarray, np.ndarray, float]], *, title: str,
               max_curves: int = 8) -> Figure:
    """ROC curves (higher value = positive) with the AUC in the legend.

    Parameters
    ----------
    curves
        ``(label, score, label01, auc)``.
    title
        Figure title.
    max_curves
        At most this many curves, those with the AUC furthest from 0.5 (the title says so).

    Returns
    -------
    Figure
        The figure.
    """
    fig, ax = plt.subplots(figsize=(4.4, 4.2))
    if len(curves) > max_curves:
        title = f"{title}\n({max_curves} of {len(curves)}: AUC furthest from 0.5)"
        curves = sorted(curves, key=lambda c: -abs(c[3] - 0.5))[:max_curves]
    for name, score, lab, auc in curves:
        keep = np.isfinite(score)
        s, y = score[keep], lab[keep]
        if y.sum() == 0 or (1 - y).sum() == 0:
            continue
        thresholds = np.r_[np.inf, np.sort(np.unique(s))[::-1]]
        tpr = [float(np.mean(s[y == 1] >= t)) for t in thresholds]
        fpr = [float(np.mean(s[y == 0] >= t)) for t in thresholds]
        ax.plot(fpr, tpr, lw=1.2, label=f"{name} (AUC {auc:.2f})")
    ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.7, ls="--")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, frameon=False, loc="lower right")
    return fig
