"""Read the PK table ``pk.csv`` (docs/contracts.md section 2.3).

``concentration_ng_ml`` is a number or ``BLQ`` (below the limit of quantification); the
column stays an object column so that BLQ is kept as such, never turned into a number.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from myocit_omics.config import StudyConfig
from myocit_omics.errors import ValidationFailed
from myocit_omics.io.tables import read_table
from myocit_omics.validate.identifiers import check_identifiers
from myocit_omics.validate.schemas import PK, check_rows


def read_pk(path: str | Path, *, config: StudyConfig | None = None, name: str | None = None) -> pd.DataFrame:
    """Read and check a PK table.

    Parameters
    ----------
    path
        The table (CSV/TSV/xlsx).
    config
        Study configuration; MYOCIT defaults if None.
    name
        Name for messages.

    Returns
    -------
    pandas.DataFrame
        Canonical columns; ``concentration_ng_ml`` holds floats or ``"BLQ"``.
    """
    label = name or Path(path).name
    table = read_table(path, name=label)
    typed, problems = check_rows(table, PK, file=label, config=config)
    problems += check_identifiers(table, file=label)
    if problems:
        raise ValidationFailed(problems, context=label)
    return typed
