"""Figures of the cytokine step: standard curves per plate (analyte grid), bridging before/after."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from myocit_omics.results import save_figure


def _lg(v: object) -> np.ndarray:
    """Return log10 of positive values, NaN elsewhere (log axes are slow to draw; log values are not)."""
    a = np.asarray(v, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, np.log10(np.where(a > 0, a, 1.0)), np.nan)


def plot_standard_curves(result: Any, plate: str, path: Path) -> Path:
    """One panel per analyte of ``plate``: standards, fitted curve, LLOQ/ULOQ, samples on the curve.

    Parameters
    ----------
    result
        A :class:`~myocit_omics.cytokines.pipeline.CytokineResult`.
    plate
        Plate id.
    path
        PNG to write (atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fits = {a: f for (p, a), f in result.fits.items() if p == plate}
    series = {(r["plate_id"], r["analyte"]): r for r in getattr(result, "series", [])}
    names = list(fits)
    ncol = min(6, max(1, len(names)))
    nrow = math.ceil(len(names) / ncol) or 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.3 * nrow), squeeze=False)
    w = result.work
    for k, ax in enumerate(axes.flat):
        if k >= len(names):
            ax.axis("off")
            continue
        a = names[k]
        fit = fits[a]
        g = w[(w["plate_id"] == plate) & (w["analyte"] == a)]
        std = g[(g["role"] == "standard") & g["expected_conc"].notna()]
        rec = series.get((plate, a), {})
        fixed = {s: v[1] for s, v in rec.get("repaired", {}).items()}
        left_out = std["sample"].isin(list(rec.get("excluded", {})))
        # repaired standards where the curve used them (open marker), left-out ones not drawn on the axis
        conc = std["sample"].map(fixed).fillna(std["expected_conc"])
        used = std[~left_out]
        is_fixed = used["sample"].isin(list(fixed)).to_numpy()
        ax.scatter(
            _lg(conc[~left_out][~is_fixed]), _lg(used["signal"][~is_fixed]), s=10, color="black", zorder=3
        )
        if is_fixed.any():
            ax.scatter(
                _lg(conc[~left_out][is_fixed]),
                _lg(used["signal"][is_fixed]),
                s=22,
                facecolors="none",
                edgecolors="tab:purple",
                zorder=4,
            )
        std = used.assign(expected_conc=conc[~left_out])
        if np.all(np.isfinite(list(fit.params.values()))) and len(std):
            lo, hi = std["expected_conc"].min() / 4, std["expected_conc"].max() * 4
            xs = np.geomspace(lo, hi, 60)
            ax.plot(_lg(xs), _lg(fit.predict(xs)), color="tab:blue" if fit.ok else "tab:red", lw=1.2)
        smp = g[g["role"].isin(["sample", "bridge"]) & np.isfinite(g["value"])]
        if len(smp):
            dil = np.where(np.isfinite(smp["dilution_factor"]), smp["dilution_factor"], 1.0)
            adj = 2.0 ** smp.get("bridge_adjustment_log2", 0.0)  # back to the plate's own scale
            ax.scatter(
                _lg(smp["value"] / adj / dil),
                _lg(smp["signal"]),
                s=5,
                color="tab:orange",
                alpha=0.6,
                zorder=2,
            )
        for lim in (fit.lloq, fit.uloq):
            if np.isfinite(lim):
                ax.axvline(np.log10(lim), color="grey", ls="--", lw=0.8)
        note = ""
        if fixed:
            note = f" ({', '.join(fixed)} repaired)"
        elif rec.get("excluded"):
            note = f" ({', '.join(rec['excluded'])} left out)"
        ax.set_title(
            f"{a} {fit.model}" + ("" if fit.ok else " FAILED") + note,
            fontsize=8,
            color="black" if fit.ok else "tab:red",
            y=1.0,  # where matplotlib puts it anyway (no ticks on top), without measuring every panel first
        )
        ax.tick_params(labelsize=6)
        ax.locator_params(nbins=5)  # fewer ticks to make and draw in a grid of small panels
    fig.suptitle(
        f"Standard curves, plate {plate}: log10 signal vs log10 concentration "
        "(black standards, purple circles repaired standards, orange samples, dashed LLOQ/ULOQ)",
        fontsize=9,
    )
    fig.subplots_adjust(hspace=0.5, wspace=0.35)
    return save_figure(fig, path, dpi=80)


def plot_bridging(result: Any, path: Path) -> Path:
    """Bridge samples: log2 on each plate vs the reference plate, before and after bridging."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = result.work
    adj = result.adjustments
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), squeeze=False)
    br = w[(w["role"] == "bridge") & (w["flag"] == "ok")]
    for _, row in adj.iterrows():
        a, p, ref = row["analyte"], row["plate_id"], row["reference_plate"]
        ga = br[br["analyte"] == a]
        r = ga[ga["plate_id"] == ref].groupby("sample_id")["log2_value"].mean()
        o = ga[ga["plate_id"] == p].groupby("sample_id")["log2_value"].mean()
        both = r.index.intersection(o.index)
        if len(both) == 0:
            continue
        after = o.loc[both]
        before = after - row["adjustment_log2"]
        axes[0, 0].scatter(r.loc[both], before, s=8)
        axes[0, 1].scatter(r.loc[both], after, s=8)
    for ax, title in zip(axes.flat, ("before bridging", "after bridging"), strict=True):
        lims = ax.get_xlim()
        ax.plot(lims, lims, color="grey", lw=0.8)
        ax.set_xlabel("log2 on the reference plate")
        ax.set_ylabel("log2 on the bridged plate")
        ax.set_title(title, fontsize=9)
    fig.suptitle("Bridge samples (one colour per analyte and plate)", fontsize=9)
    fig.subplots_adjust(wspace=0.3)
    return save_figure(fig, path, dpi=80)
