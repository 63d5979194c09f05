"""The JDM clinical core set per patient and visit: reading, checking, missing measures.

The layout is ``core_set.csv`` of docs/contracts.md section 2.2: one row per patient and
visit, an empty cell (or ``NA``) meaning "not measured". A measure that was not measured
stays missing (NaN) all the way through; nothing here fills a gap.
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from myocit_omics.config import UNSCHEDULED_VISIT, StudyConfig
from myocit_omics.errors import InputError, Problem, ValidationFailed


@dataclass(frozen=True)
class Measure:
    """One core-set measure.

    Attributes
    ----------
    name
        Column name in ``core_set.csv``.
    low, high
        Range of the scale; ``None`` where the scale is open (enzymes, norm-based CHQ).
    higher_is_better
        True for strength and CHQ scores, False for activity, disability and enzymes.
    """

    name: str
    low: float | None
    high: float | None
    higher_is_better: bool

    @property
    def bounded(self) -> bool:
        """True when the scale has both a lower and an upper limit."""
        return self.low is not None and self.high is not None


#: Every numeric column of the core set, with its range and direction (domain notes 2e).
MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("cmas", 0, 52, True),
        Measure("mmt8", 0, 80, True),
        Measure("physician_global", 0, 10, False),
        Measure("parent_global", 0, 10, False),
        Measure("chaq", 0, 3, False),
        Measure("ck", 0, None, False),
        Measure("aldolase", 0, None, False),
        Measure("ldh", 0, None, False),
        Measure("alt", 0, None, False),
        Measure("ast", 0, None, False),
        Measure("das_skin", 0, 9, False),
        Measure("das_muscle", 0, 11, False),
        Measure("das_total", 0, 20, False),
        Measure("mdaat_extramuscular", 0, 60, False),
        Measure("chq_phs", None, None, True),
        Measure("chq_pss", None, None, True),
        Measure("prednisone_mg_kg_day", 0, None, False),
    )
}

#: Enzymes from which the "most abnormal enzyme" of the TIS is chosen.
ENZYMES = ("ck", "aldolase", "ldh", "alt", "ast")

#: The measures whose absence is reported in ``missing_measures`` (prednisone is a covariate).
CORE_MEASURES = tuple(m for m in MEASURES if m != "prednisone_mg_kg_day")

_MISSING_TOKENS = {"", "na", "nan", "n/a", "nd", "not done", "missing"}


def visit_week(visit: str) -> float:
    """Return the study week of a visit label (``W4`` -> 4); unscheduled visits give NaN.

    Parameters
    ----------
    visit
        ``W<n>`` or ``UNS-<n>``.

    Returns
    -------
    float
        The week, or NaN when the label carries no week.
    """
    m = re.fullmatch(r"W(\d+)", str(visit))
    return float(m.group(1)) if m else math.nan


def visit_sort_key(visit: str) -> tuple[int, float]:
    """Sort key that orders ``W0 < W4 < W8 < W12 < W24 < UNS-1 < UNS-2``."""
    week = visit_week(visit)
    if not math.isnan(week):
        return (0, week)
    m = re.fullmatch(r"UNS-(\d+)", str(visit))
    return (1, float(m.group(1)) if m else math.inf)


#: Intake readers of the store (``myocit_omics.io``) by table kind: module and function.
_INTAKE_READERS = {"core_set": ("myocit_omics.io.clinical", "read_core_set"),
                   "patients": ("myocit_omics.io.clinical", "read_patients"),
                   "pk": ("myocit_omics.io.pk", "read_pk")}


def _read_raw(path: Path, *, kind: str | None = None, config: StudyConfig | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/xlsx as a table of strings (empty string = empty cell).

    The intake reader of the store (``myocit_omics.io.clinical`` / ``io.pk``, the same checks
    as at hand-in) is used when it exists, else the project's table reader, else pandas. The
    row index is kept so that messages can name the spreadsheet row.
    """
    if not path.is_file():
        raise InputError("file not found", file=str(path), expected="an existing CSV file",
                         rule="clinical.missing_file")
    df = None
    if kind in _INTAKE_READERS:
        module, func = _INTAKE_READERS[kind]
        try:
            reader = getattr(importlib.import_module(module), func)
        except (ImportError, AttributeError):
            reader = None
        if reader is not None:
            df = reader(path, config=config, name=path.name)
    if df is None:
        try:
            from myocit_omics.io.tables import read_table
        except ImportError:
            read_table = None
        if read_table is not None:
            df = read_table(path)
    if isinstance(df, pd.DataFrame):
        return df.astype(object).where(df.notna(), "").astype(str)
    sep = "\t" if path.suffix.lower() in {".tsv", ".txt"} else ","
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot be read as a table: {exc}", file=str(path),
                         rule="clinical.unreadable") from None


