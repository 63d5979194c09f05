"""Figures of the composition estimates: by visit, per patient, against the prednisone dose."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from myocit_omics.config import PROTOCOL_VISITS


def _visits(values: pd.Series) -> list[str]:
    present = list(dict.fromkeys(values.astype(str)))
    return [v for v in PROTOCOL_VISITS if v in present] + sorted(
        v for v in present if v not in PROTOCOL_VISITS
    )


def _grid(n: int) -> tuple[Any, np.ndarray]:
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _ylabel(method: str) -> str:
    return "fraction" if method == "nnls" else "log2 ratio to reference"


def by_visit_figure(table: pd.DataFrame, method: str) -> Any:
    """Box plot of each cell type's estimate by visit."""
    df = table[table["method"] == method]
    cts = list(dict.fromkeys(df["cell_type"]))
    visits = _visits(df["visit"])
    fig, axes = _grid(len(cts))
    for ax, ct in zip(axes, cts, strict=False):
        d = df[df["cell_type"] == ct]
        ax.boxplot([d.loc[d["visit"] == v, "estimate"].dropna() for v in visits], tick_labels=visits)
        ax.set_title(ct, fontsize=9)
        ax.set_ylabel(_ylabel(method), fontsize=7)
    fig.suptitle(f"Blood composition by visit ({method})", fontsize=10)
    fig.tight_layout()
    return fig


def per_patient_figure(table: pd.DataFrame, method: str) -> Any:
    """One line per patient across visits, for each cell type."""
    df = table[table["method"] == method]
    cts = list(dict.fromkeys(df["cell_type"]))
    visits = _visits(df["visit"])
    pos = {v: i for i, v in enumerate(visits)}
    fig, axes = _grid(len(cts))
    for ax, ct in zip(axes, cts, strict=False):
        d = df[df["cell_type"] == ct]
        for _, g in d.groupby("patient_id"):
            g = g.assign(x=g["visit"].map(pos)).sort_values("x")
            ax.plot(g["x"], g["estimate"], marker="o", ms=3, lw=0.8, alpha=0.7)
        ax.set_xticks(range(len(visits)), visits)
        ax.set_title(ct, fontsize=9)
        ax.set_ylabel(_ylabel(method), fontsize=7)
    fig.suptitle(f"Blood composition per patient ({method})", fontsize=10)
    fig.tight_layout()
    return fig


def dose_figure(table: pd.DataFrame, method: str) -> Any:
    """Each cell type's estimate against the prednisone dose of the visit (mg/kg/day)."""
    df = table[(table["method"] == method)].dropna(subset=["prednisone_mg_kg_day"])
    cts = list(dict.fromkeys(df["cell_type"]))
    fig, axes = _grid(max(1, len(cts)))
    for ax, ct in zip(axes, cts, strict=False):
        d = df[df["cell_type"] == ct]
        ax.scatter(d["prednisone_mg_kg_day"], d["estimate"], s=10)
        ax.set_title(ct, fontsize=9)
        ax.set_xlabel("prednisone (mg/kg/day)", fontsize=8)
        ax.set_ylabel(_ylabel(method), fontsize=7)
    fig.suptitle(f"Blood composition against the prednisone dose of the visit ({method})", fontsize=10)
    fig.tight_layout()
    return fig
