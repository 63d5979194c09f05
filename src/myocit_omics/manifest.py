"""The run manifest (``run_manifest.json``): what is needed to reproduce a run.

It records the parameters, every input batch with its files' SHA-256, the gene
sets with their checksums, the normalisation/score reference, software versions,
the seed, and per step its status, timing and summary.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from myocit_omics.lock import lock_record
from myocit_omics.results import write_json

#: Distributions whose versions go into every manifest.
SOFTWARE = (
    "myocit-omics", "numpy", "scipy", "pandas", "anndata", "scanpy", "pydeseq2", "gseapy",
    "statsmodels", "scikit-learn", "matplotlib", "prefect",
)


def software_versions() -> dict[str, str]:
    """Return the Python version and the installed versions of :data:`SOFTWARE`."""
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

    def record_step(self, name: str, *, status: str, seconds: float, summary: Any = None,
                    error: str | None = None) -> None:
        """Record one step's outcome (``ok``, ``failed``, ``skipped``) and save the manifest."""
        entry: dict[str, Any] = {"status": status, "seconds": round(seconds, 3)}
        if summary is not None:
            entry["summary"] = summary
        if error:
            entry["error"] = error
        self.steps[name] = entry
        self.write()

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest as a JSON-serialisable dict."""
        return {
            "run_id": self.run_id,
            "started": self.started,
            "finished": self.finished,
            "status": self.status,
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
        """Write ``run_manifest.json`` atomically."""
        return write_json(self.to_dict(), self.path)

    def finish(self) -> Path:
        """Stamp the finish time and write."""
        self.finished = utc_now()
        return self.write()


class StepTimer:
    """Context manager measuring a step's wall time in seconds (``.seconds``)."""

    def __enter__(self) -> StepTimer:
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
