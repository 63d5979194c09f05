"""PostgreSQL + Prefect server (basic auth) fixtures of the multi-process tests (helpers: support.py).

Everything started here binds free loopback ports, runs in its own process group and is
stopped on every path (fixture finalisers), killing only the pids started here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).with_name("support.py")


def load_support():
    """The helpers module (loaded by path under one name, shared by every test module here)."""
    name = "myocit_multi_support"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def multi():
    """The helpers module (support.py)."""
    return load_support()


@pytest.fixture(scope="module")
def installation(multi):
    """One PostgreSQL + Prefect server pair (basic auth) per test module."""
    with multi.running_installation() as inst:
        yield inst


@pytest.fixture(scope="module")
def api(multi, installation):
    """The REST API of the installation, with the auth string."""
    return multi.Api(installation.server.url, installation.auth_string)
