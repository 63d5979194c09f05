"""Disease Activity Score of JDM (Bode et al., Arthritis Rheum 2003): total 0-20 = skin 0-9 + muscle 0-11.

The item wording is taken from the trial CRF; this module only reconciles the recorded
parts and total. The total is derived from the parts when it was not recorded; a recorded
total that disagrees with its recorded parts is an input error (never silently overwritten).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from myocit_omics.errors import Problem, ValidationFailed


def das_table(core: pd.DataFrame, *, file: str = "core_set.csv", tolerance: float = 1e-6) -> pd.DataFrame:
    """Return DAS skin, muscle and total per row, with where the total came from.

    Parameters
    ----------
    core
        Typed core set (``das_skin``, ``das_muscle``, ``das_total`` columns, NaN = missing).
    file
        File name for error messages.
    tolerance
        Allowed difference between a recorded total and the sum of recorded parts.

    Returns
    -------
    pd.DataFrame
        Same index as ``core``: ``das_skin``, ``das_muscle``, ``das_total`` and ``das_source``
        (``recorded``, ``derived`` from skin + muscle, or ``NA`` when neither is possible).

    Raises
    ------
    ValidationFailed
        When a recorded total differs from the sum of its recorded parts.
    """
    skin = core["das_skin"].astype(float)
    muscle = core["das_muscle"].astype(float)
    total = core["das_total"].astype(float)
    parts = skin + muscle
    problems = []
    clash = total.notna() & parts.notna() & ((total - parts).abs() > tolerance)
    for pos in np.flatnonzero(clash.to_numpy()):
        idx = core.index[pos]
        problems.append(Problem(file=file, row=None, column="das_total", value=float(total[idx]),
                                message=f"DAS total of {core.at[idx, 'patient_id']} {core.at[idx, 'visit']} "
                                f"differs from skin + muscle", expected=f"{float(parts[idx]):g} "
                                f"(das_skin {float(skin[idx]):g} + das_muscle {float(muscle[idx]):g})",
                                rule="clinical.das_sum"))
    if problems:
        raise ValidationFailed(problems, context=file)
    source = pd.Series(np.where(total.notna(), "recorded", np.where(parts.notna(), "derived", "NA")),
                       index=core.index)
    return pd.DataFrame({"das_skin": skin, "das_muscle": muscle, "das_total": total.fillna(parts),
                         "das_source": source}, index=core.index)
