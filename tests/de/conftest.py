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
    responders: tuple[str, ...] | None = None,
) -> ad.AnnData:
    """Samples x genes AnnData like the expression step writes (obs, var gene_name, layers['counts']).

    The planted IFN genes fall by ``ifn_lfc`` (log2) from W0 to W4 and half of that at W24;
    20 background genes rise by 1.5 at W4. Patient effects are random per gene. With
    ``responders``, the IFN genes fall only in those patients (the others keep W0 levels).
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
        change = lfc[v].copy()
        if responders is not None and p not in responders:
            change[: len(PLANTED_IFN)] = 0.0
        mu = base * rng.uniform(0.7, 1.4) * np.exp(patient_eff[:, patients.index(p)] + change * np.log(2))
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


REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "data" / "demo"


def _column_key(name: str) -> str:
    """Matrix column key: file name without folder and ``.bam`` (featureCounts columns are BAM paths)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base[:-4] if base.endswith(".bam") else base


def demo_expression_adata() -> ad.AnnData:
    """The demo study's RNA-seq batches as the expression step would hand them to DE.

    Built from the hand-in files with the project's readers (until the store loaders exist);
    ``qc_pass`` is False for the faults the generator planted (low-depth sample, swapped pair), as
    the QC step is meant to flag them.
    """
    import json

    from myocit_omics.io.counts import read_counts
    from myocit_omics.io.sample_sheet import read_sample_sheet

    if not (DEMO / "batches" / "rnaseq-seq1").is_dir():
        pytest.skip("data/demo is not generated yet")
    counts, names, sheets = [], [], []
    for batch, fname in (("rnaseq-seq1", "salmon.merged.gene_counts.tsv.gz"),
                         ("rnaseq-seq2", "featurecounts.txt.gz")):
        cm = read_counts(DEMO / "batches" / batch / fname)
        sheet = read_sample_sheet(DEMO / "batches" / batch / "samples.csv")
        by_key = {str(c): c for c in cm.counts.columns}
        try:
            from myocit_omics.io.counts import column_aliases

            by_key.update(column_aliases(cm))
        except ImportError:
            by_key.update({_column_key(str(c)): c for c in cm.counts.columns})
        cols = [by_key.get(str(c), by_key.get(_column_key(str(c)))) for c in sheet["column"]]
        block = cm.counts[cols]
        block.columns = list(sheet["sample_id"])
        counts.append(block)
        names.append(cm.gene_names)
        sheets.append(sheet)
    matrix = pd.concat(counts, axis=1, join="outer")
    if matrix.isna().any().any():
        pytest.fail("the demo count batches do not share their genes")
    sheet = pd.concat(sheets, ignore_index=True).set_index("sample_id")
    faults = json.loads((DEMO / "truth" / "faults.json").read_text())["rnaseq"]
    obs = sheet[["patient_id", "visit", "sex", "role", "seq_batch"]].astype(str).copy()
    obs["qc_pass"] = True
    obs["qc_reason"] = ""
    obs.loc[faults["low_depth_sample"], ["qc_pass", "qc_reason"]] = [False, "low library size"]
    for sid in faults["swapped_samples"]:
        obs.loc[sid, ["qc_pass", "qc_reason"]] = [False, "sex mismatch (swap suspect)"]
    gene_names = names[0].reindex(matrix.index).fillna(names[1].reindex(matrix.index))
    var = pd.DataFrame({"gene_name": gene_names.astype(str).to_numpy()}, index=matrix.index.astype(str))
    values = matrix.T.loc[obs.index].to_numpy(dtype=np.int64)
    adata = ad.AnnData(X=values.astype(np.float32), obs=obs, var=var)
    adata.layers["counts"] = values
    return adata


@pytest.fixture(scope="session")
def demo_h5ad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo expression AnnData written once per session."""
    path = tmp_path_factory.mktemp("demo") / "expression.h5ad"
    demo_expression_adata().write_h5ad(path)
    return path


@pytest.fixture(scope="session")
def planted_ifn() -> list[str]:
    """Symbols of the IFN genes planted down at W4 by :func:`make_paired_adata`."""
    return list(PLANTED_IFN)


@pytest.fixture(scope="module")
def paired_h5ad_module(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Like ``paired_h5ad`` but module-scoped (for one shared pipeline run per test module)."""

    def _make(edit: Callable[[ad.AnnData], None] | None = None, **kwargs: object) -> Path:
        adata = make_paired_adata(**kwargs)  # type: ignore[arg-type]
        if edit is not None:
            edit(adata)
        path = tmp_path_factory.mktemp("paired") / "expression.h5ad"
        adata.write_h5ad(path)
        return path

    return _make
