"""Real paired counts (GSE197067, Pan T cells of 4 donors; ../shared/fixtures): activation switches
the interferon-stimulated genes down against 0 h, design ~ donor + time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myocit_omics.de.contrasts import ContrastSpec
from myocit_omics.de.gsea import load_gene_sets, ranking_from_results, run_prerank
from myocit_omics.de.pipeline import DEParams, plan_fits, run_fits
from myocit_omics.io.counts import read_counts


@pytest.mark.slow
def test_activated_t_cells_switch_isgs_down(shared):
    counts_path = shared("fixtures", "rnaseq", "gse197067_tcell_activation_counts.csv.gz")
    sheet = pd.read_csv(shared("fixtures", "rnaseq", "gse197067_tcell_activation_samples.csv"))
    sheet["time"] = np.where(sheet["Condition"] == "Initiation", "0h",
                             sheet["Condition"] + "_" + sheet["Timepoint"].astype(str) + "h")
    obs = sheet.rename(columns={"sample": "sample_id", "Replicates": "donor"}).set_index("sample_id")
    obs = obs[obs["time"].isin(["0h", "act_24h"])]
    assert len(obs) == 8  # 4 donors x (0 h, activated 24 h)
    cm = read_counts(counts_path)
    counts = cm.counts[list(obs.index)].T
    counts = counts.loc[:, counts.sum(axis=0) >= 10]
    contrast = ContrastSpec(id="act24_vs_0h", variable="time", reference="0h", target="act_24h",
                            paired_by="donor")
    plans = plan_fits(obs, [contrast], formula="~ donor + time", rule="keep")
    (result,) = run_fits(plans, counts, params=DEParams(shrink=False), gene_names=cm.gene_names)
    res = result.table

    sets, _ = load_gene_sets()
    tested = res[res["padj"].notna()]
    in_isg = tested["gene_name"].isin(sets["QUSAGE_ISG_227"].genes)
    # ISGs as a group shift down on activation, more than the other genes ...
    assert tested.loc[in_isg, "stat"].median() < min(0.0, tested.loc[~in_isg, "stat"].median())
    # ... the core ISGs of the Rice score (IFI44L, IFIT1, ISG15, RSAD2, SIGLEC1) fall significantly ...
    rice = res[res["gene_name"].isin(sets["RICE_2013_6_ISG"].genes)]
    assert ((rice["padj"] < 0.05) & (rice["log2_fc"] < 0)).sum() >= 4, rice
    # ... and the antiviral IFN module and the ISG set are negatively enriched in preranked GSEA
    ranking, _ = ranking_from_results(res)
    names = ("QUSAGE_ISG_227", "antiviral IFN signature (M75)")
    table, _, _ = run_prerank(ranking, {k: sets[k] for k in names}, contrast_id=contrast.id,
                              permutations=200, seed=1)
    by = table.set_index("gene_set")
    assert (by["nes"] < 0).all()
    assert by.loc["antiviral IFN signature (M75)", "fdr"] < 0.05
