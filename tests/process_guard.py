"""The suite's process guard: find the live processes a test session started (no side effects on import).

A process belongs to a session if its environment carries the session's marker in
``MYOCIT_TEST_SESSION`` (a comma-separated chain: nested sessions append theirs; the environment
survives re-parenting to init) or if it descends from the pytest process. Never by name: other
people's Prefect servers run on the same machine.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

MARKER_VAR = "MYOCIT_TEST_SESSION"

#: Seconds the guard waits for processes that are exiting before it calls them left behind.
GUARD_GRACE = float(os.environ.get("MYOCIT_GUARD_GRACE", "15"))


def _proc_stat(pid: int) -> tuple[int, str] | None:
    """Return ``(parent pid, state)`` of ``pid`` from /proc, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[0]
    except (OSError, IndexError, ValueError):
        return None


def _carries_marker(pid: int, marker: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    for entry in environ.split(b"\0"):
        if entry.startswith(MARKER_VAR.encode() + b"="):
            return marker in entry.split(b"=", 1)[1].decode(errors="replace").split(",")
    return False


def session_processes(marker: str, *, root: int | None = None) -> list[tuple[int, str]]:
    """Return ``(pid, command line)`` of every live process started under ``marker``.

    A process belongs to the session if it carries the marker in its environment or descends
    from ``root`` (default: this process, which is itself excluded). Zombies are dead: not listed.
    """
    root = os.getpid() if root is None else root
    parents: dict[int, int] = {}
    live: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat is not None:
            parents[int(entry.name)] = stat[0]
            if stat[1] != "Z":
                live.add(int(entry.name))
    found = set()
    for pid in live:
        if pid == root:
            continue
        ancestor, hops = parents.get(pid), 0
        while ancestor not in (None, 0, 1) and ancestor != root and hops < 64:
            ancestor, hops = parents.get(ancestor), hops + 1
        if ancestor == root or _carries_marker(pid, marker):
            found.add(pid)
    out = []
    for pid in sorted(found):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            out.append((pid, argv.strip()))
    return out


def left_behind(marker: str, *, grace: float = GUARD_GRACE, root: int | None = None) -> list[tuple[int, str]]:
    """Return the session's processes still alive after waiting up to ``grace`` seconds.

    ``root`` as for :func:`session_processes` (-1: by marker only).
    """
    deadline = time.monotonic() + grace
    while True:
        procs = session_processes(marker, root=root)
        if not procs or time.monotonic() >= deadline:
            return procs
        time.sleep(0.5)
