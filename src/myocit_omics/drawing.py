"""Draw a step's figures in a helper process while the step goes on computing.

The analysis is a chain of steps, and matplotlib holds the GIL: a figure drawn in the step's
own thread adds its whole time to the chain, while the machine's other core waits. Inside
:func:`drawing` (every step of a run is inside one, :func:`myocit_omics.analysis.run_step`),
:func:`figure` and :func:`call` hand the drawing to one helper process and return at once; the
step computes on, and :func:`drawing` waits for the step's figures before it returns, so a step
that finished has written its figures, as before. The images are the same bytes as when drawn
in the step's thread (the same functions and matplotlib, a fresh ``Agg`` canvas each).

Outside :func:`drawing` (the CLI commands, scripts, tests calling a library function), and when
the setting says ``inline``, the same calls draw at once in the calling thread.

The figure process (``python -m myocit_omics.drawing``) is started on first use and shared by
the steps of the process; jobs (a module-level function and its arguments, pickled at the call)
go down its stdin and answers come back on its stdout. It runs in its own session, so a
terminal's Ctrl-C reaches only the command; it ends when its stdin closes (at the command's exit,
:func:`shutdown`, or when the command dies) and, as a second guard, when its parent is gone. If
it cannot be started or dies, the figures are drawn inline, with a log line saying why.

Setting: ``$MYOCIT_FIGURES`` = ``process`` (default) or ``inline``.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import importlib
import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

from myocit_omics.processes import session_nice, set_session_nice

log = logging.getLogger(__name__)

#: Environment variable choosing where figures are drawn: ``process`` (default) or ``inline``.
ENV_VAR = "MYOCIT_FIGURES"
MODES = ("process", "inline")
#: Environment variable telling the figure process its parent's pid.
_PARENT_VAR = "MYOCIT_FIGURES_PARENT"
#: Environment variable listing modules the figure process imports before its first job.
_PRELOAD_VAR = "MYOCIT_FIGURES_PRELOAD"

_lock = threading.Lock()
_helper: _Helper | None = None
_unavailable: str | None = None  # why no helper process can be used in this process
_preload: tuple[str, ...] = ()  # modules the next figure process imports at start (:func:`start`)
_current: contextvars.ContextVar[Drawing | None] = contextvars.ContextVar("myocit_drawing", default=None)
_HEADER = struct.Struct("!Q")


class HelperStopped(RuntimeError):
    """The figure process ended before it answered."""


def mode() -> str:
    """Return the setting (``process`` or ``inline``); an unknown value means ``process``, with a warning."""
    value = os.environ.get(ENV_VAR, "process").strip().lower() or "process"
    if value not in MODES:
        log.warning("$%s=%r is not one of %s: figures are drawn in a helper process", ENV_VAR, value,
                    ", ".join(MODES))
        return "process"
    return value


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


def _write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


class _Helper:
    """One figure process: jobs go down its stdin, answers come back on its stdout, in order."""

    def __init__(self) -> None:
        env = {**os.environ, "MPLBACKEND": "Agg", _PARENT_VAR: str(os.getpid()),
               _PRELOAD_VAR: ",".join(_preload)}
        # its own session: a terminal's Ctrl-C reaches the command, which stops this process
        self._closed = False
        self.proc = subprocess.Popen([sys.executable, "-m", "myocit_omics.drawing"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, start_new_session=True)
        self._send = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._next = 0
        # a job waits in this queue, not in the pipe: a write to a full pipe would block the step
        # until the process has drawn what it is drawing
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="figure-process-writer", daemon=True)
        self._reader = threading.Thread(target=self._read, name="figure-process-reader", daemon=True)
        self._writer.start()
        self._reader.start()

    def submit(self, job: bytes) -> Future[Any]:
        future: Future[Any] = Future()
        with self._send:
            if self._closed or self.proc.poll() is not None:
                raise HelperStopped(f"the figure process has ended (exit code {self.proc.returncode})")
            self._next += 1
            self._pending[self._next] = future
            self._outbox.put(pickle.dumps((self._next, job), protocol=pickle.HIGHEST_PROTOCOL))
        return future

    def _write(self) -> None:
        stream = self.proc.stdin
        while (request := self._outbox.get()) is not None and stream is not None:
            try:
                _write_frame(stream, request)
            except (OSError, ValueError):  # the process is gone: the reader fails what is pending
                break
        with contextlib.suppress(OSError):
            if stream is not None:
                stream.close()

    def _read(self) -> None:
        stream = self.proc.stdout
        while stream is not None:
            frame = _read_frame(stream)
            if frame is None:
                break
            job_id, ok, value = pickle.loads(frame)
            with self._send:
                future = self._pending.pop(job_id, None)
            if future is not None:
                future.set_result(value) if ok else future.set_exception(value)
        if stream is not None:
            stream.close()
        code = self.proc.wait()
        with self._send:
            pending, self._pending = list(self._pending.values()), {}
        for future in pending:
            future.set_exception(HelperStopped(f"the figure process exited with code {code}"))

    def close(self, timeout: float = 60.0) -> None:
        """Let the process draw what it was given, then end it (stdin closed); kill it if it hangs."""
        with self._send:
            self._closed = True
            self._outbox.put(None)
        self._writer.join(timeout=timeout)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)


def _get_helper() -> _Helper | None:
    """Return the process-wide figure process, started on first use; None when none can be used."""
    global _helper, _unavailable
    with _lock:
        if _helper is not None and _helper.proc.poll() is not None:
            _helper = None  # it ended (killed?): the next figure starts another
        if _helper is None and _unavailable is None:
            try:
                _helper = _Helper()
            except OSError as exc:
                _unavailable = f"the figure process could not be started ({exc})"
                log.warning("figures are drawn inline: %s", _unavailable)
        return _helper


def start(preload: tuple[str, ...] = ()) -> bool:
    """Start the figure process now rather than at the first figure; return True if it runs.

    ``preload``: modules of the figures to come (e.g. ``myocit_omics.de.plots``), imported by
    the process before its first job. ``myocit analyze`` calls this while Prefect's server
    starts, so that neither matplotlib's import nor the plotting modules' land in a step.
    Nothing happens under the ``inline`` setting.
    """
    global _preload
    if mode() != "process":
        return False
    with _lock:
        _preload = tuple(preload)
    return _get_helper() is not None


def shutdown() -> None:
    """Stop the figure process once it has drawn what it was given; a later figure starts a new one."""
    global _helper
    with _lock:
        helper, _helper = _helper, None
    if helper is not None:
        helper.close()


atexit.register(shutdown)


def made_figure(path: str | Path, make: Callable[..., Any], /, *args: Any, dpi: int = 110,
                **kwargs: Any) -> Path:
    """Make a figure with ``make(*args, **kwargs)`` and save it at ``path``; return the path."""
    from myocit_omics.results import save_figure

    return save_figure(make(*args, **kwargs), path, dpi=dpi)


def _run_job(job: bytes) -> Any:
    """Run a pickled ``(func, args, kwargs)`` (in the helper process)."""
    func, args, kwargs = pickle.loads(job)
    return func(*args, **kwargs)


class _Ready:
    """A result computed at once (no figure process)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self) -> Any:
        return self.value


