"""Refuse direct identifiers: names, dates of birth, addresses, phone numbers, e-mail addresses.

The trial works on pseudonymous ids (``MYO-01``) and visit labels only. A column whose
name looks like a direct identifier is refused, and so is any cell whose value looks like
an e-mail address, a phone number, a street address or a calendar date (a date can be a
date of birth; the trial records visits as ``W0``... instead).
"""

from __future__ import annotations

import re

import pandas as pd

from myocit_omics.errors import Problem

_COLUMN_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "name",
        re.compile(
            r"(^|_)(first|last|given|family|sur|full|maiden|middle|patient|child|mother|father|"
            r"parent|guardian)?_?names?$|^(surname|forename|initials|vorname|nachname|nom|prenom)$"
        ),
    ),
    (
        "date of birth",
        re.compile(
            r"(^|_)(dob|d_o_b|date_?of_?birth|birth_?date|birth_?day|born|"
            r"geburtsdatum|birth)($|_)"
        ),
    ),
    (
        "address",
        re.compile(
            r"(^|_)(address|addr|street|postcode|post_code|postal_code|zip|zip_code|"
            r"house_number|strasse|adresse)($|_)"
        ),
    ),
    (
        "phone number",
        re.compile(
            r"(^|_)(phone|telephone|tel|mobile|cellphone|fax|telefon)(_?(no|nr|number))?"
            r"($|_)"
        ),
    ),
    ("e-mail address", re.compile(r"(^|_)(e_?mail|mail_address)($|_)")),
    (
        "national id",
        re.compile(
            r"(^|_)(nhs_?(no|number)?|ssn|social_security|mrn|medical_record|"
            r"insurance_?(no|number)|passport)($|_)"
        ),
    ),
]

#: Column names that end in ``name`` but are not about a person.
_SAFE_NAMES = {
    "gene_name",
    "analyte_name",
    "batch_name",
    "plate_name",
    "assay_name",
    "panel_name",
    "file_name",
    "filename",
    "sample_name",
    "site_name",
    "kit_name",
    "run_name",
    "name_of_assay",
}

_VALUE_PATTERNS: list[tuple[str, str, re.Pattern[str]]] = [
    ("identifier.email", "an e-mail address", re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")),
    (
        "identifier.date",
        "a calendar date (could be a date of birth)",
        re.compile(
            r"^\s*(\d{1,2}[./-]\d{1,2}[./-](\d{4}|\d{2})|\d{4}[./-]\d{1,2}[./-]\d{1,2})([ T]\d{1,2}:\d{2}"
            r"(:\d{2})?)?\s*$"
        ),
    ),
    (
        "identifier.address",
        "a street address",
        re.compile(
            r"\b\d+[a-z]?,?\s+(\w+\s){0,3}(street|st\.|road|rd\.|avenue|ave\.|lane|drive|boulevard|"
            r"blvd|close|crescent|strasse|straße|str\.|weg|gasse|allee|platz)\b|\b(rue|via|calle|avenida|"
            r"strada)\s+\w+.*\d|\b\w+(strasse|straße|weg|gasse|allee)\s+\d+",
            re.IGNORECASE,
        ),
    ),
]
_PHONE = re.compile(r"^\s*(\+|00|0)?[\d\s().-]{8,20}\s*$")


def _looks_like_phone(text: str) -> bool:
    if not _PHONE.match(text):
        return False
    digits = sum(ch.isdigit() for ch in text)
    separators = any(ch in text for ch in " ()-") or text.strip().startswith(("+", "00", "0"))
    return 9 <= digits <= 15 and separators and not re.match(r"^\s*[+-]?\d+\.\d+\s*$", text)


def mask(text: str) -> str:
    """Return a value that looked like a direct identifier, masked for reports (``ja***``, 20 chars)."""
    t = text.strip()
    return f"{t[:2]}*** ({len(t)} chars)"


def identifier_column_kind(name: str) -> str | None:
    """Return what kind of direct identifier a column name suggests, or None.

    Parameters
    ----------
    name
        The column name (any case).

    Returns
    -------
    str or None
        ``"name"``, ``"date of birth"``, ``"address"``, ``"phone number"``, ``"e-mail address"``,
        ``"national id"`` or None.
    """
    norm = re.sub(r"[\s\-/.]+", "_", str(name).strip().lower()).strip("_")
    if norm in _SAFE_NAMES:
        return None
    for kind, pattern in _COLUMN_PATTERNS:
        if pattern.search(norm):
            return kind
    return None


def check_identifiers(
    df: pd.DataFrame,
    *,
    file: str,
    skip_values: set[str] | frozenset[str] = frozenset(),
) -> list[Problem]:
    """Return a problem for each column or cell that looks like a direct identifier.

    Parameters
    ----------
    df
        A table of strings (index = row numbers).
    file
        File name for messages.
    skip_values
        Columns whose values are already checked by a stricter rule (ids, visits, numbers).

    Returns
    -------
    list of Problem
        Column problems (rule ``identifier.column``) and cell problems (``identifier.email``,
        ``identifier.phone``, ``identifier.date``, ``identifier.address``); at most 10 cells per
        column are listed. Cell values are masked (:func:`mask`): the report must not copy the
        identifier; row and column say where it is.
    """
    problems: list[Problem] = []
    header_row = int(df.attrs.get("source", {}).get("header_row", 1))
    for column in df.columns:
        kind = identifier_column_kind(str(column))
        if kind:
            problems.append(
                Problem(
                    file=file,
                    row=header_row,
                    column=str(column),
                    value=str(column),
                    message=f"column looks like a direct identifier ({kind})",
                    rule="identifier.column",
                    expected="pseudonymous ids and visit labels only",
                    fix="remove the column; identify children only by their trial id (MYO-01)",
                )
            )
            continue
        if column in skip_values or df[column].dtype != object:
            continue
        found = 0
        for row, value in df[column].items():
            text = str(value)
            if not text.strip() or text.strip().replace(".", "", 1).isdigit():
                continue
            hit = None
            for rule, what, pattern in _VALUE_PATTERNS:
                if pattern.search(text):
                    hit = (rule, what)
                    break
            if hit is None and _looks_like_phone(text):
                hit = ("identifier.phone", "a phone number")
            if hit:
                found += 1
                if found <= 10:
                    problems.append(
                        Problem(
                            file=file,
                            row=int(row),
                            column=str(column),
                            value=mask(text),
                            message=f"value looks like {hit[1]}",
                            rule=hit[0],
                            expected="no direct identifiers in hand-ins",
                            fix="remove it; dates go in as visit labels (W0, W4...), people by trial id",
                        )
                    )
        if found > 10:
            problems.append(
                Problem(
                    file=file,
                    column=str(column),
                    message=f"... and {found - 10} more cells that look like identifiers",
                    rule="identifier.value",
                )
            )
    return problems
