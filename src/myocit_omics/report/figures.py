"""Figures of the report: the run's own plots embedded, and IFN figures drawn from the tables.

Every figure ends up in the HTML as a ``data:`` URI (base64), so the report is one
file that opens with no network.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from myocit_omics.report.summaries import as_bool
from myocit_omics.report.tree import sorted_visits

_MIME = {".png": "image/png", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class EmbeddedFigure:
    """A figure ready for the HTML: a caption and a ``data:`` URI."""

    caption: str
    uri: str
    source: str = ""


def data_uri(data: bytes, mime: str) -> str:
    """Return ``data:<mime>;base64,...`` for ``data``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def embed_file(path: Path, *, root: Path) -> EmbeddedFigure:
    """Embed an image file of the results tree; its caption is its path below ``plots/``.

    Parameters
    ----------
    path
        A ``.png`` or ``.svg`` file.
    root
        The run folder (for the relative path shown under the figure).

    Returns
    -------
    EmbeddedFigure
        The figure.
    """
    rel = path.relative_to(root).as_posix()
    caption = path.stem.replace("_", " ")
    return EmbeddedFigure(caption=caption, uri=data_uri(path.read_bytes(), _MIME[path.suffix.lower()]),
                          source=rel)


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return data_uri(buf.getvalue(), "image/png")


def _scores(ifn: pd.DataFrame) -> pd.DataFrame:
    df = ifn.copy()
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    if "qc_pass" in df:
        df = df[as_bool(df["qc_pass"]).fillna(True).to_numpy()]
    return df.dropna(subset=["score"])


def ifn_distribution_figure(ifn: pd.DataFrame, *, by: str = "gene_set",
                            max_panels: int = 12) -> EmbeddedFigure | None:
    """Box plots (with the samples as points) of IFN scores by visit, one panel per score.

    Parameters
    ----------
    ifn
        The long IFN score table; QC-failed samples are left out.
    by
        ``gene_set``: every gene set scored with the primary (first) method;
        ``method``: the primary (first) gene set scored with every method.
    max_panels
        At most this many panels (in table order).

    Returns
    -------
    EmbeddedFigure or None
        None when there is no score to draw.
    """
    df = _scores(ifn)
    if df.empty:
        return None
    first_set, first_method = str(df["gene_set"].iloc[0]), str(df["method"].iloc[0])
    if by == "method":
        df = df[df["gene_set"] == first_set]
        caption = f"{first_set} by visit, every scoring method"
    else:
        df = df[df["method"] == first_method]
        caption = f"IFN scores by visit, every gene set ({first_method})"
    pairs = df[["gene_set", "method"]].drop_duplicates()
    combos = list(pairs.itertuples(index=False, name=None))[:max_panels]
    ncol = min(3, len(combos))
    nrow = int(np.ceil(len(combos) / ncol))
    fig = Figure(figsize=(4.2 * ncol, 3.2 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (gene_set, method) in zip(axes.flat, combos, strict=False):
        sub = df[(df["gene_set"] == gene_set) & (df["method"] == method)]
        visits = sorted_visits(sub["visit"])
        data = [sub.loc[sub["visit"].astype(str) == v, "score"].to_numpy() for v in visits]
        ax.boxplot(data, showfliers=False, widths=0.5)
        ax.set_xticks(range(1, len(visits) + 1), visits)
        for i, values in enumerate(data, start=1):
            jitter = rng.uniform(-0.12, 0.12, size=values.size)
            ax.scatter(i + jitter, values, s=12, alpha=0.7, color="#1f5f8b")
        ax.set_title(f"{gene_set}\n{method}", fontsize=9)
        ax.set_ylabel("score")
    for ax in list(axes.flat)[len(combos):]:
        ax.set_visible(False)
    fig.tight_layout()
    return EmbeddedFigure(caption=f"{caption} (box: median and IQR; points: samples)", uri=_png(fig),
                          source="tables/ifn_scores.tsv")


def ifn_trajectory_figure(ifn: pd.DataFrame, *, max_panels: int = 12) -> EmbeddedFigure | None:
    """Per-patient trajectories of the IFN scores over the visits (one line per patient).

    Draws the first method of the table for up to ``max_panels`` gene sets.

    Parameters
    ----------
    ifn
        The long IFN score table; QC-failed samples are left out.
    max_panels
        At most this many gene sets.

    Returns
    -------
    EmbeddedFigure or None
        None when there is no score or no patient column.
    """
    df = _scores(ifn)
    if df.empty or "patient_id" not in df:
        return None
    method = str(df["method"].iloc[0])
    df = df[df["method"] == method]
    gene_sets = list(dict.fromkeys(df["gene_set"]))[:max_panels]
    visits = sorted_visits(df["visit"])
    pos = {v: i for i, v in enumerate(visits)}
    ncol = min(3, len(gene_sets))
    nrow = int(np.ceil(len(gene_sets) / ncol))
    fig = Figure(figsize=(4.2 * ncol, 3.2 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for ax, gene_set in zip(axes.flat, gene_sets, strict=False):
        sub = df[df["gene_set"] == gene_set]
        for _patient, g in sub.groupby("patient_id", sort=True):
            g = g.assign(_x=g["visit"].astype(str).map(pos)).sort_values("_x")
            ax.plot(g["_x"], g["score"], marker="o", markersize=3, linewidth=1, alpha=0.7)
        ax.set_xticks(range(len(visits)), visits)
        ax.set_title(f"{gene_set}\n{method}", fontsize=9)
        ax.set_ylabel("score")
    for ax in list(axes.flat)[len(gene_sets):]:
        ax.set_visible(False)
    fig.tight_layout()
    return EmbeddedFigure(caption=f"Per-patient IFN score trajectories ({method}; one line per patient)",
                          uri=_png(fig), source="tables/ifn_scores.tsv")
