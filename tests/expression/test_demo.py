"""The expression step on the shipped demo study (data/demo): planted faults, latent IFN, no drift."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from myocit_omics.config import load_study_config
from myocit_omics.expression.pipeline import run_expression
from myocit_omics.results import ResultsTree

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def _assemble(batches: list[str]) -> ad.AnnData:
    from myocit_omics.io.counts import read_counts

    parts, obs, names = [], [], None
    for name in batches:
        folder = DEMO / "batches" / name
        counts_file = next(p for p in folder.iterdir() if p.name not in ("manifest.yaml", "samples.csv"))
        m = read_counts(counts_file)
        sheet = pd.read_csv(folder / "samples.csv", dtype=str)
        cols = sheet["column"] if "column" in sheet else sheet["sample_id"]
        parts.append(m.counts[list(cols)].set_axis(list(sheet["sample_id"]), axis=1))
        obs.append(
            sheet.drop(columns=["column"], errors="ignore").assign(batch_id=name).set_index("sample_id")
        )
        if names is None or (m.gene_names.index != m.gene_names.to_numpy()).any():
            names = m.gene_names
    counts = pd.concat(parts, axis=1, join="inner")
    a = ad.AnnData(
        X=np.zeros((counts.shape[1], counts.shape[0]), dtype=np.float32),
        obs=pd.concat(obs),
        var=pd.DataFrame({"gene_name": names.reindex(counts.index).to_numpy()}, index=counts.index),
    )
    a.layers["counts"] = counts.T.to_numpy()
    return a


@pytest.mark.slow
def test_demo_faults_ifn_tracking_and_no_drift(tmp_path):
    if not (DEMO / "batches" / "rnaseq-seq1").is_dir():
        pytest.skip("data/demo is not present")
    config = load_study_config(DEMO / "study.yaml")
    config.expression["plots"] = False  # figures are tested in test_pipeline.py
    faults = json.loads((DEMO / "truth" / "faults.json").read_text())["rnaseq"]
    truth = pd.read_csv(DEMO / "truth" / "rnaseq_samples.tsv", sep="\t", index_col="sample_id")
    home = tmp_path / "home"
    _assemble(["rnaseq-seq1"]).write_h5ad(tmp_path / "seq1.h5ad")
    _assemble(["rnaseq-seq1", "rnaseq-seq2"]).write_h5ad(tmp_path / "all.h5ad")
    out1 = run_expression(tmp_path / "seq1.h5ad", config=config, tree=ResultsTree(tmp_path / "r1"), home=home)
    out2 = run_expression(tmp_path / "all.h5ad", config=config, tree=ResultsTree(tmp_path / "r2"), home=home)

    # the three planted faults
    assert set(out2["excluded_samples"]) == {faults["low_depth_sample"], *faults["swapped_samples"]}
    assert "library_size" in out2["excluded_samples"][faults["low_depth_sample"]]
    for sid in faults["swapped_samples"]:
        assert "sex:" in out2["excluded_samples"][sid] and "swap:" in out2["excluded_samples"][sid]
    missing = faults["missing_sample"].removeprefix("RNA-").rsplit("-", 1)
    assert out2["missing_samples"] == [" ".join(missing)]
    assert out1["missing_samples"] == [" ".join(missing)]  # seq1 has no W24 yet: not reported 12 times

    # every set and method tracks the latent IFN activity
    s = pd.read_csv(out2["paths"]["ifn_scores"], sep="\t")
    s = s[s["qc_pass"]]
    rho = {
        k: spearmanr(g["score"], truth.loc[g["sample_id"], "ifn_activity"])[0]
        for k, g in s.groupby(["gene_set", "method"])
    }
    assert len(rho) == 10 * 4
    assert min(rho.values()) >= 0.9, sorted(rho.items(), key=lambda kv: kv[1])[:3]

    # adding seq2 changed nothing for seq1's samples
    s1 = pd.read_csv(out1["paths"]["ifn_scores"], sep="\t").set_index(["sample_id", "gene_set", "method"])
    s2 = pd.read_csv(out2["paths"]["ifn_scores"], sep="\t").set_index(["sample_id", "gene_set", "method"])
    np.testing.assert_allclose(s2.loc[s1.index, "score"], s1["score"], rtol=0, atol=1e-9)
    a1, a2 = ad.read_h5ad(out1["paths"]["anndata"]), ad.read_h5ad(out2["paths"]["anndata"])
    np.testing.assert_allclose(
        a2.obs.loc[a1.obs_names, "size_factor"], a1.obs["size_factor"], rtol=0, atol=1e-9
    )
