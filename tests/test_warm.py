"""Warm start: imports wait for Prefect's server announcement, children and figure process start ahead."""

from __future__ import annotations

import logging
import sys
import time

import pytest

from myocit_omics import drawing, warm
from myocit_omics.child_step import warm_children


@pytest.fixture
def no_figure_process(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(drawing.ENV_VAR, "inline")
    yield
    drawing.shutdown()


def test_the_imports_wait_for_the_servers_announcement(no_figure_process, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=warm.CUE_LOGGER)  # as Prefect's logging setup has it
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)  # a small module, imported by the thread
    monkeypatch.setattr(warm, "CUE_TIMEOUT", 30.0)
    with warm.warm_start((), modules=("colorsys",), figure_modules=()) as started:
        assert started == []
        time.sleep(0.3)
        assert warm._preloading.is_alive() and "colorsys" not in sys.modules  # waiting for its cue
        logging.getLogger(warm.CUE_LOGGER).info("Starting temporary server on http://127.0.0.1:1")
        warm._preloading.join(10)  # the line alone lets it go
        assert not warm._preloading.is_alive() and "colorsys" in sys.modules
    # the listener is gone
    assert not any(isinstance(f, warm._ServerCue) for f in logging.getLogger(warm.CUE_LOGGER).filters)


def test_without_an_announcement_the_imports_go_after_the_timeout(no_figure_process, monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    monkeypatch.setattr(warm, "CUE_TIMEOUT", 0.2)
    with warm.warm_start((), modules=("colorsys",), figure_modules=()):
        warm.wait_preloaded(10)
        assert "colorsys" in sys.modules


def test_a_flow_that_needs_the_modules_does_not_wait_for_the_cue(no_figure_process, monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    monkeypatch.setattr(warm, "CUE_TIMEOUT", 60.0)  # e.g. a configured server: no announcement comes
    with warm.warm_start((), modules=("colorsys",), figure_modules=()):
        t0 = time.perf_counter()
        warm.wait_preloaded()
        assert time.perf_counter() - t0 < 10 and "colorsys" in sys.modules


def test_warm_children_started_for_a_run_end_with_it(no_figure_process):
    with warm.warm_start(("clinical", "cytokines"), modules=(), figure_modules=()) as started:
        assert started == ["clinical", "cytokines"]
        assert set(warm_children()) == {"clinical", "cytokines"}
    assert warm_children() == {}
