"""The trial-analysis flow end to end on the shipped demo study (slow: CI runs it)."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import pandas as pd
import pytest

from myocit_omics.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "data" / "demo"

pytestmark = [pytest.mark.slow, pytest.mark.flow]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (DEMO / "batches").is_dir():
        pytest.fail("data/demo/batches is missing: the demo study must ship with the repository")
    home = tmp_path_factory.mktemp("demo-home")
    code = cli_main(["demo", "--home", str(home), "--no-analysis"])
    assert code == 0
    return home


@pytest.fixture(scope="module")
def demo_run(demo_home: Path, prefect_harness) -> Path:
    from flows.trial_analysis import trial_analysis

    run_dir = Path(trial_analysis(home=str(demo_home), run_id="e2e"))
    return run_dir


def test_every_step_ran_and_the_manifest_says_so(demo_run: Path) -> None:
    manifest = json.loads((demo_run / "run_manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert {s: v["status"] for s, v in manifest["steps"].items()} == {
        "clinical": "ok", "cytokines": "ok", "assemble_expression": "ok", "expression": "ok",
        "de": "ok", "composition": "ok", "linking": "ok", "report": "ok",
    }
    kinds = {i["kind"] for i in manifest["inputs"]}
    assert kinds == {"rnaseq", "cytokine", "clinical", "pk"}
    assert all(len(f["sha256"]) == 64 for i in manifest["inputs"] for f in i["files"].values())
    assert manifest["software"]["pydeseq2"] != "not installed"
    assert manifest["seed"] is not None


def test_results_tree_has_the_contract_tables(demo_run: Path) -> None:
    tables = demo_run / "tables"
    for name in ("qc_samples", "ifn_scores", "cytokines_long", "cytokines_by_visit", "cytokine_qc",
                 "clinical_outcomes", "response_w24", "pk_exposure"):
        assert (tables / f"{name}.tsv").is_file(), name
    for contrast in ("W4_vs_W0", "W24_vs_W0"):
        de = pd.read_csv(tables / "de" / f"{contrast}.tsv", sep="\t")
        assert list(de.columns[:8]) == ["gene_id", "gene_name", "base_mean", "log2_fc", "lfc_se", "stat",
                                        "p_value", "padj"]
        assert (de["contrast"] == contrast).all()
    assert list(tables.glob("linking_*.tsv")), "no linking table"
    assert (demo_run / "report.html").stat().st_size > 10_000
    assert list((demo_run / "plots").rglob("*.png"))


def test_expression_anndata_is_readable_and_keeps_every_sample(demo_run: Path) -> None:
    assembled = ad.read_h5ad(demo_run / "anndata" / "assembled.h5ad")
    expr = ad.read_h5ad(demo_run / "anndata" / "expression.h5ad")
    # no sample is dropped silently: every assembled sample is in the QC table with a verdict
    qc = pd.read_csv(demo_run / "tables" / "qc_samples.tsv", sep="\t")
    assert set(qc["sample_id"]) == set(assembled.obs_names)
    failed = qc.loc[~qc["qc_pass"].astype(bool)]
    assert failed["qc_reason"].notna().all() and (failed["qc_reason"].astype(str).str.len() > 0).all()
    assert "counts" in expr.layers
    assert {"patient_id", "visit"} <= set(expr.obs.columns)


def test_a_failed_step_is_recorded_and_loses_nothing_else(demo_home: Path, prefect_harness,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.trial_analysis as fa
    from prefect import task

    @task(name="cytokines")
    def broken(ctx):
        raise ValueError("plate reader exploded")

    def no_dashboard(run_dir: str, run_id: str) -> dict:
        return {}

    steps = [(n, broken if n == "cytokines" else t, needs) for n, t, needs in fa.STEPS
             if n not in ("assemble_expression", "expression", "de")]
    monkeypatch.setattr(fa, "STEPS", steps)
    monkeypatch.setattr(fa, "artifacts_task", no_dashboard)
    state = fa.trial_analysis(home=str(demo_home), run_id="broken", return_state=True)
    assert state.is_failed()
    run = demo_home / "results" / "broken"
    manifest = json.loads((run / "run_manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["steps"]["cytokines"]["status"] == "failed"
    assert "plate reader exploded" in manifest["steps"]["cytokines"]["error"]
    assert manifest["steps"]["clinical"]["status"] == "ok"
    assert (run / "tables" / "clinical_outcomes.tsv").is_file()
    assert manifest["steps"]["report"]["status"] == "ok"
    assert (run / "report.html").is_file()
