from __future__ import annotations

import pandas as pd
import pytest

from myocit_omics.config import Contrast, default_study_config
from myocit_omics.de import pipeline
from myocit_omics.de.fit import RESULT_COLUMNS
from myocit_omics.de.gsea import GSEA_COLUMNS, ORA_COLUMNS
from myocit_omics.errors import AnalysisError, ValidationFailed
from myocit_omics.genesets import IFN_SETS
from myocit_omics.results import ResultsTree


def _fail_qc(adata):
    adata.obs.loc["RNA-MYO-02-W24", ["qc_pass", "qc_reason"]] = [False, "low library size"]


@pytest.fixture(scope="module")
def keep_run(paired_h5ad_module, tmp_path_factory):
    path = paired_h5ad_module(_fail_qc, missing=(("MYO-03", "W4"),))
    cfg = default_study_config()
    cfg.de.update({"gsea_permutations": 100, "shrink": True})
    tree = ResultsTree(tmp_path_factory.mktemp("run") / "run-1")
    return pipeline.run_de(path, config=cfg, tree=tree), tree


def test_writes_one_table_per_contrast_in_the_contract_schema(keep_run):
    summary, tree = keep_run
    assert summary["contrasts"] == ["W4_vs_W0", "W24_vs_W0"]
    for cid in summary["contrasts"]:
        table = pd.read_csv(tree.table(f"de/{cid}"), sep="\t")
        assert tuple(table.columns) == RESULT_COLUMNS
        assert (table["contrast"] == cid).all() and len(table) == summary["genes_tested"]
        assert table["log2_fc_shrunk"].notna().mean() > 0.9
        gsea = pd.read_csv(tree.table(f"gsea/{cid}"), sep="\t")
        assert tuple(gsea.columns) == GSEA_COLUMNS
        for kind in ("volcano", "ma"):
            assert tree.plot(f"de/{cid}_{kind}").stat().st_size > 1000
        assert tree.plot(f"gsea/{cid}_rice6").is_file()


def test_planted_ifn_genes_are_the_most_down_regulated_at_w4(keep_run, planted_ifn):
    _, tree = keep_run
    table = pd.read_csv(tree.table("de/W4_vs_W0"), sep="\t")
    top = table.sort_values("stat").head(len(planted_ifn))
    assert set(top["gene_name"]) == set(planted_ifn)
    assert (top["padj"] < 0.05).all() and (top["log2_fc"] < -1.5).all()


def test_ifn_sets_are_the_most_negatively_enriched(keep_run):
    _, tree = keep_run
    gsea = pd.read_csv(tree.table("gsea/W4_vs_W0"), sep="\t").sort_values("nes")
    assert gsea.iloc[0]["gene_set"] in IFN_SETS and gsea.iloc[0]["nes"] < 0
    assert gsea.set_index("gene_set").loc["RICE_2013_6_ISG", "fdr"] < 0.05


def test_left_out_samples_unpaired_patients_and_rule_are_recorded(keep_run):
    summary, tree = keep_run
    assert summary["samples_left_out"] == {"RNA-MYO-02-W24": "failed QC (qc_pass false: low library size)"}
    assert summary["rule"]["name"] == "keep"
    assert summary["unpaired_patients"]["W4_vs_W0"] == {"MYO-03": ["W0", "W24"]}
    assert summary["unpaired_patients"]["W24_vs_W0"] == {"MYO-02": ["W0", "W4"]}
    assert summary["patients_dropped"] == {"W4_vs_W0": [], "W24_vs_W0": []}
    assert summary["n_samples"] == {"W4_vs_W0": 16, "W24_vs_W0": 16}  # 18 - missing - failed QC
    design = pd.read_csv(tree.table("de_design"), sep="\t")
    assert list(design["contrast"]) == ["W4_vs_W0", "W24_vs_W0"]
    assert design.loc[0, "unpaired_patients"] == "MYO-03(W0,W24)"


