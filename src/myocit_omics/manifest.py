"""The run manifest (``run_manifest.json``): what is needed to reproduce a run.

It records the parameters and the run's plan, every input batch with its files' SHA-256,
the gene sets with their checksums, the normalisation/score reference, software versions,
the seed, and per step its status, timing and summary.

Steps may run at the same time (in threads or on Dask workers), so a step never rewrites
``run_manifest.json``: it writes its own record to ``steps/<step>.json`` in the run
folder (:func:`write_step_record`), and the manifest merges those files whenever it is
written (:meth:`RunManifest.write`). No record is lost to two writers racing.

``status`` is ``"running"`` from the first write until :meth:`RunManifest.finish`,
then ``"ok"`` or ``"failed"``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.metadata
import json
import os
import platform
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from myocit_omics.lock import lock_record
from myocit_omics.results import write_json

#: Folder of the run holding one JSON record per step.
STEPS_DIR = "steps"

#: Distributions whose versions go into every manifest.
SOFTWARE = (
    "myocit-omics", "numpy", "scipy", "pandas", "anndata", "scanpy", "pydeseq2", "gseapy",
    "statsmodels", "scikit-learn", "matplotlib", "prefect",
)


def software_versions() -> dict[str, str]:
    """Return the Python version and the installed versions of :data:`SOFTWARE`.

    Read once per process (a copy each call): reading the packages' metadata takes 0.6-0.9 s,
    and a run writes its manifest at start, after steps and at finish.
    """
    return dict(_software_versions())


@functools.lru_cache(maxsize=1)
def _software_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for dist in SOFTWARE:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def utc_now() -> str:
    """Return the current UTC time in ISO 8601 with a ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RunManifest:
    """Collects what a run did; :meth:`write` saves it atomically (call it after every step)."""

    run_id: str
    path: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    seed: int | None = None
    started: str = field(default_factory=utc_now)
    finished: str | None = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    running: bool = True
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)

    @property
    def steps_dir(self) -> Path:
        """``steps/`` next to the manifest: one record per step."""
        return self.path.parent / STEPS_DIR

    def record_step(self, name: str, *, status: str, seconds: float, summary: Any = None,
                    error: str | None = None) -> None:
        """Record one step's outcome (``ok``, ``failed``, ``skipped``) in ``steps/<name>.json``.

        The manifest itself is rewritten too (merging every step file), so a reader sees the
        step at once; the step file is the record, the merge is safe against concurrent steps.
        """
        self.steps[name] = write_step_record(self.path.parent, name, status=status, seconds=seconds,
                                             summary=summary, error=error)
        self.write()

    def merge_steps(self) -> dict[str, dict[str, Any]]:
        """Read every ``steps/<step>.json`` into :attr:`steps` and return it."""
        self.steps.update(read_step_records(self.path.parent))
        return self.steps

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest as a JSON-serialisable dict."""
        return {
            "run_id": self.run_id,
            "started": self.started,
            "finished": self.finished,
            "status": "running" if self.running else self.status,
            "pid": self.pid,
            "host": self.host,
            "plan": self.plan,
            "parameters": self.parameters,
            "inputs": self.inputs,
            "seed": self.seed,
            "software": software_versions(),
            "lock": lock_record(),      # requirements.lock digest, and whether this environment matches it
            "steps": self.steps,
            **self.extra,
        }

    @property
    def status(self) -> str:
        """``ok`` if every recorded step is ok or skipped, else ``failed``."""
        return "failed" if any(s["status"] == "failed" for s in self.steps.values()) else "ok"

    def write(self) -> Path:
        """Merge the step records and write ``run_manifest.json`` atomically."""
        self.merge_steps()
        return write_json(self.to_dict(), self.path)

    def finish(self) -> Path:
        """Stamp the finish time, mark the manifest final (``ok``/``failed``) and write."""
        self.finished = utc_now()
        self.running = False
        return self.write()

    @classmethod
    def load(cls, path: str | Path) -> RunManifest:
        """Read a ``run_manifest.json`` written by :meth:`write` (step records merged)."""
        path = Path(path)
        raw = json.loads(path.read_text(encoding="utf-8"))
        known = {"run_id", "started", "finished", "status", "parameters", "inputs", "seed", "software",
                 "steps", "plan", "pid", "host"}
        out = cls(run_id=raw["run_id"], path=path, parameters=raw.get("parameters") or {},
                  inputs=raw.get("inputs") or [], seed=raw.get("seed"),
                  started=raw.get("started") or utc_now(),
                  finished=raw.get("finished"), steps=dict(raw.get("steps") or {}),
                  extra={k: v for k, v in raw.items() if k not in known}, plan=raw.get("plan") or {},
                  running=raw.get("status") == "running", pid=int(raw.get("pid") or os.getpid()),
                  host=str(raw.get("host") or socket.gethostname()))
        out.merge_steps()
        return out


def write_step_record(run_dir: str | Path, name: str, *, status: str, seconds: float, summary: Any = None,
                      error: str | None = None, started: float | None = None) -> dict[str, Any]:
    """Write one step's record to ``<run_dir>/steps/<name>.json`` atomically; return the record.

    ``started`` (a ``time.time()``) adds the step's start and end in UTC (milliseconds), which
    show which steps ran at the same time.
    """
    entry: dict[str, Any] = {"status": status, "seconds": round(seconds, 3)}
    if started is not None:
        entry["started"] = _utc_ms(started)
        entry["ended"] = _utc_ms(started + seconds)
    if summary is not None:
        entry["summary"] = summary
    if error:
        entry["error"] = error
    write_json(entry, Path(run_dir) / STEPS_DIR / f"{name}.json")
    return entry


def _utc_ms(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def read_step_records(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Return ``{step: record}`` of the ``steps/*.json`` files of a run folder (unreadable ones skipped)."""
    folder = Path(run_dir) / STEPS_DIR
    out: dict[str, dict[str, Any]] = {}
    if not folder.is_dir():
        return out
    for p in sorted(folder.glob("*.json")):
        if p.name.startswith("."):
            continue
        try:
            out[p.stem] = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):  # pragma: no cover - files are written atomically
            continue
    return out


_awaited: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("myocit_awaited_steps",
                                                                         default=frozenset())


@contextlib.contextmanager
def awaiting(steps: Iterable[str]) -> Iterator[None]:
    """Within this block, :func:`wait_for_step` waits for the records of ``steps``.

    The flow starts a step before a step it reads from has finished (in a child process,
    beside it); the step waits, at the point where it reads the other's output, for that
    step's record. Outside such a block nothing waits: run on their own, steps run in order.
    """
    token = _awaited.set(frozenset(steps))
    try:
        yield
    finally:
        _awaited.reset(token)


def wait_for_step(run_dir: str | Path, step: str, *, poll: float = 0.2) -> dict[str, Any] | None:
    """Wait for ``step``'s record in ``run_dir`` if this step was started to wait for it (:func:`awaiting`).

    Returns
    -------
    dict or None
        The record (``ok``, ``failed`` or ``skipped``), or None when nothing was waited for.
    """
    if step not in _awaited.get():
        return None
    while (record := read_step_records(run_dir).get(step)) is None:
        time.sleep(poll)
    return record


class StepTimer:
    """Context manager measuring a step's wall time in seconds (``.seconds``)."""

    def __enter__(self) -> StepTimer:
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
