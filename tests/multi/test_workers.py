"""Deployments on a process work pool of the shared PostgreSQL server, run by two `prefect worker`s.

No `myocit dashboard` serves anything here: the demo is handed in through the ingest-batch
deployment and trial-analysis runs through the API, as the dashboard's Run buttons do. The
runs, task runs and artifact keys are found as in tests/flows/test_dashboard_server.py. A
worker killed mid-run leaves its run Crashed (heartbeats stop, the automation registered by
`myocit deploy` marks it), and a retry completes on the other worker.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from myocit_omics.config import load_study_config
from myocit_omics.report.tree import slugify

REPO = Path(__file__).resolve().parents[2]
POOL = "myocit-test"
RUN_ID = "pg-e2e"
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


class Pool:
    """The home, the registered deployments and the two workers of this module."""

    def __init__(self, home: Path, deployments: dict[str, str], workers: list, api) -> None:
        self.home = home
        self.deployments = deployments
        self.workers = workers
        self.api = api
        self.runs: dict[str, dict] = {}

    def create(self, deployment: str, **parameters) -> dict:
        return self.api(f"/deployments/{self.deployments[deployment]}/create_flow_run",
                        {"parameters": parameters})

    def worker_of(self, flow_run_id: str) -> str | None:
        """The worker that ran this flow run: the run's own output ("View at .../<id>") is in its log.

        (Both workers may try to submit a run; the one the server refuses logs "Aborted submission".)
        """
        ran = [w.name for w in self.workers if f"flow-run/{flow_run_id}" in w.text()]
        assert len(ran) <= 1, ran
        return ran[0] if ran else None

    def logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.text()[-3000:]}" for w in self.workers)


@pytest.fixture(scope="module")
def pool(multi, installation, api, tmp_path_factory):
    work = tmp_path_factory.mktemp("workers")
    home = work / "home"
    home.mkdir()
    (home / "study.yaml").write_bytes((REPO / "data" / "demo" / "study.yaml").read_bytes())
    shutil.copytree(REPO / "data" / "demo" / "signatures", home / "signatures")  # named in study.yaml
    env = multi.client_env(installation)
    env.pop("PREFECT_API_URL")                       # given on the command line instead
    cmd = [sys.executable, "-m", "myocit_omics.cli", "deploy", "--home", str(home), "--pool", POOL,
           "--api-url", installation.api_url, "--inbox-interval", "3600", "--crash-after", "60"]
    res = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    deps = {d["name"]: d["id"] for d in api("/deployments/filter", {})}
    workers = []
    try:
        for name in ("w1", "w2"):
            workers.append(multi.Worker(installation, POOL, name, work,
                                        PREFECT_FLOWS_HEARTBEAT_FREQUENCY="30"))
        p = Pool(home, deps, workers, api)
        multi.dashboard_support().wait_for(
            lambda: len([w for w in api("/work_pools/" + POOL + "/workers/filter", {})
                         if w["status"] == "ONLINE"]) == 2,
            timeout=180, what="two online workers in the pool")
        yield p
    finally:
        for w in workers:
            w.stop()


def _wait(multi, p: Pool, run_id: str, timeout: float, states=TERMINAL) -> dict:
    try:
        return multi.wait_run(p.api, run_id, timeout=timeout, states=states)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{multi.run_logs(p.api, run_id)}\n{p.logs()}") from exc


def test_the_pool_holds_the_deployments_with_module_entrypoints(pool, api):
    deps = {d["name"]: d for d in api("/deployments/filter", {})}
    assert set(deps) == {"ingest-batch", "ingest-inbox", "trial-analysis"}
    assert {d["work_pool_name"] for d in deps.values()} == {POOL}
    assert deps["trial-analysis"]["entrypoint"] == "flows.trial_analysis.trial_analysis"
    assert deps["ingest-batch"]["global_concurrency_limit"]["limit"] == 1
    assert api(f"/work_pools/{POOL}")["type"] == "process"
    names = [a["name"] for a in api("/automations/filter", {})]
    assert names.count("myocit: crash flow runs whose heartbeats stop") == 1


def test_demo_handed_in_and_analysed_by_two_workers(multi, pool, api):
    support = multi.dashboard_support()
    batches = sorted(p for p in (REPO / "data" / "demo" / "batches").iterdir() if p.is_dir())
    ingests = [pool.create("ingest-batch", batch_path=str(b), submitted_by="worker-test") for b in batches]
    for run in ingests:
        fr = _wait(multi, pool, run["id"], 600)
        assert fr["state_type"] == "COMPLETED", multi.run_logs(api, run["id"])
    # intake is one hand-in at a time (deployment concurrency limit 1): no two ingest runs overlapped
    spans = sorted((api(f"/flow_runs/{r['id']}")["start_time"], api(f"/flow_runs/{r['id']}")["end_time"])
                   for r in ingests)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans
    from myocit_omics.store import StudyStore

    stored = {b.name for b in StudyStore(pool.home).batches()}
    assert {b.name for b in batches} <= stored

    trial = pool.create("trial-analysis", run_id=RUN_ID)
    _wait(multi, pool, trial["id"], 600, states=("RUNNING", *TERMINAL))
    # while one worker (limit 1 each) runs the analysis, a hand-in goes to the other one
    again = pool.create("ingest-batch", batch_path=str(batches[0]), submitted_by="worker-test")
    assert _wait(multi, pool, again["id"], 600)["state_type"] == "COMPLETED"
    fr = _wait(multi, pool, trial["id"], 1500)
    assert fr["state_type"] == "COMPLETED", f"{multi.run_logs(api, trial['id'])}\n{pool.logs()}"
    by_trial, by_again = pool.worker_of(trial["id"]), pool.worker_of(again["id"])
    assert {by_trial, by_again} == {"w1", "w2"}, pool.logs()

    # the completed run, found by name, with its task runs and every artifact key
    runs = api("/flow_runs/filter", {"flow_runs": {"name": {"any_": [f"trial-analysis/{RUN_ID}"]}}})
    assert [r["id"] for r in runs] == [trial["id"]]
    assert runs[0]["deployment_id"] == pool.deployments["trial-analysis"]
    from flows.trial_analysis import STEPS, artifacts_task

    expected = {t.name for _, t, *_ in STEPS} | {artifacts_task.name}
    flt = {"flow_runs": {"id": {"any_": [trial["id"]]}}}

    def all_recorded():
        trs = api("/task_runs/filter", flt)
        done = {t["name"] for t in trs if t["state_type"] == "COMPLETED"}
        return trs if expected <= done else None

    support.wait_for(all_recorded, timeout=90, what=f"completed task runs {sorted(expected)}")
    arts = api("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [trial["id"]]}}})
    keys = {a["key"] for a in arts if a["key"]}
    config = load_study_config(pool.home / "study.yaml")
    want = {"qc-summary", "ifn-scores", "ifn-summary", "clinical-response", "report-link",
            "analysis-progress", "expression-progress", "de-progress"}
    want |= {f"{p}-{slugify(c.id)}" for c in config.contrasts for p in ("de-top", "gsea-top")}
    assert want <= keys, sorted(want - keys)
    results = pool.home / "results"
    assert (next(results.glob(f"{RUN_ID}*")) / "report.html").is_file()


def test_a_killed_worker_leaves_its_run_crashed_and_a_retry_completes(multi, pool, api):
    first = pool.create("trial-analysis")
    fr = _wait(multi, pool, first["id"], 600, states=("RUNNING", *TERMINAL))
    assert fr["state_type"] == "RUNNING", fr["state"]
    # a second analysis of the same study waits for the first (deployment concurrency limit 1)
    second = pool.create("trial-analysis")
    time.sleep(15)
    waiting = api(f"/flow_runs/{second['id']}")
    assert waiting["state_type"] in ("SCHEDULED", "PENDING"), waiting["state"]
    assert api(f"/flow_runs/{first['id']}")["state_type"] == "RUNNING"
    api(f"/flow_runs/{second['id']}/set_state",
        {"state": {"type": "CANCELLED", "message": "not needed by the test"}, "force": True})

    victim = next(w for w in pool.workers if w.name == pool.worker_of(first["id"]))
    survivor = next(w for w in pool.workers if w is not victim)
    time.sleep(5)                                   # let the run get into its steps
    assert api(f"/flow_runs/{first['id']}")["state_type"] == "RUNNING"
    killed = victim.kill_hard()
    assert len(killed) >= 2                         # the worker and the flow-run process it started

    crashed = _wait(multi, pool, first["id"], 300)
    assert crashed["state_type"] == "CRASHED", crashed["state"]
    assert "heartbeat" in crashed["state"]["message"]

    # retry (what the dashboard's Retry button does): the surviving worker completes it
    api(f"/flow_runs/{first['id']}/set_state",
        {"state": {"type": "SCHEDULED", "name": "AwaitingRetry", "message": "retry"}, "force": True})
    done = _wait(multi, pool, first["id"], 1500)
    assert done["state_type"] == "COMPLETED", f"{multi.run_logs(api, first['id'])}\n{pool.logs()}"
    assert done["run_count"] >= 2
    assert first["id"] in survivor.text()
    history = [st["type"] for st in api(f"/flow_run_states/?flow_run_id={first['id']}")]
    assert "CRASHED" in history and history[-1] == "COMPLETED", history
