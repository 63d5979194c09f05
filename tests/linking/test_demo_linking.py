"""The demo study: IFN change against clinical change has the sign the generator planted.

Until the expression step is wired in, the IFN score is the generator's latent IFN activity
(data/demo/truth/visits.tsv) at the omics visits; the clinical side is computed from the
handed-in core set by the clinical step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myocit_omics.clinical.pipeline import run_clinical
from myocit_omics.config import load_study_config
from myocit_omics.linking.pipeline import run_linking
from myocit_omics.results import ResultsTree, write_tsv


def test_ifn_change_tracks_clinical_change_with_the_planted_sign(demo_root, tmp_path):
    config = load_study_config(demo_root / "study.yaml")
    config = config.model_copy(update={"linking": {"n_boot": 500, "n_perm": 999}})
    batches = demo_root / "batches"
    tree = ResultsTree(tmp_path / "run")
    run_clinical(batches / "clinical-coreset" / "patients.csv", batches / "clinical-coreset" / "core_set.csv",
                 batches / "pk-baricitinib" / "pk.csv", config=config, tree=tree)
    visits = pd.read_csv(demo_root / "truth" / "visits.tsv", sep="\t")
    visits = visits[visits["visit"].isin(config.omics_visits)]
    write_tsv(pd.DataFrame({
        "sample_id": "RNA-" + visits["patient_id"] + "-" + visits["visit"],
        "patient_id": visits["patient_id"], "visit": visits["visit"], "gene_set": "LATENT",
        "method": "truth", "score": visits["ifn_activity"],
        "n_genes": 0, "reference": "truth", "positive": True, "qc_pass": True}), tree.table("ifn_scores"))
    out = run_linking(tree, config=config)
    assert out["skipped"] == {}  # cytokines absent is a note, every analysis ran
    corr = pd.read_csv(tree.table("linking_correlation"), sep="\t").set_index("comparison")
    # planted: IFN activity and clinical activity fall together (response class drives both), so
    # an IFN fall goes with a CMAS rise (negative), a physician-global fall (positive), a high TIS
    for visit in ("W4", "W24"):
        cmas = corr.loc[f"{visit} - W0 change vs change in cmas"]
        phys = corr.loc[f"{visit} - W0 change vs change in physician_global"]
        tis = corr.loc[f"{visit} - W0 change vs TIS"]
        assert cmas["estimate"] < 0 and cmas["ci_high"] < 0
        assert phys["estimate"] > 0 and phys["ci_low"] > 0
        assert tis["estimate"] < 0 and tis["ci_high"] < 0
    # every patient is in the W24 analysis; MYO-05's W4 TIS is NA (parent global not measured)
    assert corr.loc["W24 - W0 change vs TIS", "n"] == 16
    assert corr.loc["W4 - W0 change vs TIS", "n"] == 15
    change = pd.read_csv(tree.table("linking_change"), sep="\t").set_index("comparison")
    assert change.loc["W24 - W0", "estimate"] < 0 and change.loc["W24 - W0", "p_value"] < 0.01


def rice_logcpm_scores(demo_root):
    """Mean log2(CPM + 1) of the Rice 6 ISGs per sample, straight from the handed-in counts."""
    from myocit_omics.io.counts import read_counts

    rice = {"IFI27", "IFI44L", "IFIT1", "ISG15", "RSAD2", "SIGLEC1"}
    batches = demo_root / "batches"
    seq1 = read_counts(batches / "rnaseq-seq1" / "salmon.merged.gene_counts.tsv.gz")
    names = seq1.gene_names  # featureCounts has gene ids only: names come from the nf-core batch
    parts = []
    for batch, matrix in (("rnaseq-seq1", seq1),
                          ("rnaseq-seq2", read_counts(batches / "rnaseq-seq2" / "featurecounts.txt.gz"))):
        sheet = pd.read_csv(batches / batch / "samples.csv")
        columns = sheet["column"] if "column" in sheet.columns else sheet["sample_id"]
        counts = matrix.counts.rename(columns=dict(zip(columns, sheet["sample_id"], strict=True)))
        cpm = counts / counts.sum() * 1e6
        genes = names.reindex(counts.index).isin(rice).to_numpy()
        score = np.log2(cpm[genes].astype(float) + 1).mean()
        parts.append(sheet[["sample_id", "patient_id", "visit"]].assign(
            score=score.reindex(sheet["sample_id"]).to_numpy()))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.slow
def test_ifn_genes_of_the_counts_give_the_same_sign(demo_root, tmp_path):
    config = load_study_config(demo_root / "study.yaml")
    config = config.model_copy(update={"linking": {"n_boot": 500, "n_perm": 999}})
    batches = demo_root / "batches"
    tree = ResultsTree(tmp_path / "run")
    run_clinical(batches / "clinical-coreset" / "patients.csv", batches / "clinical-coreset" / "core_set.csv",
                 None, config=config, tree=tree)
    scores = rice_logcpm_scores(demo_root)
    assert len(scores) == 47  # 48 expected, RNA-MYO-10-W4 was never sequenced (truth/faults.json)
    write_tsv(scores.assign(gene_set="RICE_6", method="mean_log_cpm", n_genes=6, reference="none",
                            positive=True, qc_pass=True), tree.table("ifn_scores"))
    run_linking(tree, config=config)
    corr = pd.read_csv(tree.table("linking_correlation"), sep="\t").set_index("comparison")
    assert corr.loc["W4 - W0 change vs change in cmas", "n"] == 15  # MYO-10 has no W4 sample
    for visit in ("W4", "W24"):
        assert corr.loc[f"{visit} - W0 change vs change in cmas", "ci_high"] < 0
        assert corr.loc[f"{visit} - W0 change vs change in physician_global", "ci_low"] > 0
        assert corr.loc[f"{visit} - W0 change vs TIS", "ci_high"] < 0
