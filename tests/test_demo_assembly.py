"""Assembly of the demo's two RNA-seq batches (nf-core and featureCounts formats) into one AnnData."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anndata as ad
import pytest

from myocit_omics.results import write_h5ad
from myocit_omics.store import StudyStore
from myocit_omics.study import rnaseq_anndata

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


@pytest.mark.slow
def test_symbols_survive_a_batch_without_gene_names(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(DEMO / "study.yaml", home / "study.yaml")
    store = StudyStore(home)
    for name in ("rnaseq-seq1", "rnaseq-seq2"):  # nf-core (ids + symbols), then featureCounts (ids only)
        assert store.ingest(DEMO / "batches" / name, submitted_by="test").status == "accepted"
    adata = rnaseq_anndata(store)
    names = set(adata.var["gene_name"])
    assert {"IFI27", "IFI44L", "RSAD2", "SIGLEC1", "XIST", "RPS4Y1"} <= names
    assert not any(n.startswith("ENSG") for n in names)
    assert set(adata.obs["seq_batch"]) and adata.obs["batch_name"].nunique() == 2
    # the whole object, ingest record included, round-trips through h5ad
    path = write_h5ad(adata, tmp_path / "a.h5ad")
    back = ad.read_h5ad(path)
    assert [b["name"] for b in json.loads(back.uns["ingest"])["batches"]] == ["rnaseq-seq1", "rnaseq-seq2"]
    assert (back.layers["counts"] == adata.layers["counts"]).all()
