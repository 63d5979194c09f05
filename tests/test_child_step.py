"""A step run in a child process: the same files and record, its log lines relayed, its failure reported."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from myocit_omics.analysis import run_step, start_run
from myocit_omics.child_step import StepFailed, run_step_in_child
from myocit_omics.cli import main as cli_main
from myocit_omics.manifest import read_step_records
from myocit_omics.processes import is_alive as _alive
from myocit_omics.processes import session_nice as _session_nice

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (DEMO / "batches").is_dir():
        pytest.fail("data/demo/batches is missing: the demo study must ship with the repository")
    home = tmp_path_factory.mktemp("demo-home")
    assert cli_main(["demo", "--home", str(home), "--no-analysis"]) == 0
    return home


def test_a_step_in_a_child_writes_what_it_writes_in_process(demo_home: Path) -> None:
    here = start_run(home=demo_home, run_id="here")
    child = start_run(home=demo_home, run_id="child")
    run_step("clinical", demo_home, "here")
    record = run_step_in_child("clinical", demo_home, "child")
    assert record["status"] == "ok"
    assert read_step_records(child.tree.root)["clinical"]["status"] == "ok"
    files = sorted(p.relative_to(here.tree.root) for p in here.tree.root.rglob("*")
                   if p.is_file() and p.suffix in (".tsv", ".png"))
    assert any(f.suffix == ".png" for f in files) and any(f.suffix == ".tsv" for f in files)
    for rel in files:
        assert (child.tree.root / rel).read_bytes() == (here.tree.root / rel).read_bytes(), rel


def test_a_failed_child_step_raises_its_recorded_reason(demo_home: Path) -> None:
    ctx = start_run(home=demo_home, run_id="no-expression")
    with pytest.raises(StepFailed, match="expression"):
        run_step_in_child("de", demo_home, "no-expression")
    record = read_step_records(ctx.tree.root)["de"]
    assert record["status"] == "failed" and "expression" in record["error"]


def test_a_child_without_a_record_says_how_it_ended(demo_home: Path) -> None:
    start_run(home=demo_home, run_id="bad-step")
    with pytest.raises(StepFailed, match=r"no_such_step ended \(exit code 1\) without writing its record"):
        run_step_in_child("no_such_step", demo_home, "bad-step")


def test_the_childs_log_lines_reach_the_callers_logger(demo_home: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    start_run(home=demo_home, run_id="logs")
    run_step("assemble_expression", demo_home, "logs")
    logger = logging.getLogger("test.child")
    with caplog.at_level(logging.INFO, logger="test.child"):
        run_step_in_child("expression", demo_home, "logs", logger=logger)
    warnings = [r for r in caplog.records if r.name == "test.child" and r.levelno == logging.WARNING]
    assert any("IFN reference is pooled:W0" in r.getMessage() for r in warnings)


def test_a_step_waits_for_another_only_when_started_to(tmp_path: Path) -> None:
    import threading
    import time

    from myocit_omics.manifest import awaiting, wait_for_step, write_step_record

    assert wait_for_step(tmp_path, "de") is None  # not started beside it: nothing to wait for
    with awaiting(["de"]):
        writer = threading.Timer(0.5, write_step_record, (tmp_path, "de"),
                                 {"status": "failed", "seconds": 0.0, "error": "lost"})
        t0 = time.perf_counter()
        writer.start()
        record = wait_for_step(tmp_path, "de", poll=0.05)
        assert time.perf_counter() - t0 >= 0.45
        assert record["status"] == "failed" and record["error"] == "lost"
        assert wait_for_step(tmp_path, "clinical") is None  # only the steps it was told to wait for


def _wait(predicate, timeout: float = 30.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_a_warm_child_is_used_for_its_step_and_writes_the_same_files(demo_home: Path) -> None:
    from myocit_omics.child_step import prestart, stop_warm, warm_children

    here = start_run(home=demo_home, run_id="warm-here")
    warm = start_run(home=demo_home, run_id="warm-child")
    try:
        assert prestart(["clinical"]) == ["clinical"]
        pid = warm_children()["clinical"]
        assert prestart(["clinical"]) == ["clinical"] and warm_children()["clinical"] == pid  # one per step
        run_step("clinical", demo_home, "warm-here")
        record = run_step_in_child("clinical", demo_home, "warm-child")
        assert "clinical" not in warm_children()  # taken: the next run of the step would start a child
        assert _wait(lambda: not _alive(pid), 10)  # it ran the step and ended
    finally:
        stop_warm()
    assert record["status"] == "ok"
    files = sorted(p.relative_to(here.tree.root) for p in here.tree.root.rglob("*")
                   if p.is_file() and p.suffix in (".tsv", ".png"))
    assert files
    for rel in files:
        assert (warm.tree.root / rel).read_bytes() == (here.tree.root / rel).read_bytes(), rel


def test_a_warm_child_never_given_a_run_ends_with_stop_warm(demo_home: Path) -> None:
    from myocit_omics.child_step import prestart, stop_warm, warm_children

    prestart(["cytokines"])
    pid = warm_children()["cytokines"]
    assert _alive(pid)
    stop_warm()
    assert warm_children() == {}
    assert _wait(lambda: not _alive(pid), 10)


def test_a_warm_childs_failure_is_reported_like_a_cold_ones(demo_home: Path) -> None:
    from myocit_omics.child_step import prestart, stop_warm

    ctx = start_run(home=demo_home, run_id="warm-no-expression")
    try:
        prestart(["de"])
        with pytest.raises(StepFailed, match="expression"):
            run_step_in_child("de", demo_home, "warm-no-expression")
    finally:
        stop_warm()
    assert read_step_records(ctx.tree.root)["de"]["status"] == "failed"


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="no Linux autogroup on this system")
def test_a_niced_child_lowers_its_session_too_and_a_warm_one_waits_at_the_lowest() -> None:
    import os
    import subprocess
    import sys

    from myocit_omics.child_step import prestart, stop_warm, warm_children

    # a process in its own session, as every child step is
    script = ("import os\nfrom myocit_omics.child_step import lower_priority\nlower_priority(10)\n"
              "print(os.nice(0), open('/proc/self/autogroup').read().split()[-1])\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         check=True, start_new_session=True)
    assert out.stdout.split() == ["10", "10"]

    try:
        prestart(["clinical"])
        pid = warm_children()["clinical"]
        # importing ahead, it takes only idle CPU: its session is at niceness 19
        assert _wait(lambda: _session_nice(pid) == 19, 10), _session_nice(pid)
    finally:
        stop_warm()
    assert os.nice(0) == 0  # nothing of this changed the caller's priority
