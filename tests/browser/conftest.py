"""Headless Debian chromium driven by Playwright (nothing downloads a browser), and the shared dashboard."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _support():
    name = "myocit_dashboard_support"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("dashboard_support.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def chromium():
    """A headless chromium (Debian's /usr/bin/chromium); skips with the reason when there is none.

    Module scope on purpose: while Playwright's sync API is open, the main thread has a running
    event loop, and Prefect calls made later in the session would take their async path.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[browser]')")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("no chromium on this machine (apt-get install chromium; .ci/run does it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def dashboard(tmp_path_factory):
    """`myocit dashboard` serving the demo study, with trial-analysis run through its deployment."""
    support = _support()
    yield support.session(tmp_path_factory)
    support.finish()


@pytest.fixture(scope="session")
def shots() -> Path:
    """Folder for screenshots, kept with the test output (git-ignored)."""
    out = REPO / "test-output" / "browser"
    out.mkdir(parents=True, exist_ok=True)
    return out
