"""The lock of the installation: ``requirements.lock`` against the running environment.

``requirements.lock`` (at the root of the checkout, refreshed by ``make lock``) pins every
package and version, with hashes; ``make demo`` and ``make test`` install exactly it. This module
reads it back, says whether the running environment matches it (every locked package that applies
to this platform installed at the locked version), and gives its SHA-256 for the run manifest, so a
result can be traced to the exact set of packages that made it.

``MYOCIT_LOCK_FILE`` points at another lock file (tests; a site that keeps its own).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCK_NAME = "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)\s*(?:;([^\\#]*))?")


def normalise(name: str) -> str:
    """Return the canonical form of a distribution name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path() -> Path | None:
    """Return the lock file in force: ``$MYOCIT_LOCK_FILE``, else the checkout's, else None."""
    override = os.environ.get("MYOCIT_LOCK_FILE")
    if override:
        return Path(override)
    candidate = Path(__file__).resolve().parents[2] / LOCK_NAME
    return candidate if candidate.is_file() else None


def parse_lock(text: str) -> list[tuple[str, str, str | None]]:
    """Return ``(name, version, marker or None)`` for every pin of a requirements lock."""
    pins = []
    for line in text.splitlines():
        m = _PIN.match(line.strip())
        if m:
            marker = (m.group(3) or "").strip() or None
            pins.append((normalise(m.group(1)), m.group(2), marker))
    return pins


def _applies(marker: str | None) -> bool:
    if marker is None:
        return True
    try:
        from packaging.markers import Marker
    except ImportError:          # cannot tell: do not count it either way
        return False
    return Marker(marker).evaluate()


@dataclass
class LockStatus:
    """How the running environment compares with a lock file."""

    path: Path | None
    sha256: str | None = None
    mismatches: list[str] = field(default_factory=list)
    n_pins: int = 0

    @property
    def matches(self) -> bool | None:
        """True if every applicable pin is installed at its version; None without a lock file."""
        return None if self.path is None else not self.mismatches

    def describe(self) -> str:
        """One line for people (and more lines listing what differs)."""
        if self.path is None:
            return ("no lock file (package installed outside a checkout): versions come from the "
                    "ranges of pyproject.toml")
        short = (self.sha256 or "")[:12]
        if self.matches:
            return f"the environment matches {self.path.name} ({self.n_pins} packages, sha256 {short})"
        head = (f"the environment does NOT match {self.path} (sha256 {short}): "
                f"{len(self.mismatches)} difference(s)")
        lines = [head, *(f"  {m}" for m in self.mismatches[:20])]
        if len(self.mismatches) > 20:
            lines.append(f"  ... and {len(self.mismatches) - 20} more")
        lines.append("  re-install from the lock: make .venv/.installed (or pip install --require-hashes "
                     f"-r {self.path.name})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the run manifest and ``myocit status --json``."""
        return {
            "file": self.path.name if self.path else None,
            "sha256": self.sha256,
            "matches_environment": self.matches,
            "mismatches": self.mismatches[:50],
        }


def check_environment(path: Path | None = None) -> LockStatus:
    """Compare the installed distributions with the lock file ``path`` (default :func:`lock_path`).

    Returns
    -------
    LockStatus
        Its digest and one line per locked package that is missing or at another version.
    """
    path = path if path is not None else lock_path()
    if path is None:
        return LockStatus(path=None)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return LockStatus(path=path, mismatches=[f"cannot read the lock file: {exc.strerror}"])
    status = LockStatus(path=path, sha256=hashlib.sha256(raw).hexdigest())
    installed = {normalise(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
                 if d.metadata["Name"]}
    for name, version, marker in parse_lock(raw.decode("utf-8", errors="replace")):
        if not _applies(marker):
            continue
        status.n_pins += 1
        have = installed.get(name)
        if have is None:
            status.mismatches.append(f"{name}: locked {version}, not installed")
        elif have != version:
            status.mismatches.append(f"{name}: locked {version}, installed {have}")
    return status


_RECORD: dict[str, Any] | None = None


def lock_record() -> dict[str, Any]:
    """Return :meth:`LockStatus.to_dict` of the lock in force, computed once per process (manifests)."""
    global _RECORD
    if _RECORD is None:
        _RECORD = check_environment().to_dict()
    return dict(_RECORD)
