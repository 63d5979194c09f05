"""Fixtures of the composition tests: in-silico mixtures of real single-cell PBMC profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

#: bulk_labels of scanpy's pbmc68k_reduced -> the cell type of the mixtures.
GROUPS = {
    "CD14+ Monocyte": "monocyte",
    "CD19+ B": "b_cell",
    "CD56+ NK": "nk_cell",
    "Dendritic": "dendritic",
    "CD4+/CD25 T Reg": "t_cell",
    "CD8+ Cytotoxic T": "t_cell",
    "CD8+/CD45RA+ Naive Cytotoxic": "t_cell",
    "CD4+/CD45RO+ Memory": "t_cell",
    "CD4+/CD45RA+/CD25- Naive T": "t_cell",
}
#: Range of each cell type's share before normalisation to 1: PBMC as drawn (T cells 30-70 %,
#: monocytes 5-35 %, B and NK cells 3-20 %, dendritic cells 0.5-3 %).
SHARES = {
    "t_cell": (0.30, 0.70),
    "monocyte": (0.05, 0.35),
    "b_cell": (0.03, 0.20),
    "nk_cell": (0.03, 0.20),
    "dendritic": (0.005, 0.03),
}


def build_mixtures(seed: int = 17, n_mixtures: int = 40, cells_per_mixture: int = 400) -> dict:
    """In-silico mixtures of pbmc68k_reduced cells with known fractions, and a signature from disjoint cells.

    The ``.raw`` layer holds log-normalised expression: ``expm1`` brings back each cell's
    normalised profile. Half the cells of each type (seeded) build the signature (mean profile);
    the other half are drawn into the mixtures, whose counts are the summed profiles x 50, rounded.
    CD34+ cells (13, 0.1 % of blood; their labels are T-cell-like in this set) are left out.
    """
    sc = pytest.importorskip("scanpy")
    adata = sc.datasets.pbmc68k_reduced()
    x = adata.raw.X
    lin = np.expm1(np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=float))
    group = adata.obs["bulk_labels"].astype(str).map(GROUPS).fillna("").to_numpy()
    types = list(SHARES)
    rng = np.random.default_rng(seed)
    for_signature = np.zeros(len(group), dtype=bool)
    for t in types:
        idx = np.flatnonzero(group == t)
        rng.shuffle(idx)
        for_signature[idx[: len(idx) // 2]] = True
    genes = list(adata.raw.var_names)
    signature = pd.DataFrame(
        [lin[for_signature & (group == t)].mean(axis=0) for t in types], index=types, columns=genes
    )
    lo = np.array([SHARES[t][0] for t in types])
    hi = np.array([SHARES[t][1] for t in types])
    profiles, fractions = [], []
    for _ in range(n_mixtures):
        share = lo + (hi - lo) * rng.random(len(types))
        k = rng.multinomial(cells_per_mixture, share / share.sum())
        prof = np.zeros(len(genes))
        for t, kk in zip(types, k, strict=True):
            pool = np.flatnonzero(~for_signature & (group == t))
            prof += lin[rng.choice(pool, kk)].sum(axis=0)
        profiles.append(prof)
        fractions.append(k / cells_per_mixture)
    names = [f"MIX{i:02d}" for i in range(n_mixtures)]
    counts = pd.DataFrame(np.rint(np.array(profiles).T * 50).astype(np.int64), index=genes, columns=names)
    truth = pd.DataFrame(fractions, index=names, columns=types)
    return {"counts": counts, "truth": truth, "signature": signature}


@pytest.fixture(scope="session")
def mixtures() -> dict:
    """The seeded mixtures (built once per session)."""
    return build_mixtures()