def row_numbers(raw: pd.DataFrame) -> list[int]:
    """Spreadsheet row numbers of a raw table's rows.

    :func:`myocit_omics.io.tables.read_table` indexes rows by the number a spreadsheet shows;
    a plain ``pandas.read_csv`` table (index 0, 1, ...) gets ``index + 2`` (header = row 1).
    """
    idx = raw.index
    if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
        return [int(i) + 2 for i in idx]
    return [int(i) for i in idx]


def parse_core_set(raw: pd.DataFrame, *, file: str = "core_set.csv",
                   config: StudyConfig | None = None) -> pd.DataFrame:
    """Check a raw core-set table (all strings) and return it typed.

    Parameters
    ----------
    raw
        The table as read, every cell a string.
    file
        Name used in error messages.
    config
        Study configuration, for the patient-id pattern and the visit labels.

    Returns
    -------
    pd.DataFrame
        ``patient_id``, ``visit`` and one float column per measure of :data:`MEASURES`
        (NaN = not measured; a measure whose column is absent is all NaN), sorted by patient
        and visit. ``attrs["absent_columns"]`` lists the measure columns not in the file.

    Raises
    ------
    ValidationFailed
        Listing every bad cell: missing id columns, unknown visits or patients, non-numbers,
        values outside the scale, duplicate patient/visit rows.
    """
    raw = raw.rename(columns=lambda c: str(c).strip().lower())
    rows = row_numbers(raw)
    raw = raw.reset_index(drop=True)
    problems: list[Problem] = []
    for col in ("patient_id", "visit"):
        if col not in raw.columns:
            problems.append(Problem(file=file, column=col, message="required column is missing",
                                    expected=f"a header with {col!r}", rule="clinical.column"))
    if problems:
        raise ValidationFailed(problems, context=file)
    out = pd.DataFrame({"patient_id": raw["patient_id"].astype(str).str.strip(),
                        "visit": raw["visit"].astype(str).str.strip()})
    for i, (pid, visit) in enumerate(zip(out["patient_id"], out["visit"], strict=True)):
        row = rows[i]
        if config is not None and not config.is_valid_patient(pid):
            problems.append(Problem(file=file, row=row, column="patient_id", value=pid,
                                    message="unknown patient id",
                                    expected=f"an id matching {config.patient_id_pattern}"
                                    + (" from the study's patient list" if config.patients else ""),
                                    rule="clinical.patient_id"))
        valid_visit = (config.is_valid_visit(visit) if config is not None
                       else bool(re.fullmatch(r"W\d+", visit) or UNSCHEDULED_VISIT.match(visit)))
        if not valid_visit:
            allowed = ", ".join(config.visits) if config is not None else "W<n>"
            problems.append(Problem(file=file, row=row, column="visit", value=visit,
                                    message="unknown visit label",
                                    expected=f"one of {allowed} or UNS-<n>", rule="clinical.visit"))
    for name, measure in MEASURES.items():
        if name not in raw.columns:
            out[name] = np.nan
            continue
        values = np.full(len(raw), np.nan)
        for i, cell in enumerate(raw[name].astype(str)):
            text = cell.strip()
            if text.lower() in _MISSING_TOKENS:
                continue
            try:
                value = float(text)
            except ValueError:
                problems.append(Problem(file=file, row=rows[i], column=name, value=cell,
                                        message="not a number", expected="a number, or an empty cell "
                                        "when not measured", rule="clinical.number"))
                continue
            if not math.isfinite(value):
                problems.append(Problem(file=file, row=rows[i], column=name, value=cell,
                                        message="not a finite number", expected="a finite number",
                                        rule="clinical.number"))
                continue
            low_bad = measure.low is not None and value < measure.low
            high_bad = measure.high is not None and value > measure.high
            if low_bad or high_bad:
                rng = f"{measure.low:g} to {measure.high:g}" if measure.bounded else f">= {measure.low:g}"
                problems.append(Problem(file=file, row=rows[i], column=name, value=cell,
                                        message="outside the scale", expected=f"a value {rng}",
                                        rule=f"range.{name}"))
                continue
            values[i] = value
        out[name] = values
    dup = out.duplicated(["patient_id", "visit"], keep="first")
    for i in np.flatnonzero(dup.to_numpy()):
        problems.append(Problem(file=file, row=rows[int(i)], column="visit",
                                value=f"{out.at[i, 'patient_id']} {out.at[i, 'visit']}",
                                message="patient and visit appear twice",
                                expected="one row per patient and visit", rule="clinical.duplicate"))
    if problems:
        raise ValidationFailed(problems, context=file)
    out = out.iloc[sorted(range(len(out)),
                          key=lambda i: (out.at[i, "patient_id"], visit_sort_key(out.at[i, "visit"])))]
    out = out.reset_index(drop=True)
    out.attrs["absent_columns"] = [m for m in MEASURES if m not in raw.columns]
    return out


