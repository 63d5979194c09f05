"""Fixtures of these tests: the demo study shipped in data/demo (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


@pytest.fixture
def demo_root() -> Path:
    """The demo study folder, or skip when it (or its truth) is not in this checkout."""
    if not (DEMO / "truth" / "patients.tsv").is_file():
        pytest.skip("data/demo with truth/ is not present")
    return DEMO
