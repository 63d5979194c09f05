"""The plate map (``plate_map.csv``): which sample, patient and visit each well holds."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from myocit_omics.errors import InputError, Problem, ValidationFailed
from myocit_omics.io.cytokine.common import normalise_well, read_text

#: Roles a plate map may give a well.
PLATE_MAP_ROLES: tuple[str, ...] = ("sample", "bridge", "standard", "background", "control")

#: Columns of a plate map (``plate_map.csv``, docs/contracts.md section 2.4).
PLATE_MAP_COLUMNS: tuple[str, ...] = (
    "plate_id",
    "well",
    "sample_id",
    "patient_id",
    "visit",
    "role",
    "dilution_factor",
)


def read_plate_map(path: str | Path) -> pd.DataFrame:
    """Read and validate a plate map (``plate_map.csv``).

    Columns (docs/contracts.md 2.4): plate_id, well, sample_id, patient_id, visit, role
    (``sample``, ``bridge``, ``standard``, ``background``, ``control``), dilution_factor.
    ``well`` may be empty for platforms without wells (generic CSV rows are then linked by
    ``sample_id``); ``patient_id``/``visit`` may be empty for standards, backgrounds,
    controls and pooled bridge material; an empty ``dilution_factor`` means 1.

    Returns
    -------
    pandas.DataFrame
        The plate map, wells normalised (``A01`` -> ``A1``), ``dilution_factor`` float.

    Raises
    ------
    InputError
        If the file is missing or unreadable.
    ValidationFailed
        With every bad cell (file, row, column, value, expected).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "plate map not found", file=str(path), rule="plate_map.missing", expected="plate_map.csv"
        )
    text, _ = read_text(path)
    first = text.splitlines()[0] if text else ""
    sep = ";" if first.count(";") > first.count(",") else ("\t" if "\t" in first else ",")
    import io

    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(
            f"cannot read the plate map: {exc}", file=str(path), rule="plate_map.parse"
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in PLATE_MAP_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            f"plate map lacks column(s) {', '.join(missing)}",
            file=str(path),
            row=1,
            value=", ".join(df.columns),
            expected=", ".join(PLATE_MAP_COLUMNS),
            rule="plate_map.columns",
        )
    problems: list[Problem] = []
    f = str(path)
    wells: list[str] = []
    dils: list[float] = []
    for i, rec in enumerate(df.to_dict("records")):
        row = i + 2
        for col in ("plate_id", "sample_id"):
            if not str(rec[col]).strip() and not (
                col == "sample_id" and rec["role"].strip() in ("background", "standard")
            ):
                problems.append(
                    Problem(
                        file=f,
                        row=row,
                        column=col,
                        value=rec[col],
                        message=f"{col} is empty",
                        expected="a non-empty id",
                        rule="plate_map.empty",
                    )
                )
        w = str(rec["well"]).strip()
        nw = normalise_well(w) if w else ""
        if nw is None:
            problems.append(
                Problem(
                    file=f,
                    row=row,
                    column="well",
                    value=w,
                    message="not a well name",
                    expected="a well such as A1 or A01 (rows A-P, columns 1-24)",
                    rule="plate_map.well",
                )
            )
            nw = w
        wells.append(nw)
        role = str(rec["role"]).strip()
        if role not in PLATE_MAP_ROLES:
            problems.append(
                Problem(
                    file=f,
                    row=row,
                    column="role",
                    value=role,
                    message="unknown role",
                    expected=f"one of {', '.join(PLATE_MAP_ROLES)}",
                    rule="plate_map.role",
                )
            )
        if role in ("sample",) and not (str(rec["patient_id"]).strip() and str(rec["visit"]).strip()):
            problems.append(
                Problem(
                    file=f,
                    row=row,
                    column="patient_id/visit",
                    value=f"{rec['patient_id']!s}/{rec['visit']!s}",
                    message="a patient sample needs patient_id and visit",
                    expected="e.g. MYO-01 and W0",
                    rule="plate_map.patient",
                )
            )
        d = str(rec["dilution_factor"]).strip()
        try:
            dv = float(d) if d else 1.0
            if not (dv > 0) or math.isinf(dv):
                raise ValueError
        except ValueError:
            problems.append(
                Problem(
                    file=f,
                    row=row,
                    column="dilution_factor",
                    value=d,
                    message="not a positive number",
                    expected="a dilution factor > 0 (e.g. 2), or empty for 1",
                    rule="plate_map.dilution",
                )
            )
            dv = float("nan")
        dils.append(dv)
    df["well"] = wells
    df["dilution_factor"] = dils
    for col in ("plate_id", "sample_id", "patient_id", "visit", "role"):
        df[col] = df[col].astype(str).str.strip()
    with_well = df[df["well"] != ""]
    dup = with_well.duplicated(["plate_id", "well"], keep="first")
    for idx in with_well.index[dup]:
        problems.append(
            Problem(
                file=f,
                row=int(idx) + 2,
                column="well",
                value=f"{df.at[idx, 'plate_id']} {df.at[idx, 'well']}",
                message="the same plate and well appear twice",
                expected="one row per plate and well",
                rule="plate_map.duplicate",
            )
        )
    if problems:
        raise ValidationFailed(problems, context=f)
    return df
