from __future__ import annotations

from myocit_omics import progress


def test_report_without_listener_does_nothing_and_listeners_nest():
    progress.report(0.5, "nobody listens")  # must not fail
    outer, inner = [], []
    with progress.reporting(lambda f, m: outer.append((f, m))):
        progress.report(0.25, "a")
        with progress.reporting(lambda f, m: inner.append((f, m))):
            progress.report(2.0, "b")  # clipped to 1
        progress.report(-1, "c")  # clipped to 0
    progress.report(0.9, "after")
    assert outer == [(0.25, "a"), (0.0, "c")]
    assert inner == [(1.0, "b")]
