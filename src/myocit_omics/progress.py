"""Progress of long library steps, reported without the library knowing who listens.

A long step calls :func:`report` at its milestones; whoever runs it (the trial-analysis
flow, a CLI command) installs a listener with :func:`reporting`. With no listener,
:func:`report` does nothing, so the library stays free of Prefect and of terminal code.

Examples
--------
>>> seen = []
>>> with reporting(lambda fraction, message: seen.append((fraction, message))):
...     report(0.5, "half way")
>>> seen
[(0.5, 'half way')]
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

Listener = Callable[[float, str], None]

_LISTENER: ContextVar[Listener | None] = ContextVar("myocit_progress_listener", default=None)


@contextlib.contextmanager
def reporting(listener: Listener) -> Iterator[None]:
    """Send every :func:`report` made inside the block to ``listener(fraction, message)``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def report(fraction: float, message: str) -> None:
    """Report that a step is ``fraction`` (0-1) done, with a message a scientist understands."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(min(max(float(fraction), 0.0), 1.0), message)