class _Pending:
    """A result the figure process is computing; drawn here if the process dies first."""

    def __init__(self, future: Future[Any], job: bytes) -> None:
        self.future, self.job = future, job

    def __call__(self) -> Any:
        try:
            return self.future.result()
        except HelperStopped as exc:
            log.warning("figure drawn inline: %s", exc)
            return _run_job(self.job)


class Drawing:
    """The figures one step handed to the figure process: started at once, waited for by :meth:`wait`."""

    def __init__(self) -> None:
        self._jobs: list[tuple[Future[Any], bytes]] = []

    def submit(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Run ``func(*args, **kwargs)`` in the figure process (inline when there is none)."""
        sent = self._send(func, args, kwargs)
        if sent is None:
            func(*args, **kwargs)
        else:
            self._jobs.append(sent)

    def later(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Callable[[], Any]:
        """Start ``func(*args, **kwargs)`` in the figure process; return a call that gives its result.

        The caller collects the result (and its error); :meth:`wait` does not.
        """
        sent = self._send(func, args, kwargs)
        if sent is None:
            return _Ready(func(*args, **kwargs))
        return _Pending(*sent)

    def _send(self, func: Callable[..., Any], args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> tuple[Future[Any], bytes] | None:
        """Send a job to the figure process; None when it is to be run inline (by the caller)."""
        helper = _get_helper() if mode() == "process" else None
        if helper is None:
            return None
        try:
            # pickled now: the figure shows the data as they are at this call, as if drawn here
            job = pickle.dumps((func, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            log.debug("figure %s drawn inline: its arguments cannot be sent (%s)",
                      getattr(func, "__name__", func), exc)
            return None
        try:
            return helper.submit(job), job
        except HelperStopped as exc:
            log.warning("figure drawn inline: %s", exc)
            return None

    def wait(self, *, cancel: bool = False) -> None:
        """Wait for every figure of this step; raise the first one's error, if any.

        A figure whose process died before drawing it is drawn again here, so a crash of the
        figure process costs time, not figures. ``cancel=True`` (the step itself failed) raises
        nothing and draws nothing again.
        """
        jobs, self._jobs = self._jobs, []
        first: Exception | None = None
        for future, job in jobs:
            try:
                future.result()
            except HelperStopped as exc:
                if cancel:
                    continue
                log.warning("figure drawn inline: %s", exc)
                try:
                    _run_job(job)
                except Exception as again:
                    first = first or again
            except Exception as exc:
                first = first or exc
        if first is not None and not cancel:
            raise first


@contextlib.contextmanager
def drawing() -> Iterator[Drawing]:
    """Within this block, :func:`figure` and :func:`call` draw in the helper; wait for them at its end.

    If the block raises, the figures not started yet are dropped and the block's error goes on.
    """
    current = Drawing()
    token = _current.set(current)
    try:
        yield current
    except BaseException:
        current.wait(cancel=True)
        raise
    else:
        current.wait()
    finally:
        _current.reset(token)


def call(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Run a drawing function ``func(*args, **kwargs)`` (which saves its own images) in the helper.

    ``func`` must be a module-level function and its arguments picklable. Outside
    :func:`drawing` it runs at once.
    """
    current = _current.get()
    if current is None:
        func(*args, **kwargs)
    else:
        current.submit(func, *args, **kwargs)


def later(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """Start ``func(*args, **kwargs)`` in the figure process; return a call that gives its result.

    For a figure whose result the step uses (e.g. a PNG embedded in the report): the step
    goes on and calls the returned function when it needs the result, which raises the
    figure's error if it failed. Outside :func:`drawing` ``func`` runs at once.
    """
    current = _current.get()
    if current is None:
        return _Ready(func(*args, **kwargs))
    return current.later(func, *args, **kwargs)


def figure(path: str | Path, make: Callable[..., Any], /, *args: Any, dpi: int = 110, **kwargs: Any) -> Path:
    """Save ``make(*args, **kwargs)`` (a matplotlib figure) at ``path``, in the helper; return ``path``.

    The file exists once the enclosing :func:`drawing` block has ended (at once outside one).
    """
    call(made_figure, path, make, *args, dpi=dpi, **kwargs)
    return Path(path)


def _watch_parent(parent: int) -> None:
    """Exit (in the figure process) as soon as the process that started it is gone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _import_figure_modules(modules: list[str]) -> None:
    """Import matplotlib (Agg) and ``modules`` (in the figure process, before its first job)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.figure  # the first figure does not pay the import

    for name in modules:
        with contextlib.suppress(Exception):  # a job that needs it imports it again, and fails there
            importlib.import_module(name)


def main() -> int:
    """Run the figure process: the jobs read from stdin, one at a time, answers to stdout.

    It ends when its stdin closes (the parent closed it, or died), or when its parent is gone.
    Anything printed goes to stderr: stdout carries the answers only.
    """
    parent = int(os.environ.get(_PARENT_VAR, "0") or 0)
    if parent and os.getppid() != parent:
        return 0
    if parent:
        threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    preload = [name for name in os.environ.get(_PRELOAD_VAR, "").split(",") if name]
    # started ahead of its figures (start()): import at the lowest session priority, taking only
    # idle CPU, and come back to the run's priority when the first job arrives
    lowered = bool(preload) and session_nice() == 0 and set_session_nice(19, tries=1)
    importing = threading.Thread(target=_import_figure_modules, args=(preload,), name="preload", daemon=True)
    importing.start()
    requests = sys.stdin.buffer
    first = True
    while (frame := _read_frame(requests)) is not None:
        if first:
            if lowered:
                set_session_nice(0)
            importing.join()
            first = False
        job_id, job = pickle.loads(frame)
        try:
            answer = (job_id, True, _run_job(job))
        except Exception as exc:
            answer = (job_id, False, exc)
        try:
            payload = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an error or a result that cannot be sent: its text is
            payload = pickle.dumps((job_id, False, RuntimeError(f"{type(answer[2]).__name__}: {answer[2]} "
                                                                  f"({exc})")))
        _write_frame(answers, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
