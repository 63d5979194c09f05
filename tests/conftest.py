"""Shared test set-up: offline settings, an isolated Prefect home, paths to ../shared, intake fixtures,
and the session-end guard that fails the run when a process the suite started is still alive."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# Isolate Prefect from the developer's ~/.prefect and keep everything offline,
# before any test module imports prefect.
_PREFECT_HOME = tempfile.mkdtemp(prefix="myocit-test-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.pop("PREFECT_API_URL", None)

# Every process this session starts inherits this marker (a nested session appends its own), and
# keeps it when re-parented to init: the guard below finds the suite's processes by it and by
# descent from this process, never by name (other people's Prefect servers run on this machine).
_GUARD_SPEC = importlib.util.spec_from_file_location("myocit_test_process_guard",
                                                     Path(__file__).with_name("process_guard.py"))
process_guard = importlib.util.module_from_spec(_GUARD_SPEC)
_GUARD_SPEC.loader.exec_module(process_guard)
MARKER_VAR = process_guard.MARKER_VAR
SESSION_MARKER = uuid.uuid4().hex
os.environ[MARKER_VAR] = ",".join(filter(None, [os.environ.get(MARKER_VAR), SESSION_MARKER]))

def _stop_prefect_temporary_servers() -> None:
    """Stop Prefect's temporary (ephemeral) servers now rather than at interpreter exit."""
    module = sys.modules.get("prefect.server.api.server")
    if module is not None:
        for server in list(getattr(module.SubprocessASGIServer, "_instances", {}).values()):
            with contextlib.suppress(Exception):
                server.stop()


@pytest.hookimpl(trylast=True)
def _stop_resource_tracker() -> None:
    """Stop this process's multiprocessing resource tracker, if a test started one.

    A Dask LocalCluster or a spawned pool starts it as a child of the pytest process; it would end
    when pytest exits, after the guard has looked. Stopping it here is what exiting would do.
    """
    from multiprocessing import resource_tracker

    tracker = getattr(resource_tracker, "_resource_tracker", None)
    if tracker is not None and getattr(tracker, "_pid", None) is not None and hasattr(tracker, "_stop"):
        with contextlib.suppress(Exception):
            tracker._stop()


def _stop_figure_process() -> None:
    """Stop this process's figure process (myocit_omics.drawing), as exiting would."""
    module = sys.modules.get("myocit_omics.drawing")
    if module is not None:
        with contextlib.suppress(Exception):
            module.shutdown()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process the suite started is still alive; list it, then kill it."""
    _stop_prefect_temporary_servers()
    _stop_figure_process()
    _stop_resource_tracker()
    leaked = process_guard.left_behind(SESSION_MARKER)
    if not leaked:
        return
    lines = [f"\nprocess guard: {len(leaked)} process(es) started by this test session are still alive "
             f"{process_guard.GUARD_GRACE:.0f} s after the last test (the run fails; they are killed now):"]
    lines += [f"  pid {pid}: {argv[:300]}" for pid, argv in leaked]
    print("\n".join(lines), file=sys.stderr, flush=True)
    for pid, _ in leaked:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def shared_path(*parts: str) -> Path:
    """Return a path under ../shared, or skip the test cleanly when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/{'/'.join(parts)} is not present on this machine")
    return path


@pytest.fixture
def shared() -> object:
    """The :func:`shared_path` helper as a fixture."""
    return shared_path


@pytest.fixture
def study_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty study home, also exported as MYOCIT_HOME."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MYOCIT_HOME", str(home))
    return home


_BATCH_FACTORY = REPO / "tests" / "store" / "batch_factory.py"


@pytest.fixture(scope="session")
def factory():
    """The batch factory module of the intake tests (write_batch, rnaseq_tables, write_manifest)."""
    spec = importlib.util.spec_from_file_location("myocit_test_batch_factory", _BATCH_FACTORY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty study home with the MYOCIT default configuration."""
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def store(home: Path):
    """A StudyStore on the empty home."""
    from myocit_omics.store import StudyStore

    return StudyStore(home)
