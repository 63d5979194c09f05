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

A child can be started *warm* before its run exists (:func:`prestart`, ``python -m
myocit_omics.child_step --warm STEP``): it imports what the step will need (:data:`STEP_MODULES`,
about 1-2 s of CPU each), then waits on its stdin for the run to do; :func:`run_step_in_child`
takes it if there is one, else starts a child as above. ``myocit analyze`` starts them while
Prefect's temporary server starts, when one of the two cores is idle. A warm child that is never
given a run ends when its stdin closes (:func:`stop_warm`, at exit, or when the caller dies).

A child with time to spare runs at a lower priority (``nice``): its own niceness and, where the
kernel shares the CPU between sessions first (Linux autogroup; each child is its own session),
its session's, without which a niced child still takes an equal share from the run's session.
A warm child imports at the lowest session priority (19), so that it takes only idle CPU, and
is set back when given its run.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from myocit_omics import progress
from myocit_omics.drawing import ENV_VAR as FIGURES_VAR
from myocit_omics.processes import session_nice, set_session_nice, spawn, stop_group

#: Environment variable passing the child its niceness increment.
NICE_VAR = "MYOCIT_STEP_NICE"
#: What a warm child imports for a step before it is given its run: the modules the step imports
#: when it runs (measured with ``-X importtime``). A name that is not here, or a module that
#: fails to import, only costs the time: the step imports it again when it runs, and a failure
#: is reported there, as in a cold child.
STEP_MODULES: dict[str, tuple[str, ...]] = {
    "clinical": ("myocit_omics.analysis", "myocit_omics.store", "myocit_omics.study",
                 "myocit_omics.clinical.pipeline"),
    "cytokines": ("myocit_omics.analysis", "myocit_omics.store", "anndata", "matplotlib.pyplot",
                  "myocit_omics.cytokines.pipeline"),
    "composition": ("myocit_omics.analysis", "myocit_omics.store", "myocit_omics.deseq",
                    "myocit_omics.expression.pipeline", "myocit_omics.de.pipeline", "myocit_omics.de.fit",
                    "myocit_omics.composition.pipeline", "myocit_omics.composition.sensitivity",
                    "myocit_omics.composition.estimate", "myocit_omics.composition.plots"),
}

_warm: dict[str, subprocess.Popen[bytes]] = {}
_warm_lock = threading.Lock()


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
    proc = _give_warm(step, {"home": str(home), "run_id": run_id, "after": list(after), "nice": int(nice)})
    if proc is None:
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


def prestart(steps: Iterable[str]) -> list[str]:
    """Start a warm child for each step that has none; return the steps that have one now.

    Each imports :data:`STEP_MODULES` of its step, then waits for :func:`run_step_in_child` to
    give it a run. Start them from the main thread (the parent-death signal is tied to the
    starting thread); :func:`stop_warm` ends those never used (also at exit).
    """
    ready = []
    env = {**os.environ, FIGURES_VAR: "inline"}
    for step in steps:
        with _warm_lock:
            proc = _warm.get(step)
            if proc is None or proc.poll() is not None:
                try:
                    proc = spawn([sys.executable, "-m", "myocit_omics.child_step", "--warm", step], env=env,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                except OSError as exc:  # only the time is lost: the step starts a child when it runs
                    logging.getLogger(__name__).warning("no warm child for step %s: %s", step, exc)
                    continue
                _warm[step] = proc
        ready.append(step)
    return ready


def warm_children() -> dict[str, int]:
    """Return the process id of each warm child still waiting for its run, by step."""
    with _warm_lock:
        return {step: proc.pid for step, proc in _warm.items() if proc.poll() is None}


def stop_warm() -> None:
    """End the warm children that were never given a run (their stdin closes; stopped if they hang)."""
    with _warm_lock:
        procs = list(_warm.values())
        _warm.clear()
    for proc in procs:
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()
        stop_group(proc, timeout=5.0)
        if proc.stdout is not None:
            proc.stdout.close()


atexit.register(stop_warm)


def _give_warm(step: str, run: dict[str, Any]) -> subprocess.Popen[bytes] | None:
    """Hand ``run`` to the warm child of ``step`` and return it; None if there is none alive."""
    with _warm_lock:
        proc = _warm.pop(step, None)
    if proc is None:
        return None
    try:
        if proc.poll() is not None or proc.stdin is None:
            raise OSError(f"it has ended (exit code {proc.returncode})")
        proc.stdin.write((json.dumps(run) + "\n").encode("utf-8"))
        proc.stdin.close()
    except (OSError, ValueError) as exc:  # gone: start a cold child instead
        logging.getLogger(__name__).info("warm child of step %s not used: %s", step, exc)
        stop_group(proc, timeout=5.0)
        if proc.stdout is not None:
            proc.stdout.close()
        return None
    return proc


def lower_priority(increment: int) -> None:
    """Lower this process's CPU priority by ``increment``: its niceness and its session's (autogroup).

    Each child is its own session, and with Linux's autogroup the kernel first shares the CPU
    between sessions: a child at niceness 10 alone would still take a full share from the
    session of the run. Its session's niceness is set to ``increment`` too
    (:func:`myocit_omics.processes.set_session_nice`); where that is not possible, only the
    process's niceness changes.
    """
    if increment <= 0:
        return
    with contextlib.suppress(OSError):
        os.nice(increment)
    set_session_nice(increment)


def _preload(step: str) -> None:
    """Import what ``step`` will need (a warm child, before its run)."""
    for name in STEP_MODULES.get(step, ("myocit_omics.analysis",)):
        with contextlib.suppress(Exception):  # the step imports it again, and reports a failure
            importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    """Run ``STEP HOME RUN_ID [AFTER...]`` (the child's side); exit code 1 if the step failed.

    ``AFTER`` are steps whose records the step waits for where it reads their output. A failed
    step's record says why. ``--warm STEP``: import what the step needs, then read the run from
    one JSON line on stdin (``home``, ``run_id``, ``after``, ``nice``); exit 0 at once if stdin
    closes first.
    """
    args = sys.argv[1:] if argv is None else argv
    handler = _JsonLines()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    if args[:1] == ["--warm"] and len(args) == 2:
        # importing ahead takes only what the run's own processes leave idle: the session's
        # niceness can be set back (unlike the process's), and is, once the run is given
        lowered = session_nice() == 0 and set_session_nice(19, tries=1)
        importing = threading.Thread(target=_preload, args=(args[1],), name="preload", daemon=True)
        importing.start()
        line = sys.stdin.readline()
        if lowered:  # given its run (or ended): back to the run's priority before anything else
            set_session_nice(0)
        if not line.strip():
            return 0  # never given a run
        importing.join()
        try:
            run = json.loads(line)
            args = [args[1], str(run["home"]), str(run["run_id"]), *[str(a) for a in run.get("after", ())]]
            increment = int(run.get("nice", 0))
        except (ValueError, KeyError, TypeError) as exc:
            sys.stderr.write(f"warm child: unreadable run {line!r}: {exc}\n")
            return 2
    else:
        increment = int(os.environ.get(NICE_VAR, "0") or 0)
    if len(args) < 3:
        sys.stderr.write("usage: python -m myocit_omics.child_step STEP HOME RUN_ID [AFTER...]\n"
                         "       python -m myocit_omics.child_step --warm STEP\n")
        return 2
    lower_priority(increment)
    from myocit_omics.analysis import run_step
    from myocit_omics.manifest import awaiting

    try:
        with awaiting(args[3:]), progress.reporting(_emit_progress):
            run_step(*args[:3])
    except Exception:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
