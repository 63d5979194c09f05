"""The composition step on the demo study: truth, dose, no drift, adjusted scores, report, artifact."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from myocit_omics.clinical.pipeline import run_clinical
from myocit_omics.composition.pipeline import run_composition
from myocit_omics.config import load_study_config
from myocit_omics.expression.pipeline import run_expression
from myocit_omics.linking.pipeline import run_linking
from myocit_omics.report.artifacts import build_artifacts
from myocit_omics.report.render import build_sections
from myocit_omics.report.tree import open_run
from myocit_omics.results import ResultsTree

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def _assemble():
    spec = importlib.util.spec_from_file_location(
        "demo_expression_test", DEMO.parents[1] / "tests" / "expression" / "test_demo.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._assemble


def _run(tmp_path: Path, batches: list[str], name: str, config) -> ResultsTree:
    tree = ResultsTree(tmp_path / name)
    _assemble()(batches).write_h5ad(tmp_path / f"{name}.h5ad")
    run_expression(tmp_path / f"{name}.h5ad", config=config, tree=tree, home=tmp_path / "home")
    b = DEMO / "batches"
    run_clinical(
        b / "clinical-coreset" / "patients.csv",
        b / "clinical-coreset" / "core_set.csv",
        None,
        config=config,
        tree=tree,
    )
    return tree


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    if not (DEMO / "batches" / "rnaseq-seq1").is_dir():
        pytest.skip("data/demo is not present")
    tmp = tmp_path_factory.mktemp("composition-demo")
    config = load_study_config(DEMO / "study.yaml")
    config.expression["plots"] = False
    config = config.model_copy(update={"linking": {"n_boot": 300, "n_perm": 299}})
    first = _run(tmp, ["rnaseq-seq1"], "r1", config)
    out1 = run_composition(
        first,
        config=config.model_copy(update={"composition": {"de_sensitivity": False, "plots": False}}),
        home=tmp / "home",
    )
    both = _run(tmp, ["rnaseq-seq1", "rnaseq-seq2"], "r2", config)
    out2 = run_composition(both, config=config, home=tmp / "home")
    run_linking(both, config=config)
    return first, both, out1, out2


def _table(tree: ResultsTree, name: str) -> pd.DataFrame:
    return pd.read_csv(tree.table(name), sep="\t", na_values=["NA"], keep_default_na=False)


@pytest.mark.slow
def test_estimates_follow_the_planted_cell_types_and_the_prednisone_dose(demo_runs):
    first, both, _, out = demo_runs
    truth = pd.read_csv(DEMO / "truth" / "rnaseq_samples.tsv", sep="\t", index_col="sample_id")
    comp = _table(both, "composition")
    comp = comp[comp["qc_pass"] & (comp["method"] == "marker_btm")]
    faults = json.loads((DEMO / "truth" / "faults.json").read_text())["rnaseq"]
    assert not set(comp["sample_id"]) & {faults["low_depth_sample"], *faults["swapped_samples"]}
    wide = comp.pivot(index="sample_id", columns="cell_type", values="estimate")
    rho = {
        ct: spearmanr(wide[ct], truth.loc[wide.index, f"{ct}_log2"])[0]
        for ct in ("neutrophil", "monocyte", "t_cell", "b_cell")
    }
    assert min(rho.values()) >= 0.9, rho
    neut = comp[comp["cell_type"] == "neutrophil"]
    assert neut["prednisone_mg_kg_day"].notna().all()
    rho_dose, p_dose = spearmanr(neut["estimate"], neut["prednisone_mg_kg_day"])
    assert rho_dose > 0.5 and p_dose < 1e-3, (rho_dose, p_dose)
    by_visit = neut.groupby("visit")["estimate"].median()
    assert by_visit["W0"] > by_visit["W4"] > by_visit["W24"]  # the dose tapers 2 -> 1.5 -> ~0.3 mg/kg/day
    assert set(out["cell_types"]) >= {"neutrophil", "monocyte", "t_cell", "b_cell", "nk_cell"}
    # the reference was frozen by the first run (seq1 alone): its W0 samples that passed QC
    c1 = _table(first, "composition")
    n_ref = c1.loc[c1["qc_pass"] & (c1["visit"] == "W0"), "sample_id"].nunique()
    assert f"frozen on the {n_ref} reference samples (pooled:W0)" in out["adjustment_method"]


@pytest.mark.slow
def test_adding_a_batch_changes_no_earlier_estimate_or_adjusted_score(demo_runs):
    first, both, _, _ = demo_runs
    for name, keys, value in (
        ("composition", ["sample_id", "cell_type", "method"], "estimate"),
        ("ifn_scores_adjusted", ["sample_id", "gene_set", "method"], "score"),
    ):
        a, b = _table(first, name), _table(both, name)
        merged = a.merge(b, on=keys, suffixes=("_1", "_2"))
        assert len(merged) == len(a) > 0
        assert np.allclose(merged[f"{value}_1"], merged[f"{value}_2"], atol=1e-9, equal_nan=True), name


@pytest.mark.slow
def test_adjusted_scores_sit_beside_the_unadjusted_and_de_sensitivity_and_partial_spearman_are_written(
    demo_runs,
):
    _, both, _, _ = demo_runs
    unadj, adj = _table(both, "ifn_scores"), _table(both, "ifn_scores_adjusted")
    assert "adjustment" not in unadj and len(adj) == len(unadj)
    assert (
        adj["adjustment"].str.startswith("per-gene residuals on the neutrophil, monocyte marker scores").all()
    )
    assert not np.allclose(adj["score"].to_numpy(float), unadj["score"].to_numpy(float), equal_nan=True)
    coef = _table(both, "composition_adjustment")
    assert {"gene", "coef_neutrophil", "coef_monocyte"} <= set(coef.columns) and len(coef) > 100
    sens = _table(both, "composition_de_sensitivity")
    assert list(sens["contrast"]) == ["W4_vs_W0", "W24_vs_W0"]
    assert (sens["n_ifn_calls_sensitivity"] > 0).all() and sens["design"].str.contains(
        "composition_monocyte"
    ).all()
    assert sens["note"].str.contains("DE step not run").all()  # no tables/de here: said, not invented
    part = _table(both, "linking_partial")
    assert len(part) > 0 and (part["analysis"] == "partial_spearman_change").all()
    ok = part["estimate"].notna()
    assert ok.mean() > 0.9
    assert (
        (part.loc[ok, "ci_low"] <= part.loc[ok, "estimate"] + 1e-9)
        & (part.loc[ok, "estimate"] <= part.loc[ok, "ci_high"] + 1e-9)
    ).all()
    assert part["note"].str.contains("given change in prednisone dose, change in monocyte").all()


@pytest.mark.slow
def test_report_section_and_dashboard_artifact(demo_runs):
    _, both, _, _ = demo_runs
    run = open_run(both.root)
    section = next(s for s in build_sections(run) if s.id == "composition")
    assert section.status == "ok" and section.title == "Blood composition"
    assert section.figures == 3  # by visit, per patient, against the prednisone dose
    titles = [b.title for k, b in section.blocks if k == "table"]
    assert "Median estimate by visit" in titles
    assert any(t.startswith("IFN-gene calls") for t in titles)
    assert any(t.startswith("Primary score") for t in titles)
    texts = [b for k, b in section.blocks if k == "text"]
    caveat = "Caveat: the coefficients were fitted on patient reference samples"
    assert any(t.startswith(caveat) for t in texts)
    spec = next(a for a in build_artifacts(both.root, run_id="demo") if a.key == "blood-composition")
    assert spec.kind == "table"
    cells = {r["cell_type"] for r in spec.content}
    assert {"neutrophil", "monocyte", "t_cell", "b_cell"} <= cells
    assert all(r["W0 n"] > 0 for r in spec.content)
