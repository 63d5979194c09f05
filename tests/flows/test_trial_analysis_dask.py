"""trial-analysis on the Dask task runner (a 2-worker LocalCluster) writes the same tables as on threads."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.dask, pytest.mark.flow, pytest.mark.slow]


def _small_study():
    name = "myocit_small_study"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("small_study.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _tables(run_dir: Path) -> dict[str, bytes]:
    root = run_dir / "tables"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_dask_runner_writes_byte_identical_tables(tmp_path_factory, prefect_harness, monkeypatch):
    from flows.trial_analysis import trial_analysis
    from threadpoolctl import threadpool_limits

    from myocit_omics.results import run_state

    home = _small_study().small_home(tmp_path_factory.mktemp("dask-runner"))
    monkeypatch.delenv("MYOCIT_TASK_RUNNER", raising=False)
    # Dask workers run BLAS on one thread (the nanny sets OPENBLAS_NUM_THREADS=1); the threads run
    # does the same here, since a multi-threaded BLAS sums in another order (last-bit differences):
    # in this process by threadpoolctl, in the steps' child processes by the environment
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    with threadpool_limits(limits=1, user_api="blas"):
        threads = Path(trial_analysis(home=str(home), run_id="on-threads"))
    on_dask = Path(trial_analysis(home=str(home), run_id="on-dask", task_runner="dask"))
    assert run_state(threads) == run_state(on_dask) == "complete"
    manifest = json.loads((on_dask / "run_manifest.json").read_text())
    assert manifest["plan"]["task_runner"] == "dask"
    assert {v["status"] for v in manifest["steps"].values()} == {"ok"}
    # the DE step ran on a Dask worker and sent its gene blocks to the same cluster
    assert "Dask" in json.dumps(manifest["steps"]["de"])
    a, b = _tables(threads), _tables(on_dask)
    assert len(a) >= 10 and set(a) == set(b)
    differ = sorted(name for name in a if a[name] != b[name])
    if differ:   # keep the evidence for the report
        keep = Path(tempfile.mkdtemp(prefix="myocit-dask-runner-diff-"))
        shutil.copytree(threads, keep / "on-threads")
        shutil.copytree(on_dask, keep / "on-dask")
        differ.append(f"runs kept in {keep}")
    assert differ == [], differ
