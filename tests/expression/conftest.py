"""A small seeded whole-blood-like cohort for the expression tests (no ../shared needed).

Negative-binomial counts around: a per-gene base mean, a latent IFN activity loading the shipped
IFN genes, a per-patient fingerprint, a sequencing-batch offset, and the sex genes (XIST in
females, RPS4Y1/DDX3Y/UTY/KDM5D in males). Faults can be planted on request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from myocit_omics.genesets import ifn_genes

SEX_GENES = {"XIST": "F", "RPS4Y1": "M", "DDX3Y": "M", "UTY": "M", "KDM5D": "M"}


@dataclass
class Cohort:
    counts: pd.DataFrame  # genes x samples (index gene_id)
    samples: pd.DataFrame  # indexed by sample_id: patient_id, visit, sex, role, seq_batch, batch_id
    gene_names: pd.Series  # by gene_id
    ifn_activity: pd.Series  # by sample_id

    def anndata(self, samples: list[str] | None = None) -> ad.AnnData:
        ids = samples or list(self.samples.index)
        x = self.counts[ids].T.to_numpy()
        a = ad.AnnData(
            X=np.zeros(x.shape, dtype=np.float32),
            obs=self.samples.loc[ids].astype(str).copy(),
            var=pd.DataFrame({"gene_name": self.gene_names.to_numpy()}, index=self.counts.index),
        )
        a.layers["counts"] = x
        return a

    def write(self, path: Path, samples: list[str] | None = None) -> Path:
        self.anndata(samples).write_h5ad(path)
        return path


def make_cohort(
    *,
    seed: int = 7,
    n_patients: int = 8,
    n_genes: int = 1500,
    visits: tuple[str, ...] = ("W0", "W4", "W24"),
    low_depth: str | None = None,
    swap: tuple[str, str] | None = None,
    drop: str | None = None,
    healthy_controls: int = 0,
) -> Cohort:
    rng = np.random.default_rng(seed)
    isg = ifn_genes()
    names = [f"SYN{i:05d}" for i in range(n_genes)] + isg + list(SEX_GENES)
    ids = [f"ENSGT{i:08d}" for i in range(len(names))]
    base = np.exp(rng.normal(np.log(60), 1.4, size=len(names)))
    base[:50] = 0.02  # unexpressed genes
    load = np.zeros(len(names))
    load[n_genes : n_genes + len(isg)] = rng.uniform(0.8, 1.6, size=len(isg))
    batch_off = rng.normal(0, 0.15, size=len(names))
    rows = []
    for p in range(1, n_patients + 1):
        pid = f"MYO-{p:02d}"
        sex = "F" if p % 2 else "M"
        a0 = rng.uniform(1.5, 3.5)
        for v in visits:
            act = {"W0": a0, "W4": a0 * rng.uniform(0.2, 0.6), "W24": a0 * rng.uniform(0.0, 0.3)}.get(v, a0)
            batch = "seq1" if (p <= n_patients * 3 // 4 and v != "W24") else "seq2"
            rows.append(
                {
                    "sample_id": f"RNA-{pid}-{v}",
                    "patient_id": pid,
                    "visit": v,
                    "sex": sex,
                    "role": "patient",
                    "seq_batch": batch,
                    "batch_id": f"batch-{batch}",
                    "ifn": act,
                }
            )
    for h in range(1, healthy_controls + 1):
        rows.append(
            {
                "sample_id": f"RNA-HC-{h:02d}",
                "patient_id": f"HC-{h:02d}",
                "visit": "W0",
                "sex": "F" if h % 2 else "M",
                "role": "healthy_control",
                "seq_batch": "seq1",
                "batch_id": "batch-seq1",
                "ifn": rng.uniform(-0.3, 0.3),
            }
        )
    samples = pd.DataFrame(rows).set_index("sample_id")
    pids = sorted(samples["patient_id"].unique())
    patient_eff = rng.normal(0, 0.25, size=(len(names), len(pids)))
    pidx = samples["patient_id"].map({p: i for i, p in enumerate(pids)}).to_numpy()
    lib = rng.uniform(8e6, 20e6, size=len(samples))
    if low_depth:
        lib[samples.index.get_loc(low_depth)] = 4e5
    mu = (
        np.log(base)[:, None]
        + np.log(2) * load[:, None] * samples["ifn"].to_numpy()[None, :]
        + patient_eff[:, pidx]
        + batch_off[:, None] * (samples["seq_batch"] == "seq2").to_numpy()[None, :]
    )
    mu = np.exp(mu)
    female = (samples["sex"] == "F").to_numpy()
    for g, s in SEX_GENES.items():
        i = names.index(g)
        mu[i] = np.where(female == (s == "F"), 300.0, 0.02)
    mu *= lib[None, :] / mu.sum(axis=0, keepdims=True)
    disp = 0.05 + 1.0 / np.maximum(mu.mean(axis=1), 1.0)
    lam = rng.gamma(1.0 / disp[:, None], mu * disp[:, None])
    counts = pd.DataFrame(rng.poisson(lam).astype(np.int64), index=ids, columns=samples.index)
    if swap:
        a, b = swap
        counts[[a, b]] = counts[[b, a]].to_numpy()
    activity = samples["ifn"].copy()
    samples = samples.drop(columns="ifn")
    if drop:
        counts = counts.drop(columns=drop)
        samples = samples.drop(index=drop)
        activity = activity.drop(index=drop)
    return Cohort(
        counts=counts, samples=samples, gene_names=pd.Series(names, index=ids), ifn_activity=activity
    )


@pytest.fixture(scope="session")
def cohort_factory():
    """The :func:`make_cohort` function."""
    return make_cohort
