"""Helpers of the IFN score tests: the golden folder and a small count matrix with a sample sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "gsva_ssgsea"


@pytest.fixture
def golden() -> Path:
    return GOLDEN


def _small_matrix(seed: int = 4, n_genes: int = 600, n_ctrl: int = 5, n_case: int = 6):
    """Genes x samples counts (index symbols) with IFN genes up in the cases, and a sample sheet."""
    from myocit_omics.genesets import ifn_gene_sets

    rng = np.random.default_rng(seed)
    rice = list(ifn_gene_sets()["RICE_2013_6_ISG"].genes)
    genes = [f"G{i:04d}" for i in range(n_genes)] + rice
    base = np.exp(rng.normal(np.log(80), 1.0, size=len(genes)))
    n = n_ctrl + n_case
    act = np.r_[np.zeros(n_ctrl), rng.uniform(1.0, 3.0, n_case)]
    mu = (
        base[:, None]
        * np.exp2(np.isin(genes, rice)[:, None] * act[None, :])
        * rng.uniform(0.6, 1.6, n)[None, :]
    )
    counts = pd.DataFrame(rng.poisson(mu), index=genes, columns=[f"S{i:02d}" for i in range(n)])
    sheet = pd.DataFrame(
        {
            "sample_id": counts.columns,
            "patient_id": [f"P{i}" for i in range(n)],
            "visit": ["W0"] * n,
            "role": ["healthy_control"] * n_ctrl + ["patient"] * n_case,
        }
    )
    return counts, sheet, pd.Series(act, index=counts.columns)


@pytest.fixture
def small_matrix():
    return _small_matrix()
