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
    def broken(home: str, run_id: str):
        raise ValueError("plate reader exploded")

    def no_dashboard(run_dir: str, run_id: str) -> dict:
        return {}

    keep = {"clinical", "cytokines", "linking", "report"}
    steps = [(n, broken if n == "cytokines" else t, needs, tuple(a for a in after if a in keep))
             for n, t, needs, after in fa.STEPS if n in keep]
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


# --------------------------------------------------------------------------- the flow's shape, small study


def small_study():
    """The small-study helper module (loaded by path: the tests folder is not a package)."""
    import importlib.util
    import sys

    name = "myocit_small_study"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("small_study.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def small_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_study().small_home(tmp_path_factory.mktemp("small-study"))


def _when(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_threads_runner_runs_independent_steps_at_once_and_loses_no_record(small_home: Path, prefect_harness,
                                                                           monkeypatch) -> None:
    import threading

    import flows.trial_analysis as fa
    from flows.trial_analysis import trial_analysis

    from myocit_omics import analysis
    from myocit_omics.results import run_state

    monkeypatch.delenv("MYOCIT_TASK_RUNNER", raising=False)
    monkeypatch.setattr(fa, "CHILD_STEPS", ())  # all three in this process's threads, to meet below
    # The three independent steps meet at a barrier before doing their work: run one after the
    # other, the first would wait 120 s for the other two, the barrier would break and the step fail.
    first = ("clinical", "cytokines", "assemble_expression")
    barrier = threading.Barrier(len(first), timeout=120)
    met: list[str] = []

    def meeting(step: str, func):
        def wrapped(ctx):
            barrier.wait()
            met.append(step)
            return func(ctx)
        return wrapped

    for step in first:
        monkeypatch.setitem(analysis.STEP_FUNCTIONS, step, meeting(step, analysis.STEP_FUNCTIONS[step]))
    run_dir = Path(trial_analysis(home=str(small_home), run_id="threads"))
    assert run_dir == small_home / "results" / "threads"
    assert not (small_home / "results" / "threads.partial").exists()
    assert run_state(run_dir) == "complete"
    assert sorted(met) == sorted(first)
    manifest = json.loads((run_dir / "run_manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["plan"]["task_runner"] == "threads"
    steps = manifest["steps"]
    # every step's record is in the manifest (each wrote its own steps/<step>.json, merged at the end)
    assert {s: v["status"] for s, v in steps.items()} == {
        "clinical": "ok", "cytokines": "ok", "assemble_expression": "ok", "expression": "ok",
        "de": "ok", "composition": "ok", "linking": "ok", "report": "ok"}
    assert {p.stem for p in (run_dir / "steps").glob("*.json")} == set(steps)
    span = {s: (_when(v["started"]), _when(v["ended"])) for s, v in steps.items()}
    # dependants waited: expression after assembly, DE after expression and clinical, composition
    # after DE, linking after composition, report last
    assert span["expression"][0] >= span["assemble_expression"][1]
    assert span["de"][0] >= max(span["expression"][1], span["clinical"][1])
    assert span["composition"][0] >= span["de"][1]
    assert span["linking"][0] >= max(span["composition"][1], span["cytokines"][1])
    assert span["report"][0] >= max(end for s, (_, end) in span.items() if s != "report")
    assert (run_dir / "report.html").is_file()
    for contrast in ("W4_vs_W0", "W24_vs_W0"):
        assert (run_dir / "tables" / "de" / f"{contrast}.tsv").is_file()


def test_the_runner_setting_selects_the_runner(small_home: Path, prefect_harness, monkeypatch) -> None:
    from flows.runners import make_task_runner, runner_setting
    from flows.trial_analysis import trial_analysis
    from prefect.task_runners import ThreadPoolTaskRunner

    from myocit_omics.errors import InputError

    monkeypatch.delenv("MYOCIT_TASK_RUNNER", raising=False)
    assert runner_setting(None, {}) == "threads"
    assert runner_setting(None, {"task_runner": "dask"}) == "dask"
    monkeypatch.setenv("MYOCIT_TASK_RUNNER", "tcp://10.0.0.1:8786")
    assert runner_setting(None, {"task_runner": "dask"}) == "tcp://10.0.0.1:8786"
    assert runner_setting("threads", {"task_runner": "dask"}) == "threads"
    assert isinstance(make_task_runner("threads"), ThreadPoolTaskRunner)
    local = make_task_runner("dask", {"n_workers": 3})       # made, not started: no cluster yet
    assert type(local).__name__ == "DaskTaskRunner"
    assert local.cluster_kwargs == {"n_workers": 3, "threads_per_worker": 1, "processes": True,
                                    "dashboard_address": None}
    assert make_task_runner("dask://sched:8786").address == "tcp://sched:8786"
    with pytest.raises(InputError, match="unknown task runner"):
        make_task_runner("fibres")
    # a bad setting (here from the environment) refuses the run before any step or folder
    monkeypatch.setenv("MYOCIT_TASK_RUNNER", "fibres")
    state = trial_analysis(home=str(small_home), run_id="bad-runner", return_state=True)
    assert state.is_failed() and "task_runner" in state.message and "fibres" in state.message
    assert not list((small_home / "results").glob("bad-runner*"))


def test_the_default_runner_does_not_import_dask() -> None:
    import subprocess
    import sys

    code = ("import sys; from flows.runners import make_task_runner; import flows.trial_analysis; "
            "make_task_runner('threads'); print(sorted(m for m in ('dask', 'distributed', 'prefect_dask') "
            "if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_the_no_limit_answer_for_the_runs_tags_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    import cachetools
    import flows.trial_analysis as fa
    from prefect.concurrency import services

    monkeypatch.setattr(services, "_no_limits_cache", cachetools.TTLCache(maxsize=1000, ttl=5.0))
    assert fa.remember_tag_limits() is True
    assert services._no_limits_cache.ttl == fa.TAG_LIMITS_TTL
    assert services._no_limits_cache.maxsize == 1000
    monkeypatch.setattr(services, "_no_limits_cache", {})  # not the cache this expects: left alone
    assert fa.remember_tag_limits() is False
    assert services._no_limits_cache == {}


def test_side_steps_run_in_a_child_process_under_the_threads_runner(small_home: Path, prefect_harness,
                                                                    monkeypatch) -> None:
    import flows.trial_analysis as fa

    from myocit_omics.child_step import run_step_in_child

    monkeypatch.delenv("MYOCIT_TASK_RUNNER", raising=False)
    children: list[str] = []

    def spy(step: str, home: str, run_id: str, **kwargs):
        children.append(step)
        return run_step_in_child(step, home, run_id, **kwargs)

    monkeypatch.setattr(fa, "run_step_in_child", spy)
    run_dir = Path(fa.trial_analysis(home=str(small_home), run_id="children"))
    assert sorted(children) == sorted(fa.CHILD_STEPS) == ["clinical", "composition", "cytokines"]
    manifest = json.loads((run_dir / "run_manifest.json").read_text())
    assert manifest["status"] == "ok"
    steps = manifest["steps"]
    assert {s: steps[s]["status"] for s in children} == dict.fromkeys(children, "ok")
    assert (run_dir / "tables" / "clinical_outcomes.tsv").is_file()
    # composition started beside DE (not after it) and still compared its calls with DE's
    assert _when(steps["composition"]["started"]) < _when(steps["de"]["ended"])
    assert _when(steps["composition"]["ended"]) >= _when(steps["de"]["ended"])
    sens = pd.read_csv(run_dir / "tables" / "composition_de_sensitivity.tsv", sep="\t")
    assert sens["n_ifn_calls"].notna().all()  # DE's tables were there when it compared


def test_a_de_task_that_dies_without_its_record_does_not_hang_composition(small_home: Path, prefect_harness,
                                                                         monkeypatch) -> None:
    import flows.trial_analysis as fa
    from prefect import task

    @task(name="paired-de-gsea")
    def dies(home: str, run_id: str):
        raise RuntimeError("DE worker lost")  # before any record is written

    monkeypatch.delenv("MYOCIT_TASK_RUNNER", raising=False)
    monkeypatch.setattr(fa, "STEPS", [(n, dies if n == "de" else t, needs, after)
                                      for n, t, needs, after in fa.STEPS])
    state = fa.trial_analysis(home=str(small_home), run_id="de-dies", return_state=True)
    assert state.is_failed()
    manifest = json.loads((small_home / "results" / "de-dies" / "run_manifest.json").read_text())
    steps = manifest["steps"]
    assert steps["de"]["status"] == "failed" and "DE worker lost" in steps["de"]["error"]
    assert steps["composition"]["status"] == "ok" and steps["linking"]["status"] == "ok"
    sens = pd.read_csv(small_home / "results" / "de-dies" / "tables" / "composition_de_sensitivity.tsv",
                       sep="\t")
    assert sens["note"].str.contains("DE step not run").all()
