"""The common form of every cytokine export, the helpers readers share, and the reader record.

This module imports no reader: readers (one module per instrument in this package) import it,
and :mod:`myocit_omics.io.cytokine.registry` imports the readers. Every reader returns a
:class:`CytokineExport` and declares itself with a module-level ``READER``
(:class:`Reader`: platform, layouts, a content test, the read function).

The ``values`` table of a :class:`CytokineExport` has one row per well (or sample) and
analyte, with the columns of :data:`VALUE_COLUMNS`:

``plate_id``
    Plate as the export names it (xPONENT: ``Batch`` plus the plate number when a file
    holds several plates; MSD: the ``Plate_<barcode>`` line; Olink: ``PlateID``).
``well``
    Well as ``A1`` .. ``P24`` (leading zeros removed: MSD's ``A01`` becomes ``A1``).
``location``
    The export's own well label (``1(1,A1)``), kept for messages.
``sample``
    Sample name as written in the export (xPONENT ``Sample``, MSD ``Sample``, Olink ``SampleID``).
``role``
    ``standard``, ``background``, ``control`` or ``sample``, inferred from the export
    (names such as ``Standard3``, ``Background0``, MSD ``S001``/``B``/``C``, Olink
    ``Sample_Type``); a plate map overrides it (and adds ``bridge``).
``analyte``
    Analyte name as the export writes it.
``raw``
    The instrument's reported value, as a string, untouched (xPONENT ``Result`` when the
    export has it, else the MFI; MSD ``Calc. Concentration``; Olink ``NPX``).
``signal``
    The measured signal as a number (xPONENT ``Net MFI``, else ``Median``; MSD
    ``Adjusted Signal``/``Signal``; Olink ``NPX``; NaN for the generic CSV).
``instrument_value``
    The instrument's own concentration (or NPX) as a number; NaN when the instrument
    reported none or only an out-of-range bound (``< 0.1``).
``instrument_flag``
    Normalised instrument marker: ``""`` none, ``oor_low``/``oor_high`` (xPONENT ``<``/``>``,
    MSD below/above fit curve range), ``below_detection``/``above_detection`` (MSD),
    ``extrapolated``, ``qc_warning`` (Olink), or the generic CSV's flag.
``unit``, ``dilution_factor``, ``bead_count``, ``cv_pct``
    As exported (``cv_pct``: the instrument's replicate %CV).
``expected_conc``
    Expected concentration of a standard or control well, else NaN.
``lloq``, ``uloq``
    Limits the export states (Olink ``LOD``, generic CSV), else NaN.

Bad input raises :class:`~myocit_omics.errors.InputError` (one problem) or
:class:`~myocit_omics.errors.ValidationFailed` (several), naming the file, the block,
the well and the value. Problems that do not stop reading (a missing checksum trailer,
standards without a well) are kept in ``problems`` with ``severity="warning"``; a damaged
standard series is judged downstream (:mod:`myocit_omics.cytokines.standards`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.errors import InputError, Problem

#: Columns of :attr:`CytokineExport.values`, in order.
VALUE_COLUMNS: tuple[str, ...] = (
    "plate_id",
    "well",
    "location",
    "sample",
    "role",
    "analyte",
    "raw",
    "signal",
    "instrument_value",
    "instrument_flag",
    "unit",
    "dilution_factor",
    "bead_count",
    "cv_pct",
    "expected_conc",
    "lloq",
    "uloq",
)

_WELL = re.compile(r"^([A-Pa-p])0*(\d{1,2})$")
_MISSING_STRINGS = {"", "nan", "na", "n/a", "none", "null", "-", "--", "---"}


@dataclass
class CytokineExport:
    """One instrument export in the common form.

    Attributes
    ----------
    path
        The file read.
    platform
        One of :data:`PLATFORMS`.
    fmt
        The exact layout, e.g. ``xponent-csv``, ``intelliflex-flat``, ``msd-workbench-csv``,
        ``olink-explore-long``, ``olink-target96-wide``, ``generic-long``.
    scale
        ``mfi`` (signals that need a standard curve), ``concentration`` (the instrument
        reports concentrations), or ``npx`` (Olink, already log2 and relative).
    values
        One row per well and analyte, columns :data:`VALUE_COLUMNS`.
    analytes
        One row per analyte: ``analyte`` plus what the export says about it (``unit``,
        ``bead_id``, ``analysis_type``, curve coefficients, ``r2``, Olink ids ...).
    standards
        Expected concentrations: ``analyte``, ``standard`` (reagent or sample name),
        ``expected_conc``, ``kind`` (``standard`` or ``control``).
    metadata
        Header key/values as written (``Date`` parsed into ``date_iso`` when unambiguous).
    blocks
        Every block of the export as rows of strings (xPONENT ``DataType:`` blocks by name).
    messages
        The instrument's warnings and errors: ``well``, ``status``, ``message``.
    problems
        Non-fatal problems found while reading (``severity="warning"``).
    """

    path: Path
    platform: str
    fmt: str
    scale: str
    values: pd.DataFrame
    analytes: pd.DataFrame
    standards: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    blocks: dict[str, list[list[str]]] = field(default_factory=dict)
    messages: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["well", "status", "message"])
    )
    problems: list[Problem] = field(default_factory=list)

    @property
    def analyte_names(self) -> list[str]:
        """Analytes in export order."""
        return list(dict.fromkeys(self.values["analyte"]))

    @property
    def plate_ids(self) -> list[str]:
        """Plates in export order."""
        return list(dict.fromkeys(self.values["plate_id"]))


# --------------------------------------------------------------------------- helpers


def empty_values() -> pd.DataFrame:
    """Return an empty values table with the :data:`VALUE_COLUMNS`."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in VALUE_COLUMNS})


