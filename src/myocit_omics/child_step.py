"""Run one analysis step in a child Python process: real parallelism beside the flow's own steps.

Under the threads task runner every step runs in the flow's process, and Python runs one
thread at a time: the side steps (clinical, cytokines) started beside the expression chain
(assemble -> expression -> DE) did not use the second core, they slowed that chain down. Run in
a child process (``python -m myocit_omics.child_step STEP HOME RUN_ID``), a side step uses the
other core and the chain keeps its own.

The child is the same code (:func:`myocit_omics.analysis.run_step`): it writes the same files and
the same step record. Its log records and progress milestones come back to the caller (its
logger, :func:`myocit_omics.progress.report`), one JSON line each; any other output line is
logged as it is. The child runs in its own session and is killed if the
caller dies (:func:`myocit_omics.processes.spawn`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from myocit_omics import progress
from myocit_omics.drawing import ENV_VAR as FIGURES_VAR
from myocit_omics.processes import spawn, stop_group

#: Environment variable passing the child its niceness increment.
NICE_VAR = "MYOCIT_STEP_NICE"


class StepFailed(RuntimeError):
    """A step run in a child process failed; the message is the reason from its record."""


class _JsonLines(logging.Handler):
    """Write each log record as one JSON line on stdout (in the child)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = json.dumps({"level": record.levelno, "name": record.name, "message": self.format(record)})
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except Exception:  # pragma: no cover - logging must never fail the step
            self.handleError(record)


def _emit_progress(fraction: float, message: str) -> None:
    """Write a progress milestone as one JSON line on stdout (in the child)."""
    sys.stdout.write(json.dumps({"progress": float(fraction), "message": str(message)}) + "\n")
    sys.stdout.flush()


def _relay(line: str, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    try:
        entry = json.loads(line)
        if "progress" in entry:  # the child's milestone, to whoever listens here
            progress.report(float(entry["progress"]), str(entry["message"]))
            return
        level, message = int(entry["level"]), str(entry["message"])
    except (ValueError, KeyError, TypeError, AttributeError):
        level, message = logging.INFO, line
    logger.log(level, "%s", message)


def run_step_in_child(step: str, home: str | Path, run_id: str, *,
                      logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
                      after: Sequence[str] = (), nice: int = 0) -> dict[str, Any]:
    """Run ``step`` of run ``run_id`` in a child process; return its record.

    Parameters
    ----------
    step, home, run_id
        As for :func:`myocit_omics.analysis.run_step`.
    logger
        Where the child's log lines go (default: this module's logger).
    after
        Steps the child waits for, where it reads their output (:func:`myocit_omics.manifest.awaiting`):
        the caller starts it before they have finished.
    nice
        Niceness added to the child (``os.nice``): a step with time to spare yields the cores to
        the steps the run waits for.

    Returns
    -------
    dict
        The step record (``steps/<step>.json``), as :func:`~myocit_omics.analysis.run_step` returns it.

    Raises
    ------
    StepFailed
        The step failed (the reason of its record), or the child ended without a record.
    """
    from myocit_omics.analysis import open_context
    from myocit_omics.manifest import read_step_records

    log = logger or logging.getLogger(__name__)
    root = open_context(home, run_id).tree.root
    # the child draws its figures itself: it is the process beside the chain already
    env = {**os.environ, FIGURES_VAR: "inline", NICE_VAR: str(int(nice))}
    proc = spawn([sys.executable, "-m", "myocit_omics.child_step", step, str(home), run_id, *after],
                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tail: deque[str] = deque(maxlen=20)
    try:
        for raw in proc.stdout or ():
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line:
                tail.append(line)
                _relay(line, log)
        code = proc.wait()
    finally:
        stop_group(proc, timeout=5.0)  # nothing of the child outlives the call, on every path
        if proc.stdout is not None:
            proc.stdout.close()
    record = read_step_records(root).get(step)
    if record is None:
        last = "\n".join(tail)
        raise StepFailed(f"step {step} ended (exit code {code}) without writing its record; "
                         f"last output:\n{last}")
    if record.get("status") == "failed":
        raise StepFailed(str(record.get("error") or f"step {step} failed (exit code {code})"))
    return record


def main(argv: list[str] | None = None) -> int:
    """Run ``STEP HOME RUN_ID [AFTER...]`` (the child's side); exit code 1 if the step failed.

    ``AFTER`` are steps whose records the step waits for where it reads their output. A failed
    step's record says why.
    """
    from myocit_omics.analysis import run_step
    from myocit_omics.manifest import awaiting

    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3:
        sys.stderr.write("usage: python -m myocit_omics.child_step STEP HOME RUN_ID [AFTER...]\n")
        return 2
    increment = int(os.environ.get(NICE_VAR, "0") or 0)
    if increment > 0:
        with contextlib.suppress(OSError):
            os.nice(increment)
    handler = _JsonLines()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    try:
        with awaiting(args[3:]), progress.reporting(_emit_progress):
            run_step(*args[:3])
    except Exception:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
