"""Helpers of the DE tests: a small seeded paired study as AnnData."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

#: Genes of the shipped published IFN signatures (Rice, Feng, Bilgic, JDM-5): planted down at W4.
PLANTED_IFN = ["IFI27", "IFI44L", "IFIT1", "ISG15", "RSAD2", "SIGLEC1", "LY6E", "OAS1", "OASL", "MX1",
               "IRF7", "IFI44", "IFIT3"]


def make_paired_adata(
    *,
    n_patients: int = 6,
    visits: tuple[str, ...] = ("W0", "W4", "W24"),
    n_genes: int = 300,
    seed: int = 7,
    missing: tuple[tuple[str, str], ...] = (),
    ifn_lfc: float = -2.5,
) -> ad.AnnData:
    """Samples x genes AnnData like the expression step writes (obs, var gene_name, layers['counts']).

    The planted IFN genes fall by ``ifn_lfc`` (log2) from W0 to W4 and half of that at W24;
    20 background genes rise by 1.5 at W4. Patient effects are random per gene.
    """
    rng = np.random.default_rng(seed)
    patients = [f"MYO-{i:02d}" for i in range(1, n_patients + 1)]
    rows = [(p, v) for p in patients for v in visits if (p, v) not in set(missing)]
    genes = PLANTED_IFN + [f"BG{i:04d}" for i in range(n_genes - len(PLANTED_IFN))]
    base = np.exp(rng.normal(5.5, 1.2, len(genes)))
    base[: len(PLANTED_IFN)] *= 4
    patient_eff = rng.normal(0, 0.4, (len(genes), n_patients))
    lfc = {v: np.zeros(len(genes)) for v in visits}
    if "W4" in lfc:
        lfc["W4"][: len(PLANTED_IFN)] = ifn_lfc
        lfc["W4"][len(PLANTED_IFN): len(PLANTED_IFN) + 20] = 1.5
    if "W24" in lfc:
        lfc["W24"][: len(PLANTED_IFN)] = ifn_lfc / 2
    disp = 0.04 + 1.0 / base
    counts = np.empty((len(rows), len(genes)), dtype=np.int64)
    for i, (p, v) in enumerate(rows):
        mu = base * rng.uniform(0.7, 1.4) * np.exp(patient_eff[:, patients.index(p)] + lfc[v] * np.log(2))
        n = 1 / disp
        counts[i] = rng.negative_binomial(n, n / (n + mu))
    obs = pd.DataFrame(
        {"patient_id": [p for p, _ in rows], "visit": [v for _, v in rows],
         "seq_batch": "SEQ1", "role": "patient", "qc_pass": True, "qc_reason": ""},
        index=pd.Index([f"RNA-{p}-{v}" for p, v in rows], name="sample_id"),
    )
    var = pd.DataFrame({"gene_name": genes}, index=pd.Index([f"ENSG{i:011d}" for i in range(len(genes))],
                                                          name="gene_id"))
    adata = ad.AnnData(X=counts.astype(np.float32), obs=obs, var=var)
    adata.layers["counts"] = counts
    return adata


@pytest.fixture
def paired_h5ad(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write :func:`make_paired_adata` (keyword arguments passed on) to an .h5ad; return the path."""

    def _make(edit: Callable[[ad.AnnData], None] | None = None, **kwargs: object) -> Path:
        adata = make_paired_adata(**kwargs)  # type: ignore[arg-type]
        if edit is not None:
            edit(adata)
        path = tmp_path / "expression.h5ad"
        adata.write_h5ad(path)
        return path

    return _make
