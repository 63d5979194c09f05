"""Fixtures of the intake tests: a factory of small valid batches, a fresh study home."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_FACTORY = Path(__file__).resolve().parents[1] / "store" / "batch_factory.py"


def _load_factory():
    spec = importlib.util.spec_from_file_location("myocit_test_batch_factory", _FACTORY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def factory():
    """The batch factory module (write_batch, rnaseq_tables, write_manifest)."""
    return _load_factory()


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