def finish_values(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Build the values table from row dicts, filling absent columns and fixing dtypes."""
    df = pd.DataFrame(rows) if rows else empty_values()
    for col in VALUE_COLUMNS:
        if col not in df.columns:
            df[col] = np.nan
    df = df[list(VALUE_COLUMNS)].copy()
    for col in (
        "signal",
        "instrument_value",
        "dilution_factor",
        "bead_count",
        "cv_pct",
        "expected_conc",
        "lloq",
        "uloq",
    ):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in (
        "plate_id",
        "well",
        "location",
        "sample",
        "role",
        "analyte",
        "raw",
        "instrument_flag",
        "unit",
    ):
        df[col] = df[col].where(df[col].notna(), "").astype(str)
    return df.reset_index(drop=True)


def is_missing_text(text: Any) -> bool:
    """Return True for empty cells and the usual spellings of 'no value'."""
    if text is None:
        return True
    if isinstance(text, float) and math.isnan(text):
        return True
    return str(text).strip().lower() in _MISSING_STRINGS


def parse_number(
    text: Any,
    *,
    file: str,
    where: str,
    column: str | None = None,
    row: int | None = None,
    decimal_comma: bool = False,
) -> float:
    """Parse one numeric cell; NaN for an empty or 'NaN' cell.

    Parameters
    ----------
    text
        The cell.
    file, where, column, row
        Where the cell is, for the message (``where`` names the block and well).
    decimal_comma
        Accept ``1,5`` as 1.5 (semicolon-separated exports from comma-decimal locales).

    Returns
    -------
    float
        The number, or NaN.

    Raises
    ------
    InputError
        If the cell holds text that is not a number.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    if is_missing_text(text):
        return float("nan")
    s = str(text).strip()
    if decimal_comma and "," in s and "." not in s:
        s = s.replace(",", ".")
    try:
        return float(s)
    except ValueError:
        raise InputError(
            f"{where}: not a number",
            file=file,
            row=row,
            column=column,
            value=str(text),
            expected="a number, empty, or NaN",
            rule="cytokine.number",
        ) from None


def normalise_well(text: Any) -> str | None:
    """Return a well as ``A1`` (``A01`` -> ``A1``), or None if it is not a well name."""
    if text is None:
        return None
    m = _WELL.match(str(text).strip())
    if not m:
        return None
    return f"{m.group(1).upper()}{int(m.group(2))}"


def infer_role(name: str, *, short_codes: bool = False) -> str:
    """Infer a well's role from its sample name.

    ``Standard3``/``Std 3``/``S`` -> standard; ``Background0``/``Blank``/``B`` -> background;
    ``Control1`` -> control; anything else -> sample. With ``short_codes`` (MSD naming)
    also ``S001`` -> standard, ``B01`` -> background, ``C01`` -> control.
    """
    s = str(name).strip()
    if (
        re.match(r"^(standard|std|cal(ibrator)?)[ _-]?\d*$", s, re.I)
        or s == "S"
        or (short_codes and re.match(r"^S\d+$", s))
    ):
        return "standard"
    if (
        re.match(r"^(background|blank|bkg)[ _-]?\d*$", s, re.I)
        or s == "B"
        or (short_codes and re.match(r"^B\d+$", s))
    ):
        return "background"
    if re.match(r"^(control|ctrl)[ _-]?\d*$", s, re.I) or (short_codes and re.match(r"^C\d+$", s)):
        return "control"
    return "sample"


def parse_export_date(text: str) -> tuple[str | None, str]:
    """Parse an export date written month-first, day-first or ISO, never guessing.

    Returns
    -------
    tuple
        (ISO date or None, convention): convention is ``iso``, ``month_first``,
        ``day_first``, ``ambiguous`` or ``unparsed``.
    """
    s = str(text).strip()
    m = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})", s)
    if m:
        return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3)):02d}", "iso"
    m = re.match(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})", s)
    if not m:
        return None, "unparsed"
    a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if a > 12 >= b:
        return f"{y:04d}-{b:02d}-{a:02d}", "day_first"
    if b > 12 >= a:
        return f"{y:04d}-{a:02d}-{b:02d}", "month_first"
    if a == b:
        return f"{y:04d}-{a:02d}-{b:02d}", "ambiguous"
    return None, "ambiguous"


