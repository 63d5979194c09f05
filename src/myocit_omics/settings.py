"""Process-wide settings: offline defaults and the study home.

Nothing in this project may need the internet. Importing the package sets the
telemetry switches of Prefect and of the scientific stack to "off" unless the
user has set them explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment defaults applied on import (only where the user has not set them).
OFFLINE_ENV: dict[str, str] = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "MPLBACKEND": "Agg",
}

#: Name of the environment variable that overrides the study home.
HOME_ENV = "MYOCIT_HOME"


def apply_offline_defaults() -> None:
    """Set the offline and telemetry environment defaults where they are unset."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def repo_root() -> Path:
    """Return the repository root when running from a checkout, else the working directory.

    Returns
    -------
    Path
        The folder holding ``pyproject.toml`` above this file, or ``Path.cwd()``.
    """
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "myocit_omics").is_dir():
            return parent
    return Path.cwd()


def study_home(home: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the study home: ``--home``, else ``$MYOCIT_HOME``, else ``<repo>/data``.

    Parameters
    ----------
    home
        Explicit home from the command line, if any.

    Returns
    -------
    Path
        Absolute path of the study home (not created here).
    """
    if home is not None:
        return Path(home).expanduser().resolve()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (repo_root() / "data").resolve()


def demo_dir() -> Path:
    """Return the folder of the shipped demo study (``data/demo``)."""
    return repo_root() / "data" / "demo"
