"""The local Prefect server of `myocit dashboard`: the demo analysis run through its deployment is found
through the REST API with its task runs and every artifact key; typed forms refuse bad input; the
server is reused by its own study home only (signals and crashes: test_dashboard_lifecycle.py)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from myocit_omics.cli import main
from myocit_omics.cli.dashboard import PrefectServer
from myocit_omics.config import load_study_config
from myocit_omics.report.tree import slugify

REPO = Path(__file__).resolve().parents[2]

SUPPORT = Path(__file__).resolve().parents[1] / "browser" / "dashboard_support.py"


def _support():
    name = "myocit_dashboard_support"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SUPPORT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def dashboard(tmp_path_factory):
    support = _support()
    yield support.session(tmp_path_factory)
    support.finish()


def _post(s, path, body):
    return _support().api(s.base, path, body)


@pytest.mark.slow
@pytest.mark.flow
def test_the_trial_analysis_run_is_found_with_its_task_runs(dashboard):
    support = _support()
    fr = dashboard.flow_run
    assert fr["state_type"] == "COMPLETED", f"{fr['state']['message']}\n{dashboard.log()}"
    name = f"trial-analysis/{support.RUN_ID}"
    runs = _post(dashboard, "/flow_runs/filter", {"flow_runs": {"name": {"any_": [name]}}})
    assert [r["id"] for r in runs] == [fr["id"]]
    assert runs[0]["deployment_id"] == dashboard.deployments["trial-analysis"]["id"]
    config = load_study_config(dashboard.home / "study.yaml")
    assert {f"visit:{v}" for v in config.omics_visits} <= set(runs[0]["tags"])

    from flows.trial_analysis import STEPS, artifacts_task

    expected = {t.name for _, t, _, _ in STEPS} | {artifacts_task.name}
    flt = {"flow_runs": {"id": {"any_": [fr["id"]]}}}

    def all_recorded():   # task-run states arrive as events; give the server a moment to record them
        trs = _post(dashboard, "/task_runs/filter", flt)
        done = {t["name"] for t in trs if t["state_type"] == "COMPLETED"}
        return trs if expected <= done else None

    task_runs = support.wait_for(all_recorded, timeout=90, what=f"completed task runs {sorted(expected)}")
    assert _post(dashboard, "/task_runs/count", flt) == len(task_runs) >= len(expected)
    assert any(tag.startswith("modality:") for t in task_runs for tag in t["tags"])


@pytest.mark.slow
@pytest.mark.flow
def test_every_artifact_key_is_on_the_run(dashboard):
    fr = dashboard.flow_run
    arts = _post(dashboard, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [fr["id"]]}}})
    by_key = {a["key"]: a for a in arts if a["key"]}
    config = load_study_config(dashboard.home / "study.yaml")
    expected = {"qc-summary", "ifn-scores", "ifn-summary", "clinical-response", "report-link"}
    expected |= {f"{p}-{slugify(c.id)}" for c in config.contrasts for p in ("de-top", "gsea-top")}
    assert expected <= set(by_key), sorted(set(by_key))
    assert {by_key[k]["type"] for k in expected - {"ifn-summary", "report-link"}} == {"table"}
    assert by_key["ifn-summary"]["type"] == "markdown"
    assert any(a["type"] == "progress" and float(a["data"]) == 100 for a in arts)
    # the long steps have their own progress artifacts, finished, with the last milestone in words
    for key in ("analysis-progress", "expression-progress", "de-progress"):
        assert by_key[key]["type"] == "progress" and float(by_key[key]["data"]) == 100, key
    assert by_key["de-progress"]["description"].endswith(": done")

    # the IFN table is the by-visit summary of tables/ifn_scores.tsv, recomputed here from the TSV
    rows = json.loads(by_key["ifn-scores"]["data"])
    first = rows[0]
    raw = pd.read_csv(dashboard.run_dir / "tables" / "ifn_scores.tsv", sep="\t")
    sub = raw[(raw.gene_set == first["gene_set"]) & (raw.method == first["method"])
              & (raw.visit == first["visit"]) & raw.qc_pass.astype(bool)]
    assert first["n"] == sub.score.notna().sum()
    assert first["median"] == pytest.approx(sub.score.median(), rel=1e-3)
    assert {r["visit"] for r in rows} == set(config.omics_visits)

    for c in config.contrasts:
        top = json.loads(by_key[f"de-top-{slugify(c.id)}"]["data"])
        assert 0 < len(top) <= 20
        padj = [r["padj"] for r in top if r["padj"] is not None]
        assert padj == sorted(padj)
    link = by_key["report-link"]["data"]
    assert f"({(dashboard.run_dir / 'report.html').as_uri()})" in link
    assert (dashboard.run_dir / "report.html").is_file()

    latest = _post(dashboard, "/artifacts/latest/filter", {"artifacts": {"key": {"any_": ["ifn-scores"]}}})
    assert len(latest) == 1 and latest[0]["flow_run_id"] == fr["id"]


@pytest.mark.slow
@pytest.mark.flow
def test_deployments_offer_typed_forms_schedule_and_trigger(dashboard):
    support = _support()
    deps = dashboard.deployments
    config = load_study_config(dashboard.home / "study.yaml")
    visits = deps["trial-analysis"]["parameter_openapi_schema"]["properties"]["visits"]
    assert {"type": "string", "enum": config.visits} in [b.get("items") for b in visits["anyOf"]]
    path = f"/deployments/{deps['trial-analysis']['id']}/create_flow_run"
    code, text = support.api_status(dashboard.base, path, {"parameters": {"visits": ["W99"]}})
    assert code == 409 and "W99" in text
    form = deps["ingest-batch"]["parameter_openapi_schema"]
    assert "batch_path" in form["required"] and "submitted_by" in form["properties"]
    path = f"/deployments/{deps['ingest-batch']['id']}/create_flow_run"
    code, text = support.api_status(dashboard.base, path, {"parameters": {"submitted_by": "x"}})
    assert code == 409 and "batch_path" in text
    inbox = deps["ingest-inbox"]
    assert [s["schedule"].get("interval") for s in inbox["schedules"]] == [300.0]
    autos = _post(dashboard, "/automations/filter", {})
    assert any(a["actions"][0].get("deployment_id") == inbox["id"] for a in autos)
    # the batch handed in through the form ran, under a readable name
    assert dashboard.ingest_run["state_type"] == "COMPLETED", dashboard.log()
    assert dashboard.ingest_run["name"].startswith("ingest/")


@pytest.mark.slow
@pytest.mark.flow
def test_a_running_server_is_reused_by_its_own_home_only(dashboard, tmp_path):
    support = _support()
    port = int(dashboard.base.rsplit(":", 1)[1])
    proc, out = support.start_dashboard(dashboard.home, port, "--no-serve")
    assert proc.wait(timeout=120) == 0, out.read_text()
    assert "reused" in out.read_text()
    # another study home must not be served from this home's database
    proc, out = support.start_dashboard(tmp_path / "other-home", port, "--no-serve")
    assert proc.wait(timeout=120) == 2, out.read_text()
    text = out.read_text()
    assert "belongs to another study home" in text and str(dashboard.home / ".prefect") in text
    assert not (tmp_path / "other-home" / ".prefect" / "prefect.db").exists()


# --------------------------------------------------------------------------- quick checks, no server


def test_bad_options_are_clear_errors(tmp_path, capsys):
    assert main(["dashboard", "--home", str(tmp_path), "--port", "0"]) == 2
    assert "not a TCP port" in capsys.readouterr().err
    port = _support().free_port()
    assert main(["dashboard", "--home", str(tmp_path), "--api-url", f"http://127.0.0.1:{port}/api"]) == 2
    assert "no Prefect server answers" in capsys.readouterr().err


def test_a_port_held_by_another_program_is_refused(tmp_path, capsys):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code = main(["dashboard", "--home", str(tmp_path), "--port", str(port), "--no-serve"])
    assert code == 2
    assert "not a Prefect server" in capsys.readouterr().err
    assert not (tmp_path / ".prefect" / "prefect.db").exists()


def test_server_environment_is_local_and_quiet(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")
    env = PrefectServer(prefect_home=tmp_path, port=4321).environment()
    assert "PREFECT_API_URL" not in env                  # the UI must point at this server, not elsewhere
    assert env["PREFECT_SERVER_API_HOST"] == "127.0.0.1" and env["PREFECT_SERVER_API_PORT"] == "4321"
    assert env["PREFECT_HOME"] == str(tmp_path)
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false" and env["DO_NOT_TRACK"] == "1"
    assert env["PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT"] == "false"


@pytest.fixture
def demo_config_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "study.yaml").write_bytes((REPO / "data" / "demo" / "study.yaml").read_bytes())
    shutil.copytree(REPO / "data" / "demo" / "signatures", home / "signatures")  # named in study.yaml
    return home


def test_deployments_offer_the_study_choices(demo_config_home):
    from flows.deployments import INBOX_EVENT, build_deployments

    deps, left_out = build_deployments(demo_config_home, inbox_interval=120)
    assert left_out == {}
    by_name = {d.name: d for d in deps}
    assert set(by_name) == {"ingest-batch", "ingest-inbox", "trial-analysis"}
    config = load_study_config(demo_config_home / "study.yaml")
    props = by_name["trial-analysis"]._parameter_openapi_schema.properties
    assert props["visits"]["anyOf"][0]["items"]["enum"] == config.visits
    assert props["contrasts"]["anyOf"][0]["items"]["enum"] == [c.id for c in config.contrasts]
    assert {"pooled:W0", "healthy_control"} <= set(props["reference"]["anyOf"][0]["enum"])
    assert by_name["trial-analysis"].parameters == {"home": str(demo_config_home)}
    assert {f"visit:{v}" for v in config.omics_visits} <= set(by_name["trial-analysis"].tags)
    form = by_name["ingest-batch"]._parameter_openapi_schema
    assert form.required == ["batch_path", "submitted_by"]
    assert form.properties["batch_path"]["format"] == "path"
    inbox = by_name["ingest-inbox"]
    assert inbox.schedules[0].schedule.interval.total_seconds() == 120
    assert inbox.triggers[0].expect == {INBOX_EVENT}


def test_ingest_runs_are_named_after_the_batch(monkeypatch):
    import flows.deployments as fd

    def running(batch_path):
        monkeypatch.setattr(fd, "flow_run", types.SimpleNamespace(parameters={"batch_path": batch_path}))

    running("/in/rnaseq-seq2.zip")
    assert fd.ingest_run_name() == "ingest/rnaseq-seq2"
    running("/in/cytokine-p1/")
    assert fd.ingest_run_name() == "ingest/cytokine-p1"


FAILING_REPORT_RUN = r'''
import json, sys
import anndata as ad
import numpy as np
from prefect import task
import flows.trial_analysis as fa
import myocit_omics.report.render as render
from myocit_omics.analysis import open_context
from myocit_omics.results import write_h5ad

def broken(run):
    raise RuntimeError("renderer forced to fail")

render.render_html = broken

@task(name="small-anndata")
def small_anndata(home, run_id):
    ctx = open_context(home, run_id)
    write_h5ad(ad.AnnData(X=np.ones((3, 4), dtype=np.float32)), ctx.tree.anndata("small"))
    return {"summary": "wrote anndata/small.h5ad"}

# the real clinical step (tables), a small AnnData in place of the cytokine step, the real report step
keep = ("clinical", "cytokines", "report")
fa.STEPS = [(n, small_anndata if n == "cytokines" else t, needs, tuple(a for a in after if a in keep))
            for n, t, needs, after in fa.STEPS if n in keep]
state = fa.trial_analysis(home=sys.argv[1], run_id="report-fails", return_state=True)
print(json.dumps({"failed": state.is_failed(), "message": state.message}))
'''


@pytest.mark.slow
@pytest.mark.flow
def test_a_run_whose_report_fails_keeps_every_table_and_anndata(dashboard):
    import subprocess

    support = _support()
    res = subprocess.run([sys.executable, "-c", FAILING_REPORT_RUN, str(dashboard.home)], cwd=REPO,
                         env=support.cli_env(PREFECT_API_URL=f"{dashboard.base}/api"), capture_output=True,
                         text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    outcome = json.loads(res.stdout.strip().splitlines()[-1])
    assert outcome["failed"] and "report" in outcome["message"]
    run = dashboard.home / "results" / "report-fails"
    manifest = json.loads((run / "run_manifest.json").read_text())
    assert manifest["steps"]["report"]["status"] == "failed"
    assert "renderer forced to fail" in manifest["steps"]["report"]["error"]
    assert manifest["steps"]["clinical"]["status"] == "ok"
    for name in ("clinical_outcomes", "response_w24", "pk_exposure"):
        assert len(pd.read_csv(run / "tables" / f"{name}.tsv", sep="\t")) > 0, name
    import anndata as ad

    assert ad.read_h5ad(run / "anndata" / "small.h5ad").shape == (3, 4)
    assert not (run / "report.html").exists() and not list(run.glob(".report.html.*"))
    # and the dashboard still got the artifacts of the run, the report link saying it is missing
    name = "trial-analysis/report-fails"
    runs = _post(dashboard, "/flow_runs/filter", {"flow_runs": {"name": {"any_": [name]}}})
    arts = _post(dashboard, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [runs[0]["id"]]}}})
    by_key = {a["key"]: a for a in arts}
    assert "clinical-response" in by_key
    assert "not written" in by_key["report-link"]["description"]
