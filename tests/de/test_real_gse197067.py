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
    isg = set(sets["QUSAGE_ISG_227"].genes)
    tested = res[res["padj"].notna()]
    in_isg = tested["gene_name"].isin(isg)
    # ISGs as a group go down on activation ...
    assert tested.loc[in_isg, "stat"].median() < min(0.0, tested.loc[~in_isg, "stat"].median())
    down_sig = (tested["padj"] < 0.05) & (tested["log2_fc"] < 0)
    assert down_sig[in_isg].mean() > 2 * down_sig[~in_isg].mean()
    # ... and the ISG set is negatively enriched in preranked GSEA
    ranking, _ = ranking_from_results(res)
    table, _, _ = run_prerank(ranking, {k: sets[k] for k in ("QUSAGE_ISG_227", "RICE_2013_6_ISG")},
                              contrast_id=contrast.id, permutations=200, seed=1)
    row = table.set_index("gene_set").loc["QUSAGE_ISG_227"]
    assert row["nes"] < 0 and row["fdr"] < 0.05
