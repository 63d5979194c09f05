"""Read an RNA-seq sample sheet (CSV/TSV/xlsx; docs/contracts.md section 2.1)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from myocit_omics.config import StudyConfig
from myocit_omics.errors import ValidationFailed
from myocit_omics.io.tables import read_table
from myocit_omics.validate.identifiers import check_identifiers
from myocit_omics.validate.schemas import SAMPLE_SHEET, check_rows


def read_sample_sheet(
    path: str | Path, *, config: StudyConfig | None = None, name: str | None = None
) -> pd.DataFrame:
    """Read and check a sample sheet; return it with canonical columns.

    Parameters
    ----------
    path
        The sheet (``samples.csv``, ``.tsv`` or ``.xlsx``).
    config
        Study configuration (patient and visit vocabularies); MYOCIT defaults if None.
    name
        Name for messages.

    Returns
    -------
    pandas.DataFrame
        Columns sample_id, column (defaults to sample_id), patient_id, visit, sex, role
        (defaults to ``patient``), seq_batch, and any extra columns; index = row numbers.

    Raises
    ------
    InputError, ValidationFailed
        With every problem of the file.
    """
    label = name or Path(path).name
    table = read_table(path, name=label)
    typed, problems = check_rows(table, SAMPLE_SHEET, file=label, config=config)
    problems += check_identifiers(table, file=label, skip_values=set())
    if problems:
        raise ValidationFailed(problems, context=label)
    return finish_sample_sheet(typed)


def finish_sample_sheet(typed: pd.DataFrame) -> pd.DataFrame:
    """Fill the defaults of a checked sheet: ``column`` = sample_id, ``role`` = patient."""
    out = typed.copy()
    out["column"] = [c if c else s for c, s in zip(out["column"], out["sample_id"], strict=True)]
    out["role"] = [r if r else "patient" for r in out["role"]]
    out.attrs = dict(typed.attrs)
    return out