def read_core_set(path: str | Path, *, config: StudyConfig | None = None) -> pd.DataFrame:
    """Read and check ``core_set.csv`` (see :func:`parse_core_set`).

    Parameters
    ----------
    path
        The core-set file.
    config
        Study configuration (patient-id pattern, visit labels).

    Returns
    -------
    pd.DataFrame
        The typed core set.
    """
    path = Path(path)
    return parse_core_set(_read_raw(path, kind="core_set", config=config), file=str(path), config=config)


def read_patients(path: str | Path | None, *, config: StudyConfig | None = None) -> pd.DataFrame:
    """Read ``patients.csv`` (patient_id, sex, age_years, weight_kg, msa_group, baricitinib_dose_mg).

    Parameters
    ----------
    path
        The file, or None (then an empty table with those columns).
    config
        Study configuration (patient-id pattern), passed to the intake reader.

    Returns
    -------
    pd.DataFrame
        One row per patient; numeric columns as floats (NaN when empty).

    Raises
    ------
    ValidationFailed
        On a missing ``patient_id`` column, duplicate patients or non-numeric numbers.
    """
    cols = ["patient_id", "sex", "age_years", "weight_kg", "msa_group", "baricitinib_dose_mg"]
    if path is None:
        return pd.DataFrame(columns=cols)
    path = Path(path)
    raw = _read_raw(path, kind="patients", config=config).rename(columns=lambda c: str(c).strip().lower())
    rows = row_numbers(raw)
    raw = raw.reset_index(drop=True)
    problems: list[Problem] = []
    if "patient_id" not in raw.columns:
        raise ValidationFailed([Problem(file=str(path), column="patient_id", rule="clinical.column",
                                        message="required column is missing",
                                        expected="a header with 'patient_id'")], context=str(path))
    out = pd.DataFrame({"patient_id": raw["patient_id"].astype(str).str.strip()})
    for col in ("sex", "msa_group"):
        out[col] = raw[col].astype(str).str.strip() if col in raw.columns else ""
    for col in ("age_years", "weight_kg", "baricitinib_dose_mg"):
        vals = np.full(len(raw), np.nan)
        if col in raw.columns:
            for i, cell in enumerate(raw[col].astype(str)):
                if cell.strip().lower() in _MISSING_TOKENS:
                    continue
                try:
                    vals[i] = float(cell)
                except ValueError:
                    problems.append(Problem(file=str(path), row=rows[i], column=col, value=cell,
                                            message="not a number", expected="a number",
                                            rule="clinical.number"))
        out[col] = vals
    for i in np.flatnonzero(out.duplicated("patient_id").to_numpy()):
        problems.append(Problem(file=str(path), row=rows[int(i)], column="patient_id",
                                value=out.at[i, "patient_id"], message="patient appears twice",
                                expected="one row per patient", rule="clinical.duplicate"))
    if problems:
        raise ValidationFailed(problems, context=str(path))
    return out


def missing_measures(row: pd.Series, measures: tuple[str, ...] = CORE_MEASURES) -> list[str]:
    """Return the names of the measures not recorded in one core-set row.

    Parameters
    ----------
    row
        One row of a typed core set.
    measures
        Which measures to look at.

    Returns
    -------
    list[str]
        Measure names whose value is NaN, in :data:`MEASURES` order.
    """
    return [m for m in measures if m not in row.index or pd.isna(row[m])]
