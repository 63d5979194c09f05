"""run_linking on small tables written here, and on partial results trees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myocit_omics.config import default_study_config
from myocit_omics.errors import InputError
from myocit_omics.linking.pipeline import LINK_COLUMNS, run_linking
from myocit_omics.linking.stats import bh_qvalues
from myocit_omics.results import ResultsTree, write_tsv


def config(**linking):
    cfg = default_study_config()
    return cfg.model_copy(update={"linking": {"n_boot": 200, "n_perm": 499, **linking}})


def small_tree(tmp_path, *, with_pk=False):
    """12 patients; IFN falls more in those whose CMAS rises more (planted), one single-visit patient."""
    rng = np.random.default_rng(0)
    tree = ResultsTree(tmp_path / "run")
    ifn, cyto, clin, resp = [], [], [], []
    for i in range(12):
        pid = f"MYO-{i + 1:02d}"
        gain = rng.uniform(0, 1)  # 0 = no response, 1 = full response
        visits = ["W0"] if i == 11 else ["W0", "W4", "W24"]
        for v in visits:
            frac = {"W0": 0.0, "W4": 0.5, "W24": 1.0}[v] * gain
            for method, offset in (("mean_z", 0.0), ("median_fc", 1.0), ("ssgsea", 2.0)):
                ifn.append({"sample_id": f"RNA-{pid}-{v}", "patient_id": pid, "visit": v, "gene_set": "SET_A",
                            "method": method, "score": offset + 3 - 2.5 * frac + rng.normal(0, 0.1),
                            "n_genes": 6, "reference": "pooled:W0", "positive": True,
                            "qc_pass": not (pid == "MYO-03" and v == "W4")})
            cyto.append({"patient_id": pid, "visit": v, "analyte": "CXCL10", "value": 1.0,
                         "log2_value": 10 - 2 * frac + rng.normal(0, 0.2), "unit": "pg/mL",
                         "flag": "below_lloq" if i < 2 and v == "W24" else "ok",
                         "substitution": "none"})
            clin.append({"patient_id": pid, "visit": v, "cmas": 20 + 25 * frac, "mmt8": 50 + 25 * frac,
                         "physician_global": 6 - 5 * frac, "das_total": 12 - 10 * frac,
                         "tis": np.nan if v == "W0" else 90 * frac,
                         "prednisone_mg_kg_day": {"W0": 2.0, "W4": 1.5, "W24": 0.3}[v] + rng.normal(0, 0.1)})
        resp.append({"patient_id": pid, "tis_w24": 90 * gain if i != 11 else np.nan,
                     "response_w24": "major" if gain > 0.7 else "none",
                     "major_response_w24": "NA" if i == 11 else gain * 90 >= 70, "inactive_w24": "NA"})
    write_tsv(pd.DataFrame(ifn), tree.table("ifn_scores"))
    write_tsv(pd.DataFrame(cyto), tree.table("cytokines_by_visit"))
    write_tsv(pd.DataFrame(clin), tree.table("clinical_outcomes"))
    write_tsv(pd.DataFrame(resp), tree.table("response_w24"))
    if with_pk:
        write_tsv(pd.DataFrame({"patient_id": [f"MYO-{i + 1:02d}" for i in range(12)],
                                "dose_mg": 4, "n_samples": 4, "c_obs_mean": rng.uniform(5, 50, 12),
                                "auc_model": np.nan, "c_trough_model": np.nan, "method": "observed_only"}),
                  tree.table("pk_exposure"))
    return tree


def read(tree, name):
    return pd.read_csv(tree.table(name), sep="\t", na_values=["NA"], keep_default_na=False)


def test_full_run_tables_figures_and_planted_signs(tmp_path):
    tree = small_tree(tmp_path)
    out = run_linking(tree, config=config())
    assert out["methods"] == {"SET_A": "mean_z"}  # preferred over median_fc and ssgsea
    assert set(out["skipped"]) == {"pkpd"} and "pk_exposure" in out["skipped"]["pkpd"]
    for name in ("change", "correlation", "roc", "mixed"):
        df = read(tree, f"linking_{name}")
        assert list(df.columns) == LINK_COLUMNS
    change = read(tree, "linking_change").set_index(["biomarker", "comparison"])
    w4 = change.loc[("ifn:SET_A:mean_z", "W4 - W0")]
    assert w4["n"] == 10  # 11 patients with W4, MYO-03's W4 failed QC
    assert w4["estimate"] < 0 and w4["iqr_low"] <= w4["estimate"] <= w4["iqr_high"]
    assert any("failing QC" in n for n in out["notes"])
    # censored cytokine values are counted in every row of that cytokine (11 x 3 + 1 = 34 values)
    assert "2 of 34 values flagged (below_lloq 2" in change.loc[("cytokine:CXCL10", "W4 - W0"), "note"]
    corr = read(tree, "linking_correlation").set_index(["biomarker", "comparison"])
    assert corr.loc[("ifn:SET_A:mean_z", "W24 - W0 change vs change in cmas"), "estimate"] < -0.8
    assert corr.loc[("ifn:SET_A:mean_z", "W24 - W0 change vs change in physician_global"), "estimate"] > 0.8
    assert corr.loc[("ifn:SET_A:mean_z", "W24 - W0 change vs TIS"), "estimate"] < -0.8
    # BH across the biomarker panel within each comparison
    full = read(tree, "linking_correlation")
    for _, grp in full.groupby("comparison"):
        np.testing.assert_allclose(grp["q_value"], bh_qvalues(grp["p_value"].to_numpy()))
    roc = read(tree, "linking_roc")
    assert (roc["n"] == 11).all()  # the single-visit patient has no W24 outcome
    mixed = read(tree, "linking_mixed")
    assert set(mixed["comparison"]) == {"visit W4 vs W0", "visit W24 vs W0", "prednisone_mg_kg_day",
                                        "visit W4 vs W0 (model without dose)",
                                        "visit W24 vs W0 (model without dose)"}
    no_dose = mixed.set_index("comparison").loc["visit W24 vs W0 (model without dose)"]
    assert no_dose["estimate"] < 0 and no_dose["ci_high"] < 0  # the planted fall
    for plot in ("linking_trajectories", "linking_change_scatter", "linking_roc_ifn", "linking_roc_cytokine",
                 "tis_waterfall"):
        assert tree.plot(plot).is_file(), plot


def test_pkpd_with_observed_exposure_only(tmp_path):
    tree = small_tree(tmp_path, with_pk=True)
    run_linking(tree, config=config())
    pkpd = read(tree, "linking_pkpd").set_index("comparison")
    assert pkpd.loc["c_obs_mean vs fall W0 - W4", "n"] == 10
    assert "not available for any patient" in pkpd.loc["auc_model vs fall W0 - W4", "note"]


def test_absent_inputs_skip_parts_and_do_not_fail(tmp_path):
    tree = small_tree(tmp_path)
    for name in ("ifn_scores", "response_w24"):
        tree.table(name).unlink()
    out = run_linking(tree, config=config())
    assert {"roc", "mixed", "pkpd"} <= set(out["skipped"])
    assert read(tree, "linking_change")["biomarker"].unique().tolist() == ["cytokine:CXCL10"]
    empty = ResultsTree(tmp_path / "empty")
    out = run_linking(empty, config=config())
    assert set(out["skipped"]) == {"change", "correlation", "roc", "mixed", "pkpd"}


def test_configured_method_and_bad_config(tmp_path):
    tree = small_tree(tmp_path)
    out = run_linking(tree, config=config(primary_method="ssgsea"))
    assert out["methods"] == {"SET_A": "ssgsea"}
    with pytest.raises(InputError, match="one of"):
        run_linking(tree, config=config(primary_method="gsva"))
    with pytest.raises(InputError, match="unknown linking parameter"):
        run_linking(tree, config=config(alpha=0.1))
