"""Figures of the clinical outcomes: TIS waterfall and per-patient trajectories by response."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from myocit_omics.clinical.core_set import visit_week

#: Colour of each response category (NA = grey).
RESPONSE_COLOURS = {"major": "#1b7837", "moderate": "#7fbf7b", "minimal": "#fdb863", "none": "#b2182b",
                    "NA": "#999999"}


def tis_waterfall(response: pd.DataFrame, *, thresholds: tuple[float, ...] = (30, 45, 70),
                  title: str = "Total Improvement Score at W24") -> Figure:
    """Bar per patient of the TIS, sorted, coloured by response; NA patients shown as labelled gaps.

    Parameters
    ----------
    response
        ``patient_id``, ``tis_w24``, ``response_w24``.
    thresholds
        Response cut-offs drawn as lines.
    title
        Figure title.

    Returns
    -------
    Figure
        The figure.
    """
    df = response.copy()
    df["_sort"] = df["tis_w24"].fillna(-math.inf)
    df = df.sort_values("_sort", ascending=False)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(df) + 1.5), 3.6))
    x = np.arange(len(df))
    colours = [RESPONSE_COLOURS.get(str(r) if r is not None and not pd.isna(r) else "NA", "#999999")
               for r in df["response_w24"]]
    heights = df["tis_w24"].fillna(0).to_numpy()
    ax.bar(x, heights, color=colours)
    for xi, v in zip(x, df["tis_w24"], strict=True):
        if pd.isna(v):
            ax.text(xi, 1, "NA", ha="center", va="bottom", fontsize=7, rotation=90)
    for t in thresholds:
        ax.axhline(t, color="#444444", lw=0.7, ls="--")
    ax.set_xticks(x, df["patient_id"], rotation=90, fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_ylabel("TIS (0-100)")
    ax.set_title(title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in RESPONSE_COLOURS.values()]
    ax.legend(handles, list(RESPONSE_COLOURS), fontsize=7, frameon=False, loc="upper right")
    return fig


def trajectories(values: pd.DataFrame, *, value: str, response: pd.DataFrame, ylabel: str,
                 title: str) -> Figure:
    """Per-patient lines of a value over visit weeks, coloured by the W24 response.

    Parameters
    ----------
    values
        ``patient_id``, ``visit`` and the ``value`` column (NaN values leave gaps).
    value
        Column to plot.
    response
        ``patient_id``, ``response_w24``.
    ylabel, title
        Labels.

    Returns
    -------
    Figure
        The figure.
    """
    resp = dict(zip(response["patient_id"], response["response_w24"], strict=True))
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    seen = set()
    for pid, sub in values.groupby("patient_id", sort=True):
        sub = sub.assign(_week=sub["visit"].map(visit_week)).dropna(subset=["_week"]).sort_values("_week")
        r = resp.get(pid)
        key = str(r) if r is not None and not pd.isna(r) else "NA"
        ax.plot(sub["_week"], sub[value].astype(float), marker="o", ms=3, lw=1,
                color=RESPONSE_COLOURS.get(key, "#999999"), label=None if key in seen else key)
        seen.add(key)
    ax.set_xlabel("week")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if seen:
        ax.legend(fontsize=7, frameon=False, title="W24 response", title_fontsize=7)
    return fig
