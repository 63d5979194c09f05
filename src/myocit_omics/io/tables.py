"""Read any tabular hand-in file (CSV, TSV, xlsx, optionally gzipped) into a table of strings.

What an eCRF export, a spreadsheet re-save or a lab script may write is handled, or refused
with a message that names the file, row, column and value:

- encodings: UTF-8 with or without BOM; Latin-1 / Windows-1252 (detected and recorded);
  UTF-16 and binary files are refused;
- separators: comma, semicolon or tab (detected from the header and the first rows);
  any other separator is refused with the separator it seems to use;
- decimal commas (``3,5`` in a ``;``-separated file) are converted and recorded;
- structure: empty files, header-only files, duplicated or empty header names, rows with
  the wrong number of fields, a truncated last row, huge cells, truncated gzip streams.

Every cell is returned as a string (empty string = empty cell); the typed parsing is the
job of :mod:`myocit_omics.validate`. The DataFrame index is the row number as a
spreadsheet shows it (header = its own line number), so every problem can name its row.
What was detected is in ``df.attrs["source"]``.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zlib
from pathlib import Path
from typing import Any

import pandas as pd

from myocit_omics.errors import InputError, Problem, ValidationFailed

#: Longest cell accepted, in characters (a featureCounts ``Chr`` cell of a 300-exon gene is ~3 000).
MAX_CELL_CHARS = 65_536
#: Largest decompressed size accepted for a gzipped table (bytes).
MAX_TABLE_BYTES = 2 * 1024**3
#: At most this many problems of one rule are listed; the rest are summarised in one line.
MAX_PROBLEMS_PER_RULE = 20

_SEPARATORS = {"\t": "tab", ";": "semicolon", ",": "comma"}
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d+\.\d+(?:[eE][+-]?\d+)?$")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def read_bytes(path: str | Path, *, name: str | None = None, max_bytes: int = MAX_TABLE_BYTES) -> bytes:
    """Return the content of ``path``, gunzipped when it is a gzip stream.

    Parameters
    ----------
    path
        The file.
    name
        Name to use in messages (default: the file name).
    max_bytes
        Largest decompressed size accepted.

    Returns
    -------
    bytes
        The (decompressed) content.

    Raises
    ------
    InputError
        If the file is missing, or a gzip stream is truncated, corrupt or too large.
    """
    path = Path(path)
    label = name or path.name
    if not path.is_file():
        raise InputError(
            "file not found",
            file=label,
            expected="an existing file",
            rule="file.missing",
            fix="check the file name in manifest.yaml",
        )
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    out = bytearray()
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        view = data
        while view:
            chunk = decomp.decompress(view, 1 << 22)
            out += chunk
            if len(out) > max_bytes:
                raise InputError(
                    "gzip content is too large",
                    file=label,
                    value=f"> {max_bytes} bytes",
                    expected=f"at most {max_bytes} bytes once decompressed",
                    rule="file.too_large",
                )
            view = decomp.unconsumed_tail
            if decomp.eof:
                break
    except zlib.error as exc:
        raise InputError(
            f"corrupt gzip stream ({exc})",
            file=label,
            rule="file.corrupt",
            fix="compress the file again (gzip) or hand it in uncompressed",
        ) from None
    if not decomp.eof:
        raise InputError(
            "the gzip stream ends early: the file is truncated",
            file=label,
            value=f"{len(data)} bytes",
            rule="file.truncated",
            fix="copy or download the file again completely",
        )
    return bytes(out)


def decode_text(data: bytes, *, name: str) -> tuple[str, str]:
    """Decode table bytes; return ``(text, encoding)``.

    UTF-8 (with or without BOM) first; then Windows-1252, then Latin-1. UTF-16 and binary
    content are refused.

    Parameters
    ----------
    data
        Raw bytes.
    name
        File name for messages.

    Returns
    -------
    tuple of (str, str)
        The text and the encoding used (``utf-8``, ``utf-8-sig``, ``cp1252`` or ``latin-1``).

    Raises
    ------
    InputError
        For empty, UTF-16 or binary content.
    """
    if not data.strip():
        raise InputError(
            "the file is empty",
            file=name,
            expected="a header row and data rows",
            rule="file.empty",
            fix="export the table again",
        )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 3 and data[1:4:2] == b"\x00\x00"):
        raise InputError(
            "the file is UTF-16 encoded",
            file=name,
            value=data[:4].hex(" "),
            expected="UTF-8 (or Latin-1) text",
            rule="file.encoding",
            fix="save it as 'CSV UTF-8 (comma delimited)'",
        )
    head = data[:65536]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    if b"\x00" in head or controls > max(2, len(head) // 200):
        raise InputError(
            "binary content, not a text table",
            file=name,
            value=data[:16].hex(" "),
            expected="a CSV/TSV text file or an .xlsx workbook",
            rule="file.binary",
            fix="hand in the table as CSV, TSV or xlsx",
        )
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise _bad_utf8(exc, data, name) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _bad_utf8(exc: UnicodeDecodeError, data: bytes, name: str) -> InputError:
    line = data[: exc.start].count(b"\n") + 1
    return InputError(
        "the file starts with a UTF-8 mark but is not valid UTF-8",
        file=name,
        row=line,
        value=data[exc.start : exc.start + 4].hex(" "),
        expected="valid UTF-8 throughout",
        rule="file.encoding",
        fix="save the file again as 'CSV UTF-8'",
    )


def _parse_rows(text: str, sep: str, *, limit: int | None = None) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    for fields in reader:
        rows.append((start, fields))
        start = reader.line_num + 1
        if limit is not None and len(rows) >= limit:
            break
    return rows


def _first_content(rows: list[tuple[int, list[str]]], comment: str | None) -> int:
    for i, (_, fields) in enumerate(rows):
        if not any(f.strip() for f in fields):
            continue
        if comment and fields and fields[0].lstrip().startswith(comment):
            continue
        return i
    return len(rows)


def detect_separator(text: str, *, comment: str | None = "#") -> str:
    """Return the separator (tab, ``;`` or ``,``) that gives the most consistent table.

    Parameters
    ----------
    text
        Decoded file content.
    comment
        Lines starting with this string before the header are ignored.

    Returns
    -------
    str
        The separator character.
    """
    sample = text[:200_000]
    best, best_score = ",", (-1, -1)
    for sep in ("\t", ";", ","):
        try:
            rows = _parse_rows(sample, sep, limit=60)
        except csv.Error:
            continue
        i = _first_content(rows, comment)
        if i >= len(rows):
            continue
        width = len(rows[i][1])
        body = [r for _, r in rows[i + 1 : -1] if any(f.strip() for f in r)] or [r for _, r in rows[i + 1 :]]
        same = sum(1 for r in body if len(r) == width)
        score = (1 if width > 1 else 0, same if width > 1 else 0)
        if score > best_score:
            best, best_score = sep, score
    return best


def _other_separator(header: str) -> str | None:
    for sep, label in (("|", "'|' (pipe)"), (":", "':' (colon)")):
        if header.count(sep) >= 1:
            return label
    if re.search(r"\S {2,}\S", header) or re.search(r"\S \S", header.strip()):
        return "spaces"
    return None


class _Collector:
    """Collect problems, at most MAX_PROBLEMS_PER_RULE per rule, then summarise the rest."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[Problem] = []
        self.extra: dict[str, int] = {}

    def add(self, problem: Problem) -> None:
        n = sum(1 for p in self.problems if p.rule == problem.rule)
        if n < MAX_PROBLEMS_PER_RULE:
            self.problems.append(problem)
        else:
            self.extra[problem.rule] = self.extra.get(problem.rule, 0) + 1

    def finish(self) -> list[Problem]:
        out = list(self.problems)
        for rule, n in self.extra.items():
            out.append(
                Problem(file=self.name, message=f"... and {n} more problem(s) of this kind", rule=rule)
            )
        return out


