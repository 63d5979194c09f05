"""Read the clinical batch tables: ``patients`` and ``core_set`` (docs/contracts.md section 2.2).

CSV or xlsx as an eCRF export writes them; empty cell = not measured.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from myocit_omics.config import StudyConfig
from myocit_omics.errors import ValidationFailed
from myocit_omics.io.tables import read_table
from myocit_omics.validate.identifiers import check_identifiers
from myocit_omics.validate.schemas import CORE_SET, PATIENTS, Col, check_rows


def _read(
    path: str | Path, schema: list[Col], *, config: StudyConfig | None, name: str | None
) -> pd.DataFrame:
    label = name or Path(path).name
    table = read_table(path, name=label)
    typed, problems = check_rows(table, schema, file=label, config=config)
    problems += check_identifiers(table, file=label)
    if problems:
        raise ValidationFailed(problems, context=label)
    return typed


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
    return _read(path, PATIENTS, config=config, name=name)


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
    return _read(path, CORE_SET, config=config, name=name)
