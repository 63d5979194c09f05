"""Read a table and check it against a row schema, refusing it with every problem found."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from myocit_omics.config import StudyConfig
from myocit_omics.errors import ValidationFailed
from myocit_omics.io.tables import read_table
from myocit_omics.validate.identifiers import check_identifiers
from myocit_omics.validate.schemas import Col, check_rows


def read_checked(
    path: str | Path, schema: list[Col], *, config: StudyConfig | None = None, name: str | None = None
) -> pd.DataFrame:
    """Read a CSV/TSV/xlsx table, type it by ``schema`` and refuse direct identifiers.

    Parameters
    ----------
    path
        The table.
    schema
        Its row schema (columns, types, ranges, vocabularies).
    config
        Study configuration (patient and visit vocabulary); MYOCIT defaults if None.
    name
        Name of the file in messages (default: the file name).

    Returns
    -------
    pandas.DataFrame
        Canonical, typed columns.

    Raises
    ------
    ValidationFailed
        With every row-schema and identifier problem of the table.
    """
    label = name or Path(path).name
    table = read_table(path, name=label)
    typed, problems = check_rows(table, schema, file=label, config=config)
    problems += check_identifiers(table, file=label)
    if problems:
        raise ValidationFailed(problems, context=label)
    return typed
