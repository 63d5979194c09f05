"""Every choice of the trial-analysis run form, driven through the REST API of a `myocit dashboard`.

Issue 18: each combination either completes with results for what it could do (checked
against the run's ``run-plan`` artifact) or is refused before any task run exists, with a
message naming the parameter and the fix; no run replaces or changes another run's folder;
two runs started together both complete with identical tables and one frozen reference.

The study is the small demo (tests/flows/small_study.py) with its RNA-seq batches only, so
that the completing runs take seconds; the server and the dashboard are started by the test
on a free loopback port (tests/browser/dashboard_support.py) and stopped at the end.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.flow]

HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


support = _load("myocit_dashboard_support", HERE.parent / "browser" / "dashboard_support.py")
small = _load("myocit_small_study", HERE / "small_study.py")


def _checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class Dashboard:
    def __init__(self, base: str, home: Path, deployment_id: str) -> None:
        self.base, self.home, self.deployment_id = base, home, deployment_id

    def start(self, **parameters) -> str:
        run = support.api(self.base, f"/deployments/{self.deployment_id}/create_flow_run",
                          {"parameters": parameters})
        return run["id"]

    def status(self, parameters: dict) -> tuple[int, str]:
        return support.api_status(self.base, f"/deployments/{self.deployment_id}/create_flow_run",
                                  {"parameters": parameters})

    def wait(self, run_ids: list[str], timeout: float = 600) -> dict[str, dict]:
        return {r: support._wait_run(self.base, r, timeout) for r in run_ids}

    def task_runs(self, run_id: str) -> int:
        return support.api(self.base, "/task_runs/count", {"flow_runs": {"id": {"any_": [run_id]}}})

    def plan(self, run_id: str) -> str:
        arts = support.api(self.base, "/artifacts/filter",
                           {"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": ["run-plan"]}}})
        assert len(arts) == 1, arts
        return str(arts[0]["data"])

    def n_runs(self) -> int:
        return support.api(self.base, "/flow_runs/count", {})


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    work = tmp_path_factory.mktemp("run-form")
    home = small.small_home(work, kinds=("rnaseq",))
    (work / "gmt").mkdir()
    port = support.free_port()
    proc, out = support.start_dashboard(home, port)
    base = f"http://127.0.0.1:{port}"
    try:
        def deployment():
            if proc.poll() is not None:
                raise RuntimeError(f"myocit dashboard exited:\n{out.read_text()[-3000:]}")
            deps = {d["name"]: d for d in support.api(base, "/deployments/filter", {})}
            return deps.get("trial-analysis")

        dep = support.wait_for(deployment, timeout=300, what="the trial-analysis deployment", interval=2)
        yield Dashboard(base, home, dep["id"])
    finally:
        support.stop_dashboard(proc)


def _gmt(folder: Path, name: str, sets: dict[str, list[str]]) -> str:
    path = folder / name
    path.write_text("".join(f"{k}\tfor the run-form test\t" + "\t".join(v) + "\n" for k, v in sets.items()))
    return str(path)


def test_every_form_choice_completes_or_is_refused_before_any_task(dashboard: Dashboard) -> None:
    d = dashboard
    gmt_dir = d.home.parent / "gmt"
    good = _gmt(gmt_dir, "isg.gmt", {"ISG_SMALL": ["IFI27", "IFI44L", "ISG15", "RSAD2", "SIGLEC1", "MX1"]})
    tiny = _gmt(gmt_dir, "tiny.gmt", {"NOT_MEASURED": ["NOSUCHGENE1", "NOSUCHGENE2", "NOSUCHGENE3"],
                                      "TWO_GENES": ["ISG15", "MX1"]})
    results = d.home / "results"

    # 1. what the typed form cannot express is refused by the server: no flow run is created
    before = d.n_runs()
    for bad in ({"visits": ["W99"]}, {"reference": "pooled:W99"}, {"contrasts": ["W8_vs_W0"]},
                {"run_id": "no/slash"}, {"task_runner": "fibres"}):
        code, text = d.status(bad)
        assert code == 409, (bad, code, text)
    assert d.n_runs() == before

    # 2. the first wave: refusals the form can offer, and two identical runs started together
    refused = {
        "reference": {"reference": "healthy_control"},                     # the demo has no controls
        "reference ": {"visits": ["W0", "W4"], "reference": "pooled:W24"},   # W24 not among the visits
        "contrasts": {"visits": ["W0", "W4"], "contrasts": ["W24_vs_W0"]},  # named, but W24 not chosen
        "gene_sets": {"gene_sets": [str(gmt_dir / "missing.gmt")]},
        "gene_sets ": {"gene_sets": [tiny]},
    }
    same = {"visits": ["W0", "W4"], "contrasts": ["W4_vs_W0"], "gene_sets": [good]}
    ids = {key: d.start(**params) for key, params in refused.items()}
    twins = [d.start(run_id="twin-a", **same), d.start(run_id="twin-b", **same)]
    done = d.wait([*ids.values(), *twins])
    fixes = {"reference": "healthy_control", "reference ": "pooled:W24", "contrasts": "W24_vs_W0",
             "gene_sets": "missing.gmt", "gene_sets ": "tiny.gmt"}
    for key, run_id in ids.items():
        fr = done[run_id]
        msg = fr["state"]["message"] or ""
        assert fr["state_type"] == "FAILED", (key, fr["state"])
        assert f"parameter {key.strip()}" in msg and "Fix:" in msg and fixes[key] in msg, (key, msg)
        assert d.task_runs(run_id) == 0, key                               # refused before any task
    assert sorted(p.name for p in results.iterdir()) == ["twin-a", "twin-b"]  # and no folder

    # two runs at once: both complete, identical tables, the frozen reference written once
    for r in twins:
        assert done[r]["state_type"] == "COMPLETED", done[r]["state"]
    a, b = results / "twin-a", results / "twin-b"
    tables_a = _checksums(a / "tables")
    assert tables_a and tables_a == _checksums(b / "tables")
    refs = sorted(p.name for p in (d.home / "references").glob("*.json"))
    assert refs == ["expression_reference_v1.json"], refs
    made = [json.loads((r / "run_manifest.json").read_text())["steps"]["expression"]["summary"]["reference"]
            ["created_this_run"] for r in (a, b)]
    assert sorted(made) == [False, True]
    plan = d.plan(twins[0])
    assert "W4_vs_W0" in plan and "W24_vs_W0" not in plan and "isg.gmt (1 of 1 sets usable)" in plan
    # at W0 and W4 the sequencing run holds whole patients: the paired design needs no batch term
    assert "DE covariate seq_batch left out of the design" in plan
    assert (a / "tables" / "de" / "W4_vs_W0.tsv").is_file()
    assert not (a / "tables" / "de" / "W24_vs_W0.tsv").exists()
    earlier = {r: _checksums(r) for r in (a, b)}

    # 3. the second wave: every other subset of the omics visits, each contrast alone, a repeated id
    wave = {
        "all": {"visits": ["W0", "W4", "W24"], "contrasts": ["W24_vs_W0"]},
        "w0-w24": {"visits": ["W0", "W24"]},                          # W4_vs_W0 left out, with a line
        "w4-w24": {"visits": ["W4", "W24"]},                          # no contrast: DE not run
        "w0": {"visits": ["W0"]},
        "w4": {"visits": ["W4"]},
        "w24": {"visits": ["W24"]},
    }
    ids = {key: d.start(run_id=key, **params) for key, params in wave.items()}
    again = d.start(run_id="twin-a", **same)
    done = d.wait([*ids.values(), again])
    msg = done[again]["state"]["message"] or ""
    assert done[again]["state_type"] == "FAILED" and "parameter run_id" in msg and "choose another" in msg
    assert d.task_runs(again) == 0
    for key, run_id in ids.items():
        assert done[run_id]["state_type"] == "COMPLETED", (key, done[run_id]["state"])
        manifest = json.loads((results / key / "run_manifest.json").read_text())
        assert manifest["status"] == "ok" and manifest["plan"]["visits"] == wave[key]["visits"]
        plan = d.plan(run_id)
        contrasts = [c["id"] for c in manifest["plan"]["contrasts"]]
        de_tables = {p.stem for p in (results / key / "tables" / "de").glob("*.tsv")}
        assert {c for c in ("W4_vs_W0", "W24_vs_W0") if c in de_tables} == set(contrasts), key
        if contrasts:
            assert manifest["steps"]["de"]["status"] == "ok"
        else:
            assert manifest["steps"]["de"]["status"] == "skipped"
            assert "de: no contrast can be run with the chosen visits" in plan
    assert "contrast W4_vs_W0: visit(s) W4 not among the chosen visits W0, W24" in d.plan(ids["w0-w24"])
    assert [c["id"] for c in json.loads((results / "w0-w24" / "run_manifest.json").read_text())["plan"]
            ["contrasts"]] == ["W24_vs_W0"]
    assert "frozen reference v1, reused" in d.plan(ids["w4-w24"])
    # nothing replaced or changed the earlier runs' folders
    assert {r: _checksums(r) for r in (a, b)} == earlier
    assert not list(results.glob("*.partial"))
