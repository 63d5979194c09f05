"""The text of a result table as ``DataFrame.to_csv`` writes it, a few times faster.

``to_csv`` spends most of its time in its generic writer (NumPy string arrays, Python's csv
module row by row): a 20,000-gene DE table took 0.2 s, twice per ``myocit de``. A table made of
what the result tables hold -- string labels, float, integer and boolean columns, string
columns without separators, quotes or line breaks -- is formatted here column by column with the
same conversions (``to_csv`` formats floats with NumPy's ``astype(str)``, the shortest round-trip
repr, which is Python's ``repr``; missing values are ``na_rep``), so the bytes are the same
(``tests/test_tsv.py`` compares both on awkward values). Anything else (a value that
would need quoting, an object column of non-strings, a one-column table, a MultiIndex, dates...)
gets ``None`` and is written by ``to_csv`` as before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Characters that make Python's csv writer quote a field (separator, quote char, line breaks).
_NEEDS_QUOTES = ("\t", '"', "\n", "\r", "\x00")


def _plain(texts: list[str]) -> bool:
    joined = "".join(texts)
    return not any(c in joined for c in _NEEDS_QUOTES)


def _column_texts(values: pd.Series, na_rep: str) -> list[str] | None:
    """Return the column's cells as ``to_csv`` writes them, or None when it is not a simple column."""
    dtype = values.dtype
    if dtype == np.float64:
        arr = values.to_numpy()
        missing = np.isnan(arr)
        if missing.all():
            return [na_rep] * arr.size
        # float.__repr__ is the shortest round-trip repr, as NumPy's astype(str) that to_csv uses
        texts = list(map(float.__repr__, arr.tolist()))
        for i in np.flatnonzero(missing).tolist():
            texts[i] = na_rep
        return texts
    if dtype == np.int64 or dtype == np.bool_:
        return list(map(str, values.to_numpy().tolist()))
    if dtype == np.object_:
        cells = values.tolist()
        if not all(type(c) is str for c in cells):
            missing = pd.isna(values).to_numpy()
            if not all(m or type(c) is str for c, m in zip(cells, missing, strict=True)):
                return None
            cells = [na_rep if m else c for c, m in zip(cells, missing, strict=True)]
        return cells if _plain(cells) else None
    return None


def tsv_text(df: pd.DataFrame, *, na_rep: str = "NA") -> str | None:
    r"""Return ``df.to_csv(sep="\t", index=False, na_rep=na_rep, lineterminator="\n")``, or None.

    Parameters
    ----------
    df
        The table.
    na_rep
        Text of a missing value.

    Returns
    -------
    str or None
        The same text as ``to_csv``; None when the table holds anything this formatter does not
        reproduce byte for byte (the caller then uses ``to_csv``).
    """
    if df.columns.nlevels != 1 or df.shape[1] < 2 or not df.columns.is_unique:
        return None
    header = list(df.columns)
    if not all(type(h) is str for h in header) or not _plain(header) or not _plain([na_rep]):
        return None
    columns = []
    for j in range(df.shape[1]):
        texts = _column_texts(df.iloc[:, j], na_rep)
        if texts is None:
            return None
        columns.append(texts)
    lines = ["\t".join(header)]
    lines.extend(map("\t".join, zip(*columns, strict=True)))
    return "\n".join(lines) + "\n"