def test_rule_drop_and_the_responder_interaction(paired_h5ad, tmp_path):
    responders = ("MYO-01", "MYO-02", "MYO-03")
    path = paired_h5ad(missing=(("MYO-05", "W4"),), n_genes=120, responders=responders)
    cfg = default_study_config()
    cfg.de.update({"missing_visit_rule": "drop", "gsea": False, "ora": True})
    table = pd.DataFrame({"patient_id": [f"MYO-{i:02d}" for i in range(1, 7)],
                          "responder": ["yes", "yes", "yes", "no", "no", "no"]})
    tree = ResultsTree(tmp_path / "run")
    summary = pipeline.run_de(path, config=cfg, tree=tree, responders=table)
    assert summary["patients_dropped"]["W4_vs_W0"] == ["MYO-05"]
    assert summary["n_samples"]["W4_vs_W0"] == 10 and summary["n_samples"]["W24_vs_W0"] == 12
    assert "W4_vs_W0_x_responder" in summary["contrasts"]
    inter = pd.read_csv(tree.table("de/W4_vs_W0_x_responder"), sep="\t").set_index("gene_name")
    ifn = inter.loc[inter.index.str.match(r"^(IFI|ISG|MX|OAS|RSAD|IRF|LY6E|SIGLEC)")]
    # IFN genes fall (by 2.5 log2) only in responders: the interaction carries the fall
    assert ifn["log2_fc"].median() < -1.5 and (ifn["padj"] < 0.05).mean() > 0.8
    assert summary["interaction"]["design"] == "~ patient + visit + visit:responder"
    ora = pd.read_csv(tree.table("ora/W4_vs_W0_x_responder"), sep="\t")
    assert tuple(ora.columns) == ORA_COLUMNS and "down" in set(ora["direction"])
    assert not tree.table("gsea/W4_vs_W0").exists()
    assert inter["log2_fc_shrunk"].isna().all()  # shrinkage only when asked


def test_rank_deficient_covariate_fails_before_any_fit(paired_h5ad, tmp_path, monkeypatch):
    def edit(adata):
        adata.obs.loc[adata.obs["patient_id"] == "MYO-04", "seq_batch"] = "SEQ2"

    path = paired_h5ad(edit, n_genes=60)
    cfg = default_study_config()
    cfg.de.update({"covariates": ["seq_batch"]})

    def no_fit(*args, **kwargs):
        raise AssertionError("fit_model must not be called for a rank-deficient design")

    monkeypatch.setattr(pipeline, "fit_model", no_fit)
    with pytest.raises(AnalysisError) as err:
        pipeline.run_de(path, config=cfg, tree=ResultsTree(tmp_path / "run"))
    assert "MYO-04" in str(err.value) and "seq_batch=SEQ2" in str(err.value)
    assert not (tmp_path / "run" / "tables" / "de").exists()


def test_unknown_contrast_level_lists_valid_levels_before_fitting(paired_h5ad, tmp_path, monkeypatch):
    path = paired_h5ad(n_genes=60)
    cfg = default_study_config()
    cfg.contrasts.append(Contrast(id="W12_vs_W0", reference="W0", target="W12"))
    monkeypatch.setattr(pipeline, "fit_model", lambda *a, **k: pytest.fail("fitted"))
    with pytest.raises(ValidationFailed) as err:
        pipeline.run_de(path, config=cfg, tree=ResultsTree(tmp_path / "run"))
    assert "'W12'" in str(err.value) and "['W0', 'W24', 'W4']" in str(err.value)


def test_bad_de_parameters_are_refused_with_the_valid_keys():
    with pytest.raises(ValidationFailed) as err:
        pipeline.DEParams.from_config({"desing": "~ visit", "alpha": 2, "missing_visit_rule": "maybe"})
    rules = [p.rule for p in err.value.problems]
    assert rules.count("de.key") == 1 and "de.rule" in rules and "de.type" in rules
    assert "missing_visit_rule" in str(err.value)


def test_missing_qc_column_is_reported(paired_h5ad, tmp_path):
    path = paired_h5ad(lambda a: a.obs.drop(columns=["qc_pass"], inplace=True), n_genes=30)
    with pytest.raises(ValidationFailed, match="qc_pass"):
        pipeline.run_de(path, config=default_study_config(), tree=ResultsTree(tmp_path / "run"))


def test_enrichment_plots_are_the_ifn_sets_and_the_top_sets(keep_run):
    _, tree = keep_run
    gsea = pd.read_csv(tree.table("gsea/W4_vs_W0"), sep="\t")
    expected = pipeline.plotted_terms(gsea, pipeline.DEParams().gsea_plots)
    n_ifn = sum(t in IFN_SETS for t in gsea["gene_set"])
    assert len(expected) == n_ifn + min(3, len(gsea) - n_ifn)
    drawn = sorted(p.name for p in (tree.root / "plots" / "gsea").glob("W4_vs_W0_*.png")
                   if not p.name.startswith("W4_vs_W0_x_"))
    assert len(drawn) == len(expected)


def test_unknown_gsea_engine_is_refused_before_fitting():
    with pytest.raises(ValidationFailed, match="gsea_engine"):
        pipeline.DEParams.from_config({"gsea_engine": "fgsea"})
