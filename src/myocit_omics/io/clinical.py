"""Read the clinical batch tables: ``patients`` and ``core_set`` (docs/contracts.md section 2.2).

CSV or xlsx as an eCRF export writes them; empty cell = not measured.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from myocit_omics.config import StudyConfig
from myocit_omics.io.checked import read_checked
from myocit_omics.validate.schemas import CORE_SET, PATIENTS


def read_patients(
    path: str | Path, *, config: StudyConfig | None = None, name: str | None = None
) -> pd.DataFrame:
    """Read and check ``patients.csv``: one row per patient.

    Parameters
    ----------
    path
        The table.
    config
        Study configuration; MYOCIT defaults if None.
    name
        Name for messages.

    Returns
    -------
    pandas.DataFrame
        Canonical columns, numbers as floats.
    """
    return read_checked(path, PATIENTS, config=config, name=name)


def read_core_set(
    path: str | Path, *, config: StudyConfig | None = None, name: str | None = None
) -> pd.DataFrame:
    """Read and check ``core_set.csv``: one row per patient and visit.

    Parameters
    ----------
    path
        The table.
    config
        Study configuration; MYOCIT defaults if None.
    name
        Name for messages.

    Returns
    -------
    pandas.DataFrame
        Canonical columns, scores as floats (NaN = not measured).
    """
    return read_checked(path, CORE_SET, config=config, name=name)
