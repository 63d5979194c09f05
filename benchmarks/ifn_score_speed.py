"""Time IFN scoring of 3,000 samples x 20,000 genes with every method, against a numpy baseline.

Run from the repository root::

    .venv/bin/python benchmarks/ifn_score_speed.py [--samples 3000] [--genes 20000] [--limit 60]

The matrix is seeded negative-binomial counts with the shipped IFN genes raised in part of the
samples and 100 healthy controls as the reference. Three timings are printed, all in this run:

* baseline: what the simplest possible score costs, a plain numpy mean of log2-CPM over each
  set's genes (no filter, no reference, no ranks);
* scoring: :func:`myocit_omics.interferon.scoring.score_matrix`, the 10 shipped IFN sets x
  4 methods (median_fc, mean_z, ssgsea, score_genes) against a frozen reference;
* end to end: :func:`myocit_omics.interferon.api.score_ifn` from raw counts (matrix check, gene
  filter, median-of-ratios size factors, log, reference, all sets and methods).

Exit code 1 if the end-to-end time exceeds ``--limit`` seconds (the issue asks for under a minute).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from myocit_omics.genesets import ifn_gene_sets, ifn_genes
from myocit_omics.interferon.api import score_ifn
from myocit_omics.interferon.methods import METHODS


def make_counts(n_samples: int, n_genes: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    isg = ifn_genes()
    names = isg + [f"SYN{i:05d}" for i in range(n_genes - len(isg))]
    base = np.exp(rng.normal(np.log(50), 1.5, size=n_genes)).astype(np.float32)
    act = np.r_[np.zeros(100), rng.uniform(0, 3, n_samples - 100)].astype(np.float32)
    lib = rng.uniform(0.5, 2.0, n_samples).astype(np.float32)
    counts = np.empty((n_genes, n_samples), dtype=np.int32)
    is_isg = np.zeros(n_genes, dtype=bool)
    is_isg[: len(isg)] = True
    for start in range(0, n_samples, 500):  # bounded memory while simulating
        sl = slice(start, start + 500)
        mu = base[:, None] * lib[None, sl] * np.exp2(is_isg[:, None] * act[None, sl])
        counts[:, sl] = rng.poisson(mu)
    ids = [f"S{i:05d}" for i in range(n_samples)]
    sheet = pd.DataFrame(
        {
            "sample_id": ids,
            "patient_id": ids,
            "visit": "W0",
            "role": ["healthy_control"] * 100 + ["patient"] * (n_samples - 100),
        }
    )
    return pd.DataFrame(counts, index=names, columns=ids), sheet


def baseline(counts: pd.DataFrame, sets: dict) -> float:
    t = time.perf_counter()
    x = counts.to_numpy(dtype=np.float64)
    lcpm = np.log2(x / x.sum(axis=0, keepdims=True) * 1e6 + 1.0)
    index = pd.Index(counts.index)
    for gs in sets.values():
        rows = index.get_indexer([g for g in gs.genes if g in index])
        lcpm[rows].mean(axis=0)
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--genes", type=int, default=20000)
    parser.add_argument("--limit", type=float, default=60.0)
    args = parser.parse_args()
    t = time.perf_counter()
    counts, sheet = make_counts(args.samples, args.genes)
    print(f"simulated {args.samples} samples x {args.genes} genes in {time.perf_counter() - t:.1f} s")
    sets = ifn_gene_sets()

    t_base = baseline(counts, sets)
    print(f"baseline  numpy mean of log2-CPM, {len(sets)} sets:           {t_base:6.2f} s")

    from myocit_omics.interferon.api import score_ifn_detailed
    from myocit_omics.interferon.scoring import score_matrix

    small = score_ifn_detailed(
        counts.iloc[:, :300], sheet.iloc[:300], reference="healthy_control", methods=["median_fc"]
    )
    ref = small.reference  # a reference frozen from the 100 controls
    x = counts.loc[ref.genes].to_numpy(dtype=np.float64).T
    x = np.log2(x / np.median(x.sum(axis=1) / 1e6) + 1.0)
    frame = pd.DataFrame(x, index=sheet["sample_id"], columns=ref.genes)
    del x
    t = time.perf_counter()
    scored = score_matrix(frame, reference=ref, gene_sets=sets, methods=METHODS)
    t_score = time.perf_counter() - t
    del frame
    print(
        f"scoring   {len(sets)} sets x {len(METHODS)} methods, frozen reference: {t_score:6.2f} s "
        f"({len(scored.scores):,} scores)"
    )

    t = time.perf_counter()
    out = score_ifn(counts, sheet, reference="healthy_control", gene_sets=sets, methods=METHODS)
    t_all = time.perf_counter() - t
    print(f"end to end score_ifn from raw counts:                   {t_all:6.2f} s ({len(out):,} rows)")
    print(
        f"ratio end to end / baseline: {t_all / t_base:.1f}x; limit {args.limit:.0f} s: "
        f"{'OK' if t_all < args.limit else 'EXCEEDED'}"
    )
    return 0 if t_all < args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
