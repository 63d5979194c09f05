"""Figures drawn in the figure process: the same bytes, errors kept, nothing lost if it dies, nothing left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myocit_omics import drawing
from myocit_omics.clinical.plots import tis_waterfall
from myocit_omics.de.plots import ma_plot, volcano_plot
from myocit_omics.processes import session_nice as _session_nice

REPO = Path(__file__).resolve().parents[1]


def _de_table(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.uniform(1e-8, 1, n)
    return pd.DataFrame({"gene_name": [f"G{i}" for i in range(n)], "base_mean": rng.uniform(1, 1e4, n),
                         "log2_fc": rng.normal(0, 1.5, n), "stat": rng.normal(0, 3, n), "p_value": p,
                         "padj": np.minimum(p * 20, 1.0)})


def _response() -> pd.DataFrame:
    return pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "tis_w24": [75.0, 35.0, 5.0],
                         "response_w24": ["major", "minimal", "none"]})


def _draw_three(folder: Path) -> list[Path]:
    table = _de_table()
    volcano_path, ma_path = folder / "volcano.png", folder / "ma.png"
    drawing.call(volcano_plot, table, volcano_path, title="W4_vs_W0", highlight=["G1"])
    drawing.call(ma_plot, table, ma_path, title="W4 vs W0")
    waterfall = drawing.figure(folder / "tis.png", tis_waterfall, _response(), title="TIS")
    return [volcano_path, ma_path, waterfall]


@pytest.fixture
def figure_process(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(drawing.ENV_VAR, "process")
    yield
    drawing.shutdown()


def test_the_figure_process_writes_the_same_bytes_as_drawing_inline(tmp_path, figure_process, monkeypatch):
    (tmp_path / "process").mkdir()
    (tmp_path / "inline").mkdir()
    with drawing.drawing():
        in_process = _draw_three(tmp_path / "process")
        helper = drawing._get_helper()
        assert helper is not None and helper.proc.pid != os.getpid()
    assert all(p.is_file() for p in in_process)  # the block ends once every figure is saved
    monkeypatch.setenv(drawing.ENV_VAR, "inline")
    with drawing.drawing():
        inline = _draw_three(tmp_path / "inline")
    for a, b in zip(in_process, inline, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert not list(tmp_path.rglob("*.tmp*"))  # no temporary file left beside them


def test_outside_a_drawing_block_a_figure_is_drawn_at_once(tmp_path, figure_process):
    path = drawing.figure(tmp_path / "tis.png", tis_waterfall, _response())
    assert path.is_file()
    assert drawing._helper is None  # no process was started for it


def test_a_figure_that_fails_fails_the_block_after_the_others_are_saved(tmp_path, figure_process):
    broken = _de_table().drop(columns=["p_value"])
    with pytest.raises(KeyError, match="p_value"), drawing.drawing():
        drawing.call(volcano_plot, broken, tmp_path / "broken.png", title="x")
        drawing.call(ma_plot, _de_table(), tmp_path / "ma.png", title="x")
    assert (tmp_path / "ma.png").is_file()
    assert not (tmp_path / "broken.png").exists()


def test_the_blocks_own_error_wins_and_is_not_masked(tmp_path, figure_process):
    with pytest.raises(ZeroDivisionError), drawing.drawing():
        drawing.call(ma_plot, _de_table(), tmp_path / "ma.png", title="x")
        1 / 0  # noqa: B018 (the step's own failure)


def test_a_killed_figure_process_costs_time_not_figures(tmp_path, figure_process):
    with drawing.drawing():
        drawing.call(ma_plot, _de_table(), tmp_path / "first.png", title="x")
    helper = drawing._get_helper()
    assert helper is not None
    os.kill(helper.proc.pid, signal.SIGKILL)
    helper.proc.wait(timeout=10)
    with drawing.drawing():
        paths = _draw_three(tmp_path)
    assert all(p.is_file() for p in paths)
    assert drawing._get_helper() is not helper  # a new one replaced the dead one


def test_the_figure_process_ends_with_shutdown_and_with_its_parent(tmp_path, figure_process):
    with drawing.drawing():
        drawing.call(ma_plot, _de_table(), tmp_path / "ma.png", title="x")
    pid = drawing._get_helper().proc.pid
    drawing.shutdown()
    assert not _alive(pid)

    # a parent that dies without cleaning up (os._exit: no atexit) takes the figure process along
    script = ("import os, sys\n"
              "from myocit_omics import drawing\n"
              "helper = drawing._get_helper()\n"
              "print(helper.proc.pid, flush=True)\n"
              "os._exit(0)\n")
    env = {**os.environ, drawing.ENV_VAR: "process", "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}"
           f"{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                         check=True)
    orphan = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(orphan)


def test_an_unknown_setting_means_the_figure_process_and_says_so(monkeypatch, caplog):
    monkeypatch.setenv(drawing.ENV_VAR, "threads")
    with caplog.at_level("WARNING", logger="myocit_omics.drawing"):
        assert drawing.mode() == "process"
    assert "MYOCIT_FIGURES" in caplog.text and "'threads'" in caplog.text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_result_drawn_later_comes_back_with_its_error(figure_process):
    with drawing.drawing():
        total = drawing.later(sum, [1, 2, 3])
        broken = drawing.later(int, "not a number")
        assert isinstance(total, drawing._Pending)  # sent to the figure process, not computed here
        assert total() == 6
        with pytest.raises(ValueError, match="not a number"):
            broken()
    # outside a drawing block it is computed at once
    assert drawing.later(sum, [4, 5])() == 9


def test_a_report_section_collects_its_figures_and_keeps_their_errors(figure_process):
    from myocit_omics.report.sections import Section

    sec = Section("ifn", "IFN")
    sec.figure(lambda: None)  # a figure that had nothing to show is dropped
    sec.text("between")
    sec.figure(drawing._Ready("figure"))
    sec.resolve()
    assert sec.blocks == [("text", "between"), ("figure", "figure")]
    with drawing.drawing():
        sec.figure(drawing.later(int, "x"))  # fails in the figure process
        with pytest.raises(ValueError):
            sec.resolve()


def test_a_figure_process_started_ahead_draws_the_same_bytes(tmp_path, figure_process, monkeypatch):
    assert drawing.start(("myocit_omics.de.plots", "myocit_omics.clinical.plots"))
    pid = drawing._get_helper().proc.pid
    if _session_nice(pid) is not None and os.geteuid() == 0:
        # importing ahead at the lowest session priority, until its first job
        deadline = time.monotonic() + 10
        while _session_nice(pid) != 19 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _session_nice(pid) == 19
    (tmp_path / "ahead").mkdir()
    (tmp_path / "inline").mkdir()
    with drawing.drawing():
        ahead = _draw_three(tmp_path / "ahead")
    assert drawing._get_helper().proc.pid == pid  # the process started ahead drew them
    if _session_nice(pid) is not None and os.geteuid() == 0:
        assert _session_nice(pid) == 0  # back to the run's priority with its first job
    monkeypatch.setenv(drawing.ENV_VAR, "inline")
    assert not drawing.start(("myocit_omics.de.plots",))  # nothing to start ahead when drawing inline
    with drawing.drawing():
        inline = _draw_three(tmp_path / "inline")
    for a, b in zip(ahead, inline, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
