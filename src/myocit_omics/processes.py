"""Child processes that never outlive the command that started them.

Every long-lived child the project starts (the Prefect server of ``myocit dashboard``, the
temporary server of ``myocit analyze``) goes through :func:`spawn`:

* it runs in its own session and process group, so a terminal's Ctrl-C reaches only the
  command, which then stops the child in order (:func:`stop_group`);
* its signal dispositions are reset to the defaults: a command started as ``cmd &`` from a
  script inherits SIGINT ignored, and its children must still stop on the signals they are sent;
* it asks the kernel for a parent-death signal (``prctl(PR_SET_PDEATHSIG)``), so if the command
  dies without cleaning up (``kill -9``, a crash) the child is killed too. The signal is tied to
  the *thread* that started the child: start children from the main thread.

:class:`ServerRecord` keeps a small JSON record (pid, port, start time) of a server in the study
home, so that a server left by an earlier crash (one started before parent-death signals, or by
another tool) is recognised and reported instead of silently reused.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: ``PR_SET_PDEATHSIG`` of ``<linux/prctl.h>``.
PR_SET_PDEATHSIG = 1

#: Signals a child gets back at their default action, whatever the parent inherited.
RESET_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _prctl() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def parent_death_supported() -> bool:
    """Return True if this system offers parent-death signals (Linux)."""
    return _PRCTL is not None and os.uname().sysname == "Linux"


def child_preexec(parent_death_signal: int | None, parent_pid: int) -> Callable[[], None]:
    """Return the function run in the child between fork and exec.

    It resets :data:`RESET_SIGNALS` to their defaults, asks for ``parent_death_signal`` when the
    parent dies, and exits at once if the parent already died between fork and prctl.
    """
    prctl = _PRCTL if parent_death_supported() else None

    def preexec() -> None:
        for sig in RESET_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        if parent_death_signal is not None and prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(parent_death_signal), 0, 0, 0)
            if os.getppid() != parent_pid:       # the parent died before prctl: nobody would stop us
                os._exit(1)

    return preexec


def spawn(args: Sequence[str], *, env: dict[str, str] | None = None, stdout: Any = None,
          stderr: Any = None, cwd: str | Path | None = None,
          parent_death_signal: int | None = signal.SIGKILL, stdin: Any = subprocess.DEVNULL
          ) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own session, signals reset, killed if this process dies.

    Parameters
    ----------
    args
        The command line.
    env, stdout, stderr, cwd
        As for :class:`subprocess.Popen`.
    parent_death_signal
        Signal the kernel sends the child when this process (the starting thread) ends;
        None for none. SIGKILL by default: the parent is gone, nobody would escalate.
    stdin
        ``/dev/null`` by default; ``subprocess.PIPE`` for a child that is told what to do later.

    Returns
    -------
    subprocess.Popen
        The child; stop it with :func:`stop_group`.
    """
    return subprocess.Popen(
        list(args), env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr,
        start_new_session=True, preexec_fn=child_preexec(parent_death_signal, os.getpid()),
    )


def stop_group(proc: subprocess.Popen[Any], *, timeout: float = 20.0) -> int | None:
    """Stop ``proc`` and its process group: SIGTERM, then SIGKILL after ``timeout`` seconds.

    Whatever is left in the group once the leader has exited is killed too.

    Returns
    -------
    int or None
        The child's exit code.
    """
    if getattr(proc, "_myocit_group_stopped", False):
        return proc.returncode          # the group id may belong to someone else by now
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc._myocit_group_stopped = True   # type: ignore[attr-defined]
    return proc.returncode


# --------------------------------------------------------------------------- priority

#: Where Linux's autogroup keeps the niceness of this process's session.
AUTOGROUP = Path("/proc/self/autogroup")


def session_nice(pid: int | None = None) -> int | None:
    """Return the niceness of the session of ``pid`` (default: this process) under Linux's autogroup.

    None where there is none (no autogroup, or no such process).
    """
    path = AUTOGROUP if pid is None else Path(f"/proc/{pid}/autogroup")
    try:
        return int(path.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def set_session_nice(value: int, *, tries: int = 20) -> bool:
    """Set the niceness of this process's session (Linux autogroup); return True if it was set.

    With autogroup on (``/proc/sys/kernel/sched_autogroup_enabled``) the kernel shares the CPU
    between sessions first, then between the processes of a session, so a process's own
    niceness only counts against its session's other processes. Unlike a process's niceness,
    a session's can be lowered again to any value from 0 up by an unprivileged process; such
    writes are rate-limited by the kernel (one per 0.1 s for the whole machine, EAGAIN), so a
    refused write is retried ``tries`` times, 0.1 s apart. False where the file is absent or refused.
    """
    value = min(19, max(0, int(value)))
    for _ in range(max(1, tries)):
        try:
            AUTOGROUP.write_text(str(value))
            return True
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                return False
            time.sleep(0.1)
    return False


# --------------------------------------------------------------------------- /proc


def start_ticks(pid: int) -> int | None:
    """Return the start time of ``pid`` in clock ticks since boot (None if it does not exist).

    With the pid it identifies a process for good: a pid reused later has another start time.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[19])


def cmdline(pid: int) -> list[str]:
    """Return the command line of ``pid`` (empty if unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def is_alive(pid: int) -> bool:
    """Return True if ``pid`` exists and is not a zombie."""
    return start_ticks(pid) is not None


# --------------------------------------------------------------------------- server records


@dataclass(frozen=True)
class ServerRecord:
    """What the study home remembers of the server a command started."""

    pid: int
    start_ticks: int
    host: str
    port: int
    started_by: int
    started_at: str

    @classmethod
    def for_process(cls, pid: int, *, host: str, port: int) -> ServerRecord:
        """Return the record of the running process ``pid``."""
        return cls(pid=pid, start_ticks=start_ticks(pid) or 0, host=host, port=port,
                   started_by=os.getpid(), started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def running(self) -> bool:
        """Return True if the recorded process still runs (same pid *and* same start time)."""
        return start_ticks(self.pid) == self.start_ticks

    def write(self, path: Path) -> None:
        """Write the record atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> ServerRecord | None:
        """Return the record in ``path`` (None if absent or unreadable)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        """One line for messages."""
        return (f"pid {self.pid}, http://{self.host}:{self.port}, started {self.started_at} "
                f"by process {self.started_by}")
