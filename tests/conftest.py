"""Shared test set-up: offline settings, an isolated Prefect home, paths to ../shared, intake fixtures."""

from __future__ import annotations

import importlib.util
import os
import tempfile
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
