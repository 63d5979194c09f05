"""Benchmark: read and fit a 96-well, 30-plex xPONENT plate.

Generates the plate (seeded), then times, in the same run:

* baseline 1: reading alone (``read_export``),
* baseline 2: numpy polyfit (cubic on log-log) of every analyte's standards and its back-calculation
  by interpolation, the cheapest curve a spreadsheet would use,
* the work: ``process_exports`` (read + weighted 4PL/5PL fits with AICc choice, recovery, LLOQ/ULOQ,
  back-calculation, flags, replicate CV, QC),

each the median of ``--repeat`` runs, and prints the figures with the share of the truth
recovered within 10 % inside the quantifiable range.

Usage: ``.venv/bin/python benchmarks/cytokine_fit.py [--repeat 3] [--analytes 30]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from myocit_omics.cytokines.pipeline import CytokineParams, process_exports
from myocit_omics.cytokines.simulate import write_xponent_plate
from myocit_omics.io.cytokine import read_export


def _time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _polyfit_baseline(path: Path) -> int:
    exp = read_export(path)
    v = exp.values
    n = 0
    for _a, g in v.groupby("analyte"):
        std = g[(g["role"] == "standard") & (g["signal"] > 0)]
        coef = np.polyfit(np.log(std["expected_conc"]), np.log(std["signal"]), 3)
        grid = np.linspace(np.log(std["expected_conc"].min()), np.log(std["expected_conc"].max()), 200)
        resp = np.polyval(coef, grid)
        order = np.argsort(resp)
        sig = g["signal"].clip(lower=1e-9)
        np.exp(np.interp(np.log(sig), resp[order], grid[order]))
        n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--analytes", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plate96x30.csv"
        truth = write_xponent_plate(path, n_analytes=args.analytes, n_wells=96, seed=2024)
        size_kb = path.stat().st_size / 1024
        t_read, exp = _time(lambda: read_export(path), args.repeat)
        t_poly, _ = _time(lambda: _polyfit_baseline(path), args.repeat)
        t_full, res = _time(
            lambda: process_exports([(read_export(path), None, "bench")], CytokineParams(plots=False)),
            args.repeat,
        )
        long = res.work
        errs = []
        for rec in long[(long["role"] == "sample") & (long["flag"] == "ok")].itertuples():
            t = truth.conc.get((rec.well, rec.analyte))
            if t:
                errs.append(abs(rec.value / t - 1))
        errs = np.array(errs)
        n_fits = len(res.fits)
        models = res.qc["model"].value_counts().to_dict()
        print(f"plate: 96 wells x {args.analytes} analytes, {len(exp.values)} values, {size_kb:.0f} kB")
        print(f"read only (baseline 1):            {t_read * 1000:8.1f} ms")
        print(f"read + numpy polyfit (baseline 2):  {t_poly * 1000:8.1f} ms")
        print(
            f"read + 4PL/5PL fit + flags + QC:    {t_full * 1000:8.1f} ms "
            f"({t_full / t_read:.1f}x reading, {(t_full - t_read) / n_fits * 1000:.1f} ms per curve, "
            f"{n_fits} curves, models {models})"
        )
        print(
            f"accuracy: {len(errs)} ok sample values, median error {np.median(errs) * 100:.1f} %, "
            f"{np.mean(errs < 0.10) * 100:.1f} % within 10 % of the truth"
        )


if __name__ == "__main__":
    main()
