"""Shared test set-up: offline settings, an isolated Prefect home, paths to ../shared."""

from __future__ import annotations

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