def read_text(path: Path) -> tuple[str, str]:
    """Read a text export: UTF-8 (with or without BOM), else Latin-1; return (text, encoding)."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def xlsx_rows(path: Path, sheet: str | None = None) -> dict[str, list[list[Any]]]:
    """Return the rows (values only) of every sheet, or of ``sheet``, of a workbook.

    Raises
    ------
    InputError
        If the file is not a readable xlsx workbook.
    """
    import warnings
    import zipfile

    import openpyxl

    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles/extensions it does not know; irrelevant to values.
            warnings.simplefilter("ignore", UserWarning)
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise InputError(
            f"not a readable xlsx workbook: {exc}",
            file=str(path),
            rule="cytokine.xlsx",
            expected="an .xlsx file",
        ) from None
    try:
        names = [sheet] if sheet is not None else wb.sheetnames
        return {n: [list(r) for r in wb[n].iter_rows(values_only=True)] for n in names}
    finally:
        wb.close()


def xlsx_first_cells(path: Path) -> list[str]:
    """Return sheet names and the first-column cells of the first rows of every sheet."""
    out: list[str] = []
    for name, rows in xlsx_rows(path).items():
        out.append(name)
        out += [str(r[0]).strip() for r in rows[:12] if r and r[0] is not None]
    return out


# --------------------------------------------------------------------------- reader record


@dataclass
class FileHead:
    """What detection looks at: the file's name and its first lines (or workbook cells).

    Built once per file by the dispatcher and passed to every reader's ``detect``.
    """

    path: Path
    suffix: str
    text: str = ""
    lines: list[str] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, path: Path) -> FileHead:
        """Read the head of ``path`` (first 64 KiB of text, or first cells of every sheet)."""
        suffix = path.suffix.lower()
        if suffix in (".xlsx", ".xlsm"):
            return cls(path, suffix, cells=xlsx_first_cells(path))
        if suffix == ".zip":
            return cls(path, suffix)
        with path.open("rb") as fh:
            data = fh.read(65536)
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        lines = [ln for ln in text.splitlines()[:60] if ln.strip().strip(",;")]
        return cls(path, suffix, text=text, lines=lines)

    @property
    def first(self) -> str:
        """The first non-empty line ("" for workbooks and archives)."""
        return self.lines[0] if self.lines else ""


@dataclass(frozen=True)
class Reader:
    """One instrument reader as the registry lists it.

    Attributes
    ----------
    platform
        Platform name (``xponent``, ``msd``, ``bioplex``, ``olink``, ``generic``).
    layouts
        What the reader reads, for messages (e.g. ``an xPONENT CSV ('Program,xPONENT' first line)``).
    detect
        Content test on a :class:`FileHead`; True when this reader recognises the file.
    read
        ``read(path) -> CytokineExport``.
    aliases
        Other names users give the platform (``luminex`` -> xponent).
    """

    platform: str
    layouts: str
    detect: Callable[[FileHead], bool]
    read: Callable[[Path], CytokineExport]
    aliases: tuple[str, ...] = ()
