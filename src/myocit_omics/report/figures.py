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
from myocit_omics.results import draw_once

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


def _png(fig: Figure, *, tight_bbox: bool = False) -> str:
    """PNG of a figure as a ``data:`` URI.

    The figures here are laid out by ``tight_layout()``, so one draw at the figure's own size
    is enough; ``tight_bbox`` (a second draw, to measure) only where labels may outgrow the figure.
    """
    buf = io.BytesIO()
    draw_once(fig)
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight" if tight_bbox else None)
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


def gsea_nes_figure(gsea: dict[str, pd.DataFrame], *, ifn_sets: tuple[str, ...] = (), n_top: int = 12,
                    fdr_level: float = 0.05) -> EmbeddedFigure | None:
    """One dot plot of GSEA across contrasts: NES by colour, -log10 FDR by size, FDR < level ringed.

    Rows are the IFN sets that were tested, then the other sets with the smallest FDR in any
    contrast (up to ``n_top`` rows in all); columns are the contrasts.

    Parameters
    ----------
    gsea
        Contrast -> GSEA table (``gene_set``, ``nes``, ``fdr``).
    ifn_sets
        Names of the project's IFN sets (shown first when tested).
    n_top
        Rows at most.
    fdr_level
        Sets below this FDR get a black ring.

    Returns
    -------
    EmbeddedFigure or None
        None when no table has a set.
    """
    frames = []
    for contrast, table in gsea.items():
        if {"gene_set", "nes", "fdr"} <= set(table.columns) and not table.empty:
            frames.append(pd.DataFrame({"contrast": contrast, "gene_set": table["gene_set"].astype(str),
                                        "nes": pd.to_numeric(table["nes"], errors="coerce"),
                                        "fdr": pd.to_numeric(table["fdr"], errors="coerce")}))
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True).dropna(subset=["nes"])
    if df.empty:
        return None
    contrasts = list(dict.fromkeys(df["contrast"]))
    tested = set(df["gene_set"])
    rows = [s for s in ifn_sets if s in tested][:n_top]
    best = df[~df["gene_set"].isin(rows)].groupby("gene_set")["fdr"].min().sort_values(kind="mergesort")
    rows += list(best.index[: max(0, n_top - len(rows))])
    sub = df[df["gene_set"].isin(rows)]
    ypos = {s: i for i, s in enumerate(rows)}
    xpos = {c: i for i, c in enumerate(contrasts)}
    x = sub["contrast"].map(xpos).to_numpy(float)
    y = sub["gene_set"].map(ypos).to_numpy(float)
    fdr = sub["fdr"].fillna(1.0).clip(lower=1e-10).to_numpy(float)
    size = 20 + 40 * np.minimum(-np.log10(fdr), 6)
    lim = max(1.0, float(np.nanmax(np.abs(sub["nes"]))))
    fig = Figure(figsize=(2.2 + 0.9 * len(contrasts), 1.2 + 0.26 * len(rows)))  # labels widen it (tight bbox)
    ax = fig.subplots()
    pts = ax.scatter(x, y, c=sub["nes"].to_numpy(float), s=size, cmap="RdBu_r", vmin=-lim, vmax=lim,
                     edgecolors=np.where(fdr < fdr_level, "black", "none"), linewidths=1.0)
    ax.set_xticks(range(len(contrasts)), [c.replace("_x_", " x ").replace("_vs_", " vs ") for c in contrasts],
                  rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlim(-0.6, len(contrasts) - 0.4)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(True, color="#eeeeee", lw=0.5)
    ax.set_axisbelow(True)
    bar = fig.colorbar(pts, ax=ax, shrink=0.8, pad=0.02)
    bar.set_label("NES", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.tight_layout()
    return EmbeddedFigure(
        caption=f"GSEA across contrasts: IFN sets and the sets with the smallest FDR (colour: NES; dot size: "
                f"-log10 FDR; ringed: FDR < {fdr_level:g})", uri=_png(fig, tight_bbox=True),
        source="tables/gsea/")
