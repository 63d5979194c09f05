"""Under load and faults: 200 batches handed in through the served ingest-inbox deployment while an
analysis runs; the analysis is killed with SIGKILL in the middle of DE, then run again.

Afterwards the catalog is intact (SQLite integrity, every object and view), every batch is stored
exactly once, the killed run's folder is still ``results/<id>.partial`` with a manifest that says
``running`` (so ``run_state`` and ``myocit report`` call it incomplete, never finished), and the
new run completes. The figures are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from myocit_omics.processes import is_alive

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
N_BATCHES = 200


def _load(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _support():
    return _load("myocit_dashboard_support", HERE.parent / "browser" / "dashboard_support.py")


def _analyze(support, home: Path, run_id: str, api_url: str, log: Path) -> subprocess.Popen[bytes]:
    fh = open(log, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "myocit_omics.cli", "analyze", "--home", str(home),
                             "--run-id", run_id], cwd=REPO, env=support.cli_env(PREFECT_API_URL=api_url),
                            stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                            start_new_session=True)
    fh.close()
    return proc


def _hand_in(factory, inbox: Path, work: Path) -> None:
    """Write the batches outside the inbox, then rename each into it (a hand-in appears whole)."""
    inbox.mkdir(parents=True, exist_ok=True)
    for i in range(N_BATCHES):
        batch = factory.write_batch(work, "pk", name=f"load-{i:03d}", tag=f"L{i:03d}", seed=i,
                                    patients=["MYO-01", "MYO-02"], visits=["W4", "W24"])
        os.replace(batch, inbox / batch.name)


@pytest.mark.slow
@pytest.mark.flow
def test_200_batches_while_an_analysis_is_killed_mid_de_and_run_again(tmp_path, factory, capsys):
    from myocit_omics.results import run_state
    from myocit_omics.store import StudyStore

    support = _support()
    home = _load("myocit_small_study", HERE / "small_study.py").small_home(tmp_path / "study")
    store = StudyStore(home)
    n_before = len(store.batches())
    port = support.free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    dash, dash_out = support.start_dashboard(home, port, "--inbox-interval", "10")
    analysis = None
    try:
        def served():
            if dash.poll() is not None:
                raise RuntimeError(f"myocit dashboard exited ({dash.returncode}):\n{dash_out.read_text()}")
            names = {d["name"] for d in support.api(f"http://127.0.0.1:{port}", "/deployments/filter", {})}
            return "ingest-inbox" in names

        support.wait_for(served, timeout=300, what="the ingest-inbox deployment to be served", interval=2)

        t0 = time.monotonic()
        analysis = _analyze(support, home, "killed", api_url, tmp_path / "killed.log")
        partial = home / "results" / "killed.partial"
        support.wait_for(lambda: (partial / "run_manifest.json").is_file() or analysis.poll() is not None,
                         timeout=300, what="the run folder of the analysis")
        _hand_in(factory, home / "inbox", tmp_path / "outside")      # the inbox fills while it runs
        t_handed = time.monotonic()

        def in_de():
            if analysis.poll() is not None:
                raise RuntimeError(f"the analysis ended before DE: {(tmp_path / 'killed.log').read_text()}")
            steps = partial / "steps"
            return (steps / "expression.json").is_file() and not (steps / "de.json").is_file()

        support.wait_for(in_de, timeout=900, what="the analysis to reach DE", interval=0.2)
        time.sleep(2.0)                                   # well inside DE (about 20 s on this study)
        assert not (partial / "steps" / "de.json").exists()
        stored_at_kill = sum(b.name.startswith("load-") for b in store.batches())
        os.kill(analysis.pid, signal.SIGKILL)
        analysis.wait(timeout=30)
        t_killed = time.monotonic()
        assert analysis.returncode == -signal.SIGKILL

        def all_stored():
            names = [b.name for b in store.batches() if b.name.startswith("load-")]
            left = [p for p in (home / "inbox").iterdir() if not p.name.startswith(".")]
            return len(names) == N_BATCHES and not left

        support.wait_for(all_stored, timeout=900, what=f"{N_BATCHES} batches to be stored", interval=2)
        t_stored = time.monotonic()

        # the killed run: still .partial, its manifest says running, with the steps done before DE
        manifest = json.loads((partial / "run_manifest.json").read_text())
        assert manifest["status"] == "running" and manifest["pid"] == analysis.pid
        assert manifest["lock"]["sha256"]
        done = {p.stem: json.loads(p.read_text())["status"] for p in (partial / "steps").glob("*.json")}
        assert done.get("expression") == "ok" and "de" not in done and "report" not in done
        assert not (home / "results" / "killed").exists()
        assert run_state(partial) == "incomplete"
        rep = subprocess.run([sys.executable, "-m", "myocit_omics.cli", "report", str(partial)], cwd=REPO,
                             env=support.cli_env(), capture_output=True, text=True, timeout=600,
                             stdin=subprocess.DEVNULL, check=False)
        assert "INCOMPLETE" in rep.stdout + rep.stderr, rep.stdout + rep.stderr

        # the catalog: intact, every batch once
        assert store.verify() == []
        batches = store.batches()
        load = [b for b in batches if b.name.startswith("load-")]
        assert sorted(b.name for b in load) == [f"load-{i:03d}" for i in range(N_BATCHES)]
        assert len({b.batch_id for b in batches}) == len(batches) == n_before + N_BATCHES
        audit = store.audit()
        stored = audit[(audit["action"] == "stored") & audit["name"].str.startswith("load-")]
        assert len(stored) == N_BATCHES and stored["batch_id"].is_unique
        assert not (audit["action"] == "rejected").any()

        # the new run completes, on every batch, each once
        t_again = time.monotonic()
        again = _analyze(support, home, "after", api_url, tmp_path / "after.log")
        assert again.wait(timeout=1800) == 0, (tmp_path / "after.log").read_text()[-3000:]
        t_done = time.monotonic()
        final = home / "results" / "after"
        assert run_state(final) == "complete"
        after = json.loads((final / "run_manifest.json").read_text())
        assert after["status"] == "ok"
        ids = [entry["batch_id"] for entry in after["inputs"]]
        assert len(ids) == len(set(ids)) == n_before + N_BATCHES
        assert run_state(partial) == "incomplete"          # the killed run is not taken for finished
    finally:
        if analysis is not None and analysis.poll() is None:
            os.kill(analysis.pid, signal.SIGKILL)
            analysis.wait(timeout=30)
        code = support.stop_dashboard(dash)
    assert code == 0, dash_out.read_text()[-3000:]
    server_gone = support.wait_for(lambda: not support.server_pids(dash.pid) or None, timeout=30,
                                   what="the dashboard's server to exit")
    assert server_gone and not is_alive(dash.pid)
    with capsys.disabled():
        print(f"\nload-and-kill: {N_BATCHES} batches handed in {t_handed - t0:.0f} s after the analysis "
              f"started; {stored_at_kill} stored when it was killed (mid-DE, {t_killed - t0:.0f} s in); "
              f"all stored {t_stored - t0:.0f} s after the start; "
              f"the second run took {t_done - t_again:.0f} s; "
              f"killed run's manifest: status={manifest['status']!r}, steps={sorted(done.items())}, "
              f"run_state={run_state(partial)!r}; load {os.getloadavg()[0]:.1f}")
