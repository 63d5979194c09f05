"""The RNA-seq hand-ins: layout, gene catalogue, the planted IFN signal and the three planted faults."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from myocit_omics.genesets import read_gmt

SEX_Y = ["RPS4Y1", "DDX3Y", "UTY", "KDM5D", "EIF1AY", "ZFY", "USP9Y"]
RICE = ["IFI27", "IFI44L", "IFIT1", "ISG15", "RSAD2", "SIGLEC1"]


def _cpm(rnaseq: dict) -> pd.DataFrame:
    counts = rnaseq["counts"]
    cpm = counts / counts.sum(axis=0) * 1e6
    cpm.index = rnaseq["names"].loc[cpm.index]
    return cpm


def test_layout_of_both_count_files(rnaseq: dict) -> None:
    assert rnaseq["fc_first_line"].startswith("# Program:featureCounts")
    assert list(rnaseq["annotation"].columns) == ["Chr", "Start", "End", "Strand", "Length"]
    # every sample-sheet row has its column, and every matrix column has its sheet row
    assert set(rnaseq["sheet1"]["sample_id"]) == set(rnaseq["nf"].columns)
    assert set(rnaseq["sheet2"]["sample_id"]) == set(rnaseq["fc"].columns)
    assert rnaseq["sheet2"]["column"].str.endswith(".bam").all()
    counts = rnaseq["counts"]
    assert not counts.isna().any().any(), "both batches must hold the same genes"
    assert (counts.to_numpy() >= 0).all()
    assert np.issubdtype(counts.to_numpy().dtype, np.integer)
    sheet = rnaseq["sheet"]
    assert set(sheet["seq_batch"]) == {"seq1", "seq2"}
    # the two runs are not perfectly confounded with visit
    by_visit = sheet.groupby("visit")["seq_batch"].nunique()
    assert (by_visit.loc[["W0", "W4"]] == 2).all()


def test_gene_catalogue(rnaseq: dict, demo: Path) -> None:
    names = rnaseq["names"]
    assert len(names) >= 20_000
    assert names.index.is_unique
    assert all(re.fullmatch(r"ENSG9\d{10}", g) for g in names.index)
    repo_sets = sorted((demo.parents[1] / "gene_sets").glob("*.gmt"))
    assert repo_sets
    wanted = {g for gmt in repo_sets for s in read_gmt(gmt).values() for g in s.genes}
    assert wanted - set(names) == set()
    for g in ["XIST", *SEX_Y, "FCGR3B", "CD14", "CD3E", "MS4A1", "NKG7", "PPBP", "HBB", "ACTB", "GAPDH"]:
        assert g in set(names), g


def test_library_sizes_and_the_low_depth_sample(rnaseq: dict, truth: dict) -> None:
    lib = rnaseq["counts"].sum(axis=0)
    low = truth["faults"]["rnaseq"]["low_depth_sample"]
    assert lib[low] < 3e6
    others = lib.drop(low)
    assert others.min() >= 9e6 and others.max() <= 41e6


def test_sex_genes_disagree_with_the_recorded_sex_only_for_the_swapped_samples(
    rnaseq: dict, truth: dict
) -> None:
    cpm = _cpm(rnaseq)
    predicted = np.where(cpm.loc["XIST"] > cpm.loc[SEX_Y].sum(axis=0), "F", "M")
    recorded = rnaseq["sheet"].loc[cpm.columns, "sex"].to_numpy()
    mismatched = set(cpm.columns[predicted != recorded])
    swapped = set(truth["faults"]["rnaseq"]["swapped_samples"])
    assert mismatched == swapped
    assert set(rnaseq["sheet"].loc[list(swapped), "sex"]) == {"F", "M"}


def test_one_patient_has_no_w4_sample(rnaseq: dict, truth: dict) -> None:
    missing = truth["faults"]["rnaseq"]["missing_patient"]
    sheet = rnaseq["sheet"]
    per_patient = sheet.groupby("patient_id")["visit"].apply(set)
    assert per_patient[missing] == {"W0", "W24"}
    assert all(v == {"W0", "W4", "W24"} for p, v in per_patient.items() if p != missing)
    assert len(per_patient) == 16
    assert not any(c.endswith(f"{missing}-W4") for c in rnaseq["counts"].columns)


def test_ifn_genes_fall_from_w0_to_w24_in_responders_much_more_than_in_non_responders(
    rnaseq: dict, truth: dict
) -> None:
    cpm = _cpm(rnaseq)
    bad = set(truth["faults"]["rnaseq"]["swapped_samples"]) | {truth["faults"]["rnaseq"]["low_depth_sample"]}
    sheet = rnaseq["sheet"]
    responder = truth["patients"].set_index("patient_id")["responder"]
    drop = {}
    for pid in responder.index:
        w0, w24 = f"RNA-{pid}-W0", f"RNA-{pid}-W24"
        if w0 in bad or w24 in bad or w0 not in sheet.index or w24 not in sheet.index:
            continue
        lfc = np.log2(cpm.loc[RICE, w0] + 1) - np.log2(cpm.loc[RICE, w24] + 1)
        drop[pid] = float(np.median(lfc))
    resp = [d for p, d in drop.items() if responder[p]]
    non = [d for p, d in drop.items() if not responder[p]]
    assert len(resp) >= 7 and len(non) >= 4
    assert np.median(resp) > 2.0
    assert np.mean(np.array(resp) > 0) >= 0.85
    assert np.median(resp) - np.median(non) > 1.5


def test_w0_ifn_expression_follows_the_latent_activity(rnaseq: dict, truth: dict) -> None:
    cpm = _cpm(rnaseq)
    visits = truth["visits"].set_index(["patient_id", "visit"])["ifn_activity"]
    cols = [c for c in cpm.columns if c.endswith("-W0")]
    score = np.log2(cpm.loc[RICE, cols] + 1).median(axis=0)
    latent = [visits[(c[4:10], "W0")] for c in cols]
    rho = pd.Series(score.to_numpy()).corr(pd.Series(latent), method="spearman")
    assert rho > 0.7


def test_dispersion_falls_with_the_mean_towards_a_floor(rnaseq: dict, truth: dict, demo: Path) -> None:
    """Moment estimates on W0 samples of one run: dispersion ~ a0 + a1/mean (docs/synthetic.md)."""
    genes = pd.read_csv(demo / "truth" / "genes.tsv.gz", sep="\t", index_col="gene_id")
    synthetic = genes.index[(genes.kind == "synthetic") & (genes.neutrophil_loading == 0)]
    sheet = rnaseq["sheet"]
    low = truth["faults"]["rnaseq"]["low_depth_sample"]
    cols = [s for s in sheet.index[(sheet.visit == "W0") & (sheet.seq_batch == "seq1")] if s != low]
    counts = rnaseq["counts"].loc[synthetic, cols]
    size = counts.sum(axis=0) / counts.sum(axis=0).mean()
    norm = counts / size
    mean, var = norm.mean(axis=1), norm.var(axis=1, ddof=1)
    disp = (var - mean) / mean**2
    high = disp[mean > 2000].median()
    mid = disp[(mean > 200) & (mean < 500)].median()
    lowm = disp[(mean > 5) & (mean < 20)].median()
    assert 0.03 < high < 0.3
    assert lowm > mid > high
