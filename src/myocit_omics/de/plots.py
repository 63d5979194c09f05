"""Volcano and MA plots of one DE result (matplotlib, saved atomically)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from myocit_omics.results import save_figure

_UP, _DOWN, _NS = "#b2182b", "#2166ac", "#bdbdbd"


def _colours(results: pd.DataFrame, alpha: float) -> np.ndarray:
    sig = results["padj"].to_numpy(float) < alpha
    lfc = results["log2_fc"].to_numpy(float)
    return np.where(sig & (lfc > 0), _UP, np.where(sig & (lfc < 0), _DOWN, _NS))


def _scatter_by_colour(ax: object, x: np.ndarray, y: np.ndarray, colours: np.ndarray) -> None:
    """Draw one marker line per colour (not significant first, so the significant genes lie on top).

    A marker line is stamped by Agg from one cached marker image, where a scatter of 18,000
    individually coloured points converts every colour and draws every path; it looks the same
    (markers of area 6 pt^2, no edge).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    for colour in (_NS, _DOWN, _UP):
        sel = colours == colour
        if sel.any():
            ax.plot(x[sel], y[sel], ls="", marker="o", markersize=np.sqrt(6), markeredgewidth=0,
                    color=colour, rasterized=True)


def _label_top(ax: object, results: pd.DataFrame, x: pd.Series, y: pd.Series, n: int,
               highlight: Iterable[str]) -> None:
    ranked = results.assign(_x=x, _y=y).dropna(subset=["_x", "_y", "padj"]).sort_values("padj")
    names = list(ranked["gene_name"].astype(str).head(n))
    extra = [g for g in highlight if g in set(ranked["gene_name"].astype(str))]
    for g in dict.fromkeys(names + extra):
        row = ranked[ranked["gene_name"].astype(str) == g].iloc[0]
        ax.annotate(g, (row["_x"], row["_y"]), fontsize=7, xytext=(3, 3), textcoords="offset points")


def volcano_plot(
    results: pd.DataFrame,
    path: str | Path,
    *,
    title: str,
    alpha: float = 0.05,
    n_labels: int = 10,
    highlight: Iterable[str] = (),
) -> Path:
    """Draw log2 fold change against -log10 p-value; significant genes coloured by direction.

    Parameters
    ----------
    results
        A DE table (project schema).
    path
        Output image.
    title
        Plot title (the contrast).
    alpha
        ``padj`` threshold for colouring.
    n_labels
        Label this many genes with the smallest ``padj``.
    highlight
        Gene symbols to label as well (e.g. the IFN genes).

    Returns
    -------
    Path
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 5))  # no pyplot: no global figure registry, no backend switch
    ax = fig.subplots()
    p = results["p_value"].astype(float).clip(lower=np.finfo(float).tiny)
    y = -np.log10(p)
    x = results["log2_fc"].astype(float)
    _scatter_by_colour(ax, x, y, _colours(results, alpha))
    n_up = int(((results["padj"] < alpha) & (x > 0)).sum())
    n_down = int(((results["padj"] < alpha) & (x < 0)).sum())
    _label_top(ax, results, x, y, n_labels, highlight)
    ax.axvline(0, color="black", lw=0.5)
    ax.set_xlabel("log2 fold change")
    ax.set_ylabel("-log10 p-value")
    ax.set_title(f"{title}: {n_up} up, {n_down} down (padj < {alpha:g})")
    return save_figure(fig, path)


def ma_plot(results: pd.DataFrame, path: str | Path, *, title: str, alpha: float = 0.05) -> Path:
    """Draw mean expression (log10 base mean) against log2 fold change.

    Parameters
    ----------
    results
        A DE table (project schema).
    path
        Output image.
    title
        Plot title (the contrast).
    alpha
        ``padj`` threshold for colouring.

    Returns
    -------
    Path
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    keep = results["base_mean"].astype(float) > 0
    res = results[keep]
    _scatter_by_colour(ax, np.log10(res["base_mean"].astype(float)), res["log2_fc"].astype(float),
                       _colours(res, alpha))
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xlabel("log10 mean of normalised counts")
    ax.set_ylabel("log2 fold change")
    ax.set_title(title)
    return save_figure(fig, path)
