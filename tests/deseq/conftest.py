"""Seeded synthetic negative-binomial data for the DESeq2 kernel tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits


def make_nb_data(
    n_patients: int,
    n_genes: int,
    *,
    seed: int,
    visits: tuple[str, ...] = ("W0", "W4", "W24"),
    de_share: float = 0.1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Paired NB counts (samples x genes) with patient effects and visit effects on a share of genes."""
    rng = np.random.default_rng(seed)
    n = n_patients * len(visits)
    base = np.exp(rng.normal(4.0, 2.0, n_genes))
    disp = 0.05 + 1.5 / base
    patient_eff = rng.normal(0, 0.4, (n_patients, n_genes))
    visit_eff = np.zeros((len(visits), n_genes))
    de = rng.random(n_genes) < de_share
    for v in range(1, len(visits)):
        visit_eff[v, de] = rng.normal(0, 1.2, de.sum())
    sf = np.exp(rng.normal(0, 0.3, n))
    rows = []
    mu = np.empty((n, n_genes))
    k = 0
    for i in range(n_patients):
        for v, visit in enumerate(visits):
            mu[k] = sf[k] * base * np.exp(patient_eff[i] + visit_eff[v])
            rows.append((f"S{k:03d}", f"P{i:02d}", visit))
            k += 1
    counts = rng.negative_binomial(1 / disp, 1 / (1 + mu * disp))
    meta = pd.DataFrame(rows, columns=["sample", "patient", "visit"]).set_index("sample")
    cols = [f"G{j:05d}" for j in range(n_genes)]
    return pd.DataFrame(counts, index=meta.index, columns=cols), meta


@pytest.fixture(scope="session")
def nb_small() -> tuple[pd.DataFrame, pd.DataFrame]:
    """12 samples (4 patients x 3 visits) x 2,000 genes."""
    return make_nb_data(4, 2000, seed=20261127)


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Run stock pydeseq2 in-process without BLAS threads.

    pydeseq2's sequential path (n_cpus=1) makes millions of tiny numpy calls; with OpenBLAS
    threads each one spins up and waits for the others (measured 5x slower on 2 busy cores).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield
