"""Row schemas (layer 1 of validation): columns, types, allowed values, ranges, ID patterns.

A schema is a list of :class:`Col`. :func:`check_rows` normalises the header (lower case,
spaces to ``_``, known aliases), reports missing required columns, parses every cell of
every known column and reports every bad cell with its row, column, value, the rule and
what would be right. Unknown extra columns are kept as text (and screened for direct
identifiers by :mod:`myocit_omics.validate.identifiers`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from myocit_omics.config import StudyConfig
from myocit_omics.errors import Problem

MAX_PROBLEMS_PER_RULE = 25
SAMPLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Col:
    """One column of a row schema.

    Attributes
    ----------
    name
        Canonical (lower-case) name.
    kind
        ``text``, ``number``, ``integer``, ``choice``, ``patient``, ``visit``, ``sample_id`` or
        ``number_or_blq``.
    required
        The column must be present.
    allow_empty
        Cells may be empty (= not measured).
    lo, hi
        Inclusive range of numbers.
    choices
        Allowed values of a ``choice`` column.
    aliases
        Other header names accepted for this column (normalised).
    default
        Value used when the column is absent (only for optional columns).
    """

    name: str
    kind: str = "text"
    required: bool = True
    allow_empty: bool = False
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    default: str | None = None

    def expected(self) -> str:
        """Describe what a valid cell looks like."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind in ("number", "integer", "number_or_blq"):
            what = "a whole number" if self.kind == "integer" else "a number"
            if self.kind == "number_or_blq":
                what += " or BLQ"
            if self.lo is not None and self.hi is not None:
                what += f" from {_fmt(self.lo)} to {_fmt(self.hi)}"
            elif self.lo is not None:
                what += f" >= {_fmt(self.lo)}"
            return what
        if self.kind == "sample_id":
            return "an id of letters, digits, '.', '_' or '-'"
        return "a value"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _score(name: str, lo: float, hi: float, *, integer: bool = False) -> Col:
    return Col(name, "integer" if integer else "number", required=False, allow_empty=True, lo=lo, hi=hi)


SAMPLE_SHEET: list[Col] = [
    Col("sample_id", "sample_id", aliases=("sample", "sampleid", "sample_name")),
    Col("column", "text", required=False, allow_empty=True, aliases=("matrix_column", "count_column")),
    Col("patient_id", "patient", aliases=("patient", "subject_id", "subject", "pseudonym")),
    Col("visit", "visit", aliases=("timepoint", "visit_id")),
    Col("sex", "choice", required=False, allow_empty=True, choices=("F", "M")),
    Col(
        "role",
        "choice",
        required=False,
        allow_empty=True,
        choices=("patient", "healthy_control"),
        default="patient",
    ),
    Col("seq_batch", "text", required=False, allow_empty=True, aliases=("batch", "run", "sequencing_batch")),
]

PATIENTS: list[Col] = [
    Col("patient_id", "patient", aliases=("patient", "subject_id", "subject", "pseudonym")),
    Col("sex", "choice", choices=("F", "M")),
    Col("age_years", "number", lo=0, hi=25, allow_empty=True),
    Col("weight_kg", "number", lo=1, hi=200, allow_empty=True),
    Col(
        "msa_group",
        "choice",
        required=False,
        allow_empty=True,
        choices=("anti-TIF1g", "anti-NXP2", "anti-MDA5", "other"),
    ),
    Col("baricitinib_dose_mg", "number", required=False, allow_empty=True, lo=0, hi=20),
]

CORE_SET: list[Col] = [
    Col("patient_id", "patient", aliases=("patient", "subject_id", "subject", "pseudonym")),
    Col("visit", "visit", aliases=("timepoint", "visit_id")),
    _score("cmas", 0, 52, integer=True),
    _score("mmt8", 0, 80, integer=True),
    _score("physician_global", 0, 10),
    _score("parent_global", 0, 10),
    _score("chaq", 0, 3),
    Col("ck", "number", required=False, allow_empty=True, lo=0, hi=500_000),
    Col("aldolase", "number", required=False, allow_empty=True, lo=0, hi=10_000),
    Col("ldh", "number", required=False, allow_empty=True, lo=0, hi=100_000),
    Col("alt", "number", required=False, allow_empty=True, lo=0, hi=100_000),
    Col("ast", "number", required=False, allow_empty=True, lo=0, hi=100_000),
    _score("das_skin", 0, 9),
    _score("das_muscle", 0, 11),
    _score("das_total", 0, 20),
    _score("mdaat_extramuscular", 0, 60),
    _score("chq_phs", -50, 150),
    _score("chq_pss", -50, 150),
    _score("prednisone_mg_kg_day", 0, 30),
]

PK: list[Col] = [
    Col("sample_id", "sample_id", aliases=("sample",)),
    Col("patient_id", "patient", aliases=("patient", "subject_id", "subject")),
    Col("visit", "visit", aliases=("timepoint",)),
    Col("dose_mg", "number", lo=0, hi=100),
    Col("time_since_dose_h", "number", lo=0, hi=24 * 14),
    Col("concentration_ng_ml", "number_or_blq", lo=0, hi=1e6, aliases=("concentration", "conc_ng_ml")),
    Col("lloq_ng_ml", "number", lo=0, hi=1e6, allow_empty=True, required=False, aliases=("lloq",)),
]

PLATE_MAP: list[Col] = [
    Col("plate_id", "text", aliases=("plate",)),
    Col("well", "text", allow_empty=True, aliases=("location", "well_id")),
    Col("sample_id", "text", allow_empty=True, aliases=("sample",)),
    Col("patient_id", "text", required=False, allow_empty=True, aliases=("patient",)),
    Col("visit", "text", required=False, allow_empty=True),
    Col(
        "role",
        "choice",
        choices=("sample", "bridge", "standard", "background", "control"),
        aliases=("sample_type", "type"),
    ),
    Col("dilution_factor", "number", required=False, allow_empty=True, lo=0, hi=1e7, aliases=("dilution",)),
]

SCHEMAS: dict[str, list[Col]] = {
    "sample_sheet": SAMPLE_SHEET,
    "patients": PATIENTS,
    "core_set": CORE_SET,
    "pk": PK,
    "plate_map": PLATE_MAP,
}

#: Fix hints per rule family.
_FIX = {
    "vocab.visit": "use W0, W4, W8, W12, W24 or UNS-<n> as in study.yaml",
    "type.number": "write a plain number with a decimal point, or leave the cell empty if not measured",
    "type.integer": "write a whole number",
}


def normalise_name(name: str) -> str:
    """Return a header name in canonical form: lower case, stripped, spaces and dashes to ``_``."""
    return re.sub(r"[\s\-/]+", "_", str(name).strip().lower()).strip("_")


def _rename(df: pd.DataFrame, schema: list[Col], file: str) -> tuple[pd.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    alias = {a: c.name for c in schema for a in (c.name, *c.aliases)}
    mapping: dict[str, str] = {}
    seen: dict[str, str] = {}
    for original in df.columns:
        norm = normalise_name(original)
        canon = alias.get(norm, norm)
        if canon in seen:
            problems.append(
                Problem(
                    file=file,
                    row=int(df.attrs.get("source", {}).get("header_row", 1)),
                    column=str(original),
                    value=str(original),
                    message=f"column {original!r} means the same as {seen[canon]!r}",
                    rule="schema.duplicate_column",
                    expected="each column once",
                    fix="remove one of the two",
                )
            )
            canon = f"{canon}__dup"
        seen[canon] = str(original)
        mapping[original] = canon
    out = df.rename(columns=mapping)
    out.attrs = dict(df.attrs)
    return out, problems


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.counts: dict[str, int] = {}
        self.file = ""

    def add(self, p: Problem) -> None:
        n = self.counts.get(p.rule, 0)
        self.counts[p.rule] = n + 1
        if n < MAX_PROBLEMS_PER_RULE:
            self.items.append(p)

    def finish(self) -> list[Problem]:
        out = list(self.items)
        for rule, n in self.counts.items():
            if n > MAX_PROBLEMS_PER_RULE:
                out.append(
                    Problem(
                        file=self.file,
                        message=f"... and {n - MAX_PROBLEMS_PER_RULE} more problem(s) of this kind",
                        rule=rule,
                    )
                )
        return out


def parse_number(text: str) -> float | None:
    """Return the number in ``text`` or None when it is not a plain finite number."""
    t = text.strip()
    if not _NUMBER.match(t):
        return None
    x = float(t)
    return x if math.isfinite(x) else None


def check_rows(
    df: pd.DataFrame, schema: list[Col], *, file: str, config: StudyConfig | None = None
) -> tuple[pd.DataFrame, list[Problem]]:
    """Check every row of a table against a schema; return the typed table and every problem.

    Parameters
    ----------
    df
        A table from :func:`myocit_omics.io.tables.read_table` (strings, index = row numbers).
    schema
        The columns expected.
    file
        File name for messages.
    config
        Study configuration for patient and visit vocabularies (MYOCIT defaults if None).

    Returns
    -------
    tuple of (DataFrame, list of Problem)
        The table with canonical column names, numbers parsed (float, NaN = empty), text
        stripped; and the problems found.
    """
    from myocit_omics.config import default_study_config

    config = config or default_study_config()
    df, problems = _rename(df, schema, file)
    out = _Problems()
    out.file = file
    for p in problems:
        out.add(p)
    header_row = int(df.attrs.get("source", {}).get("header_row", 1))
    present = set(df.columns)
    typed = df.copy()
    typed.attrs = dict(df.attrs)
    for col in schema:
        if col.name not in present:
            if col.required:
                out.add(
                    Problem(
                        file=file,
                        row=header_row,
                        column=col.name,
                        value=None,
                        message=f"required column {col.name!r} is missing",
                        rule="schema.missing_column",
                        expected="columns " + ", ".join(c.name for c in schema if c.required),
                        fix=f"add a column named {col.name!r}"
                        + (f" (also accepted: {', '.join(col.aliases)})" if col.aliases else ""),
                        extra={"found_columns": [str(c) for c in df.columns]},
                    )
                )
            else:
                typed[col.name] = col.default if col.default is not None else ""
            continue
        values = df[col.name].astype(str).str.strip()
        parsed = _check_column(values, col, file=file, config=config, out=out, role=df.get("role"))
        typed[col.name] = parsed
    for c in typed.columns:
        if c not in {s.name for s in schema} and typed[c].dtype == object:
            typed[c] = typed[c].astype(str).str.strip()
    return typed, out.finish()


def _cell(file: str, row: int, col: Col, text: str, message: str, *, rule: str, expected: str | None,
          fix: str | None = None) -> Problem:
    """Return a problem with one cell of a row-schema column."""
    return Problem(file=file, row=row, column=col.name, value=text, message=message, rule=rule,
                   expected=expected, fix=fix)


def _check_column(
    values: pd.Series, col: Col, *, file: str, config: StudyConfig, out: _Problems, role: pd.Series | None
) -> pd.Series:
    numeric = col.kind in ("number", "integer", "number_or_blq")
    result: list[Any] = []
    for row, text in values.items():
        empty = text == "" or (text.upper() in ("NA", "N/A", "NAN") and numeric)
        if empty:
            control_visit = (
                col.kind == "visit"
                and role is not None
                and str(role.get(row, "")).strip() == "healthy_control"
            )
            if not col.allow_empty and not control_visit:
                out.add(_cell(
                    file, int(row), col, text,
                    "empty cell in a required column",
                    rule=f"required.{col.name}",
                    expected=col.expected(),
                    fix="fill in the value",
                ))
            result.append(math.nan if numeric else "")
            continue
        if numeric:
            result.append(_check_number(text, col, file=file, row=int(row), out=out))
        elif col.kind == "choice":
            if text not in col.choices:
                match = [c for c in col.choices if c.lower() == text.lower()]
                out.add(_cell(
                    file, int(row), col, text,
                    "value not allowed",
                    rule=f"vocab.{col.name}",
                    expected=col.expected(),
                    fix=f"write {match[0]!r}" if match else "use one of the listed values",
                ))
            result.append(text)
        elif col.kind == "patient":
            is_control = role is not None and str(role.get(row, "")).strip() == "healthy_control"
            if is_control:
                if not SAMPLE_ID.match(text):
                    out.add(_cell(
                        file, int(row), col, text,
                        "control id has characters that are not allowed",
                        rule="pattern.patient_id",
                        expected="letters, digits, '.', '_' or '-'",
                    ))
            elif not config.is_valid_patient(text):
                listed = (
                    f" and listed in study.yaml ({len(config.patients)} patients)" if config.patients else ""
                )
                out.add(_cell(
                    file, int(row), col, text,
                    "unknown patient id",
                    rule="vocab.patient_id",
                    expected=f"an id matching {config.patient_id_pattern}{listed}",
                    fix="use the pseudonymous trial id (e.g. MYO-01), never a name",
                ))
            result.append(text)
        elif col.kind == "visit":
            is_control = role is not None and str(role.get(row, "")).strip() == "healthy_control"
            if not config.is_valid_visit(text) and not is_control:
                out.add(_cell(
                    file, int(row), col, text,
                    "unknown visit",
                    rule="vocab.visit",
                    expected="one of " + ", ".join(config.visits) + " or UNS-<n>",
                    fix=_FIX["vocab.visit"],
                ))
            result.append(text)
        elif col.kind == "sample_id":
            if not SAMPLE_ID.match(text):
                out.add(_cell(
                    file, int(row), col, text,
                    "sample id has characters that are not allowed",
                    rule="pattern.sample_id",
                    expected=col.expected(),
                    fix="remove spaces and special characters",
                ))
            result.append(text)
        else:
            result.append(text)
    return pd.Series(
        result, index=values.index, dtype=float if numeric and col.kind != "number_or_blq" else object
    )


def _check_number(text: str, col: Col, *, file: str, row: int, out: _Problems) -> Any:
    if col.kind == "number_or_blq" and text.upper() in ("BLQ", "<LLOQ", "BQL"):
        return "BLQ"
    x = parse_number(text)
    if x is None:
        comma = re.match(r"^[+-]?\d+,\d+$", text)
        out.add(_cell(
            file, row, col, text,
            "not a number",
            rule="type.number",
            expected=col.expected(),
            fix="use a decimal point (3.5), not a decimal comma" if comma else _FIX["type.number"],
        ))
        return math.nan
    if col.kind == "integer" and not float(x).is_integer():
        out.add(_cell(
            file, row, col, text,
            "not a whole number",
            rule="type.integer",
            expected=col.expected(),
            fix=_FIX["type.integer"],
        ))
    if (col.lo is not None and x < col.lo) or (col.hi is not None and x > col.hi):
        out.add(_cell(
            file, row, col, text,
            f"{col.name} outside its range",
            rule=f"range.{col.name}",
            expected=col.expected(),
            fix="check the value in the eCRF",
        ))
    return x
