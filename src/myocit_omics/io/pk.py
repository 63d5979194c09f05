"""Read the PK table ``pk.csv`` (docs/contracts.md section 2.3).

``concentration_ng_ml`` is a number or ``BLQ`` (below the limit of quantification); the
column stays an object column so that BLQ is kept as such, never turned into a number.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from myocit_omics.config import StudyConfig
from myocit_omics.io.checked import read_checked
from myocit_omics.validate.schemas import PK


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
    return read_checked(path, PK, config=config, name=name)