def read_table(
    path: str | Path,
    *,
    name: str | None = None,
    sheet: str | int | None = None,
    min_columns: int = 2,
    comment: str | None = "#",
    max_cell_chars: int = MAX_CELL_CHARS,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """Read a CSV/TSV/xlsx table into a DataFrame of strings.

    Parameters
    ----------
    path
        The file (``.csv``, ``.tsv``, ``.txt``, ``.xlsx``; any of the text ones may be gzipped).
    name
        Name to use in messages (default: the file name).
    sheet
        Worksheet of an xlsx file (default: the first).
    min_columns
        Fewer columns than this means the separator is wrong (refused).
    comment
        Lines starting with this string before the header are skipped (and counted).
    max_cell_chars
        Longest cell accepted.
    allow_empty
        Accept a header without data rows.

    Returns
    -------
    pandas.DataFrame
        Columns as in the header (surrounding spaces stripped), every cell a string, the index
        the row number as a spreadsheet shows it. ``attrs["source"]`` records the file name,
        format, encoding, separator, decimal mark and what was skipped.

    Raises
    ------
    InputError
        When the file cannot be read as a table at all.
    ValidationFailed
        With every structural problem found (field counts, duplicated headers, huge cells...).
    """
    path = Path(path)
    label = name or path.name
    lower = label.lower()
    if lower.endswith(_EXCEL_SUFFIXES):
        return _read_excel(
            path,
            label=label,
            sheet=sheet,
            min_columns=min_columns,
            max_cell_chars=max_cell_chars,
            allow_empty=allow_empty,
        )
    if lower.endswith(".xls"):
        raise InputError(
            "old Excel .xls workbooks are not read",
            file=label,
            expected="xlsx, CSV or TSV",
            rule="file.format",
            fix="save the workbook as .xlsx or CSV",
        )
    data = read_bytes(path, name=label)
    if data[:4] == b"PK\x03\x04":
        raise InputError(
            "this is a zip/xlsx container, not a text table",
            file=label,
            expected="a .csv/.tsv text file, or name the workbook .xlsx",
            rule="file.format",
            fix="give the file its real extension",
        )
    text, encoding = decode_text(data, name=label)
    sep = detect_separator(text, comment=comment)
    try:
        rows = _parse_rows(text, sep)
    except csv.Error as exc:
        raise InputError(
            f"cannot parse the file as a table ({exc})",
            file=label,
            rule="file.parse",
            fix="export the table again as CSV",
        ) from None
    info: dict[str, Any] = {
        "file": label,
        "format": "text",
        "encoding": encoding,
        "separator": _SEPARATORS[sep],
        "decimal": ".",
        "ends_with_newline": text.endswith(("\n", "\r")),
        "has_comma": "," in text,
    }
    return _build(
        rows,
        label=label,
        info=info,
        min_columns=min_columns,
        comment=comment,
        max_cell_chars=max_cell_chars,
        allow_empty=allow_empty,
        text_tail=text[-200:],
    )


def _read_excel(
    path: Path,
    *,
    label: str,
    sheet: str | int | None,
    min_columns: int,
    max_cell_chars: int,
    allow_empty: bool,
) -> pd.DataFrame:
    import zipfile

    if not path.is_file():
        raise InputError("file not found", file=label, expected="an existing file", rule="file.missing")
    if path.stat().st_size == 0:
        raise InputError(
            "the file is empty",
            file=label,
            expected="an xlsx workbook",
            rule="file.empty",
            fix="export the workbook again",
        )
    try:
        with warnings.catch_warnings():
            # openpyxl warns about unsupported styles/data validation of eCRF exports; they do not matter.
            warnings.simplefilter("ignore", UserWarning)
            raw = pd.read_excel(
                path,
                sheet_name=0 if sheet is None else sheet,
                header=None,
                dtype=str,
                keep_default_na=False,
                engine="openpyxl",
            )
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as exc:
        raise InputError(
            f"cannot open the workbook ({type(exc).__name__}: {exc})",
            file=label,
            expected="an intact .xlsx workbook",
            rule="file.corrupt",
            fix="save the workbook again from Excel/LibreOffice",
        ) from None
    rows = [
        (i + 1, ["" if v is None else str(v) for v in r]) for i, r in enumerate(raw.itertuples(index=False))
    ]
    info = {
        "file": label,
        "format": "xlsx",
        "encoding": "xlsx",
        "separator": None,
        "decimal": ".",
        "sheet": sheet if sheet is not None else 0,
        "ends_with_newline": True,
    }
    return _build(
        rows,
        label=label,
        info=info,
        min_columns=min_columns,
        comment=None,
        max_cell_chars=max_cell_chars,
        allow_empty=allow_empty,
        text_tail="",
    )


def _build(
    rows: list[tuple[int, list[str]]],
    *,
    label: str,
    info: dict[str, Any],
    min_columns: int,
    comment: str | None,
    max_cell_chars: int,
    allow_empty: bool,
    text_tail: str,
) -> pd.DataFrame:
    col = _Collector(label)
    first = _first_content(rows, comment)
    if first >= len(rows):
        raise InputError(
            "the file has no header row",
            file=label,
            expected="a header row and data rows",
            rule="file.empty",
            fix="export the table again",
        )
    comments = sum(1 for _, f in rows[:first] if any(x.strip() for x in f))
    header_row, header = rows[first]
    header = [h.strip() for h in header]
    # spreadsheet re-saves pad rows with empty trailing columns: drop them when they hold nothing
    width = len(header)
    while (
        width > 0
        and header[width - 1] == ""
        and all(len(f) < width or not f[width - 1].strip() for _, f in rows[first + 1 :])
    ):
        width -= 1
    padded = len(header) - width
    header = header[:width]
    if len(header) < min_columns:
        other = _other_separator(",".join(header))
        raise InputError(
            f"found {len(header)} column(s); the separator seems wrong"
            + (f" (the header looks separated by {other})" if other else ""),
            file=label,
            row=header_row,
            value=",".join(header)[:120],
            expected=f"at least {min_columns} columns separated by comma, semicolon or tab",
            rule="file.delimiter",
            fix="export the table as CSV (comma or semicolon) or TSV",
        )
    seen: dict[str, int] = {}
    for j, h in enumerate(header):
        if len(h) > max_cell_chars:
            col.add(
                Problem(
                    file=label,
                    row=header_row,
                    column=f"#{j + 1}",
                    value=h[:40] + "...",
                    message=f"header cell of {len(h)} characters",
                    rule="file.huge_cell",
                    expected=f"at most {max_cell_chars} characters",
                )
            )
        elif h == "":
            col.add(
                Problem(
                    file=label,
                    row=header_row,
                    column=f"#{j + 1}",
                    value="",
                    message="empty column name",
                    rule="file.header_empty",
                    expected="a name for every column that holds values",
                    fix="name the column",
                )
            )
        elif h in seen:
            col.add(
                Problem(
                    file=label,
                    row=header_row,
                    column=h,
                    value=h,
                    message=f"column name appears twice (columns {seen[h] + 1} and {j + 1})",
                    rule="file.duplicate_header",
                    expected="unique column names",
                    fix="rename or remove one of them",
                )
            )
        else:
            seen[h] = j
    body: list[list[str]] = []
    index: list[int] = []
    blank = 0
    last = len(rows) - 1
    for k in range(first + 1, len(rows)):
        rownum, fields = rows[k]
        if not any(f.strip() for f in fields):
            blank += 1
            continue
        if len(fields) > width and not any(f.strip() for f in fields[width:]):
            fields = fields[:width]
        if len(fields) != width:
            truncated = k == last and len(fields) < width and not info.get("ends_with_newline", True)
            if truncated:
                col.add(
                    Problem(
                        file=label,
                        row=rownum,
                        value=fields[-1][:40] if fields else "",
                        message=f"the last row has {len(fields)} of {width} fields and the file "
                        "does not end with a line break: the file seems truncated",
                        rule="file.truncated",
                        expected=f"{width} fields",
                        fix="copy or export the file again completely",
                    )
                )
            else:
                col.add(
                    Problem(
                        file=label,
                        row=rownum,
                        value=f"{len(fields)} fields",
                        message=f"row has {len(fields)} fields but the header has {width}",
                        rule="file.field_count",
                        expected=f"{width} fields per row",
                        fix="check for an unquoted separator or a missing cell in this row",
                    )
                )
            continue
        for j, f in enumerate(fields):
            if len(f) > max_cell_chars:
                col.add(
                    Problem(
                        file=label,
                        row=rownum,
                        column=header[j] if j < width else f"#{j + 1}",
                        value=f[:40] + "...",
                        message=f"cell of {len(f)} characters",
                        rule="file.huge_cell",
                        expected=f"at most {max_cell_chars} characters",
                        fix="remove the pasted content from this cell",
                    )
                )
        body.append(fields)
        index.append(rownum)
    problems = col.finish()
    if problems:
        raise ValidationFailed(problems, context=label)
    if not body and not allow_empty:
        raise InputError(
            "the file has a header but no data rows",
            file=label,
            row=header_row,
            expected="at least one data row",
            rule="file.no_rows",
            fix="export the table again with its rows",
        )
    df = pd.DataFrame(body, columns=header, index=pd.Index(index, name="row"), dtype=object)
    has_comma = info.pop("has_comma", True)
    if info.get("separator") != "comma" and info["format"] == "text" and has_comma:
        df, converted = _decimal_commas(df)
        if converted:
            info["decimal"] = ","
            info["decimal_commas_converted"] = converted
    info.update(
        header_row=header_row,
        comment_lines_skipped=comments,
        blank_rows_skipped=blank,
        empty_padding_columns_dropped=padded,
        n_rows=len(df),
        n_columns=width,
    )
    df.attrs["source"] = info
    return df


def _decimal_commas(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Convert ``3,5`` to ``3.5`` in columns where decimal commas are the only decimal mark."""
    converted = 0
    out = df
    for c in df.columns:
        s = df[c].astype(str)
        if not s.str.contains(",", regex=False).any():
            continue
        has_comma = s.str.match(_DECIMAL_COMMA)
        if not has_comma.any() or s.str.match(_DECIMAL_POINT).any():
            continue
        if out is df:
            out = df.copy()
        out.loc[has_comma, c] = s[has_comma].str.replace(",", ".", regex=False)
        converted += int(has_comma.sum())
    if out is not df:
        out.attrs = dict(df.attrs)
    return out, converted


def read_table_or_problems(path: str | Path, **kwargs: Any) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Call :func:`read_table`; return ``(table, [])`` or ``(None, problems)`` instead of raising.

    Parameters
    ----------
    path
        The file.
    **kwargs
        Passed to :func:`read_table`.

    Returns
    -------
    tuple
        The table (or None) and the problems found.
    """
    try:
        return read_table(path, **kwargs), []
    except (InputError, ValidationFailed) as exc:
        return None, list(exc.problems)


def gunzip_name(name: str) -> str:
    """Return ``name`` without a trailing ``.gz``."""
    return name[:-3] if name.lower().endswith(".gz") else name


__all__ = [
    "decode_text",
    "detect_separator",
    "gunzip_name",
    "read_bytes",
    "read_table",
    "read_table_or_problems",
]
