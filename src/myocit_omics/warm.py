"""Start what a run's steps will need while Prefect's temporary server starts.

``myocit analyze`` waits 5-7 s for Prefect's temporary server before the flow's first step, and
during that wait one of the two cores is idle (the server's start-up uses the other). The steps
then pay, inside the run and on saturated cores, for imports of a second or two each: the child
steps' (:mod:`myocit_omics.child_step`), the figure process's (:mod:`myocit_omics.drawing`) and
the flow's own (expression, DE, linking, report). :func:`warm_start` moves that work into the
wait: it starts a warm child per child step, the figure process with its plotting modules, and a
thread importing the in-process steps' modules. Nothing is computed ahead and no output changes:
only imports move. The flow calls :func:`wait_preloaded` before its first step, so no step's
code imports at the same time as the thread.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Iterable, Iterator

from myocit_omics import drawing
from myocit_omics.child_step import prestart, stop_warm

#: Modules the flow's own steps import (assemble, expression, DE, linking, report).
IN_PROCESS_MODULES = (
    "myocit_omics.study",
    "myocit_omics.expression.pipeline",
    "myocit_omics.de.pipeline",
    "myocit_omics.de.gsea",
    "myocit_omics.de.gsea_kernels",
    "myocit_omics.linking.pipeline",
    "myocit_omics.report",
)
#: Modules of the figures the figure process draws for those steps.
FIGURE_MODULES = (
    "myocit_omics.expression.plots",
    "myocit_omics.de.plots",
    "myocit_omics.linking.plots",
    "myocit_omics.report.figures",
)

#: Longest wait for Prefect's "Starting temporary server" line before importing anyway (s).
CUE_TIMEOUT = 5.0
#: Logger and text of Prefect's line announcing its temporary server (prefect.server.api.server).
CUE_LOGGER, CUE_TEXT = "prefect", "Starting temporary server"

_preloading: threading.Thread | None = None
_cue = threading.Event()


class _ServerCue(logging.Filter):
    """Set the cue when Prefect announces that it starts its temporary server (lets every record through)."""

    def filter(self, record: logging.LogRecord) -> bool:
        with contextlib.suppress(Exception):
            if CUE_TEXT in record.getMessage():
                _cue.set()
        return True


def _import_all(modules: tuple[str, ...], cue_timeout: float | None) -> None:
    if cue_timeout is not None:
        _cue.wait(cue_timeout)
    for name in modules:
        with contextlib.suppress(Exception):  # a step that needs it imports it again, and fails there
            importlib.import_module(name)


def preload(modules: Iterable[str] = IN_PROCESS_MODULES, *, cue_timeout: float | None = None
            ) -> threading.Thread:
    """Import ``modules`` in a background thread of this process; return the thread.

    With ``cue_timeout``, the thread first waits (at most that long) for Prefect's temporary
    server to be announced (:func:`warm_start` listens for it).
    """
    global _preloading
    _preloading = threading.Thread(target=_import_all, args=(tuple(modules), cue_timeout),
                                   name="myocit-preload", daemon=True)
    _preloading.start()
    return _preloading


def wait_preloaded(timeout: float | None = None) -> None:
    """Wait for :func:`preload`'s imports (nothing to wait for if none was started).

    A thread still waiting for its cue starts at once: the caller needs the modules now (a flow
    on a configured server, where no temporary server is announced, does not wait for the timeout).
    """
    thread = _preloading
    if thread is not None:
        _cue.set()
        thread.join(timeout)


@contextlib.contextmanager
def warm_start(child_steps: Iterable[str] = (), *, modules: Iterable[str] = IN_PROCESS_MODULES,
               figure_modules: Iterable[str] = FIGURE_MODULES) -> Iterator[list[str]]:
    """Start warm children for ``child_steps``, the figure process and the imports; yield the warm steps.

    On leaving, the warm children never given a run are ended and the import thread is waited
    for (the figure process ends at exit, as it always does). Call it from the main thread.
    """
    cue, announcer = _ServerCue(), logging.getLogger(CUE_LOGGER)
    _cue.clear()
    announcer.addFilter(cue)
    warm = prestart(child_steps)
    drawing.start(tuple(figure_modules))
    preload(modules, cue_timeout=CUE_TIMEOUT)
    try:
        yield warm
    finally:
        announcer.removeFilter(cue)
        _cue.set()
        stop_warm()
        wait_preloaded()
