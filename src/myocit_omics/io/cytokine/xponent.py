"""Luminex xPONENT CSV exports (3.x, 4.x, INTELLIFLEX xPONENT-style and flat one-row-per-well).

Layout (../shared/domain/cytokine_exports.md 1.1): a header block of key/value rows, a
``Results`` line, then repeated ``DataType:,<name>`` blocks (header row, data rows, blank
line), and a ``-- CRC --`` trailer. Cells are all double-quoted (as xPONENT writes them)
or unquoted and padded with trailing commas after a spreadsheet re-save; a UTF-8 BOM may
be present; the separator is ``,`` or ``;`` (then decimal commas are accepted). Dates are
month-first, day-first or ISO and are never guessed (see ``parse_export_date``).

Every block is kept, by name, in :attr:`CytokineExport.blocks`. The values table uses
``Net MFI`` (else ``Median``) as the signal, ``Count`` as bead count, ``Result`` as the
instrument's concentration (its string is ``raw``; ``< x``/``> x`` become ``oor_low``/
``oor_high``; ``Comments`` ``Extrapolated`` becomes ``extrapolated``), ``Dilution Factor``,
``Units``, ``%CV Replicates`` (by sample name), ``Standard/Control Expected Concentration``.

Refused (InputError/ValidationFailed naming block, well and value): a quoted (as-written) export
without the ``-- CRC --`` trailer (truncated; a re-saved unquoted file only gets a warning), a row
shorter than its block's header (truncated), a per-well block that lacks wells of the ``Median`` block
(truncated file), analyte columns of a per-well block that the ``Median`` block does not have
(unknown analyte), a malformed ``Location``, a non-numeric cell. Flagged (a warning problem):
standards without expected concentrations (the values are then MFI, flag
``no_standard_curve``), expected standards with no well. Whether the expected
concentrations form a clean dilution series (e.g. ``215625`` for 215.625 after a
comma-decimal re-save) is judged downstream, for every platform, by
:mod:`myocit_omics.cytokines.standards`.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.errors import InputError, Problem, ValidationFailed
from myocit_omics.io.cytokine.common import (
    CytokineExport,
    FileHead,
    Reader,
    finish_values,
    infer_role,
    is_missing_text,
    normalise_well,
    parse_export_date,
    parse_number,
    read_text,
)

_LOCATION = re.compile(r"^\s*(\d+)\((\d+),\s*([A-Pa-p]\d{1,2})\)\s*$")

#: Blocks with one row per well and ``Location, Sample, <analytes>[, Total Events]``.
WELL_BLOCKS_PARTIAL = {"% Recovery", "Comments"}
#: Blocks keyed by sample name (replicates pooled).
SAMPLE_BLOCKS = {"Avg Net MFI", "Avg Result", "Avg Range", "%CV Replicates", "Avg MFI"}
#: Per-analyte blocks (rows ``Analyte:``/``BeadID:``/...); may list more analytes than measured.
ANALYTE_BLOCKS = {"Units", "Per Bead Count", "Analysis Types", "Analysis Coefficients", "R^2"}
#: Blocks keyed by reagent (``Standard1``, ``Control1``).
REAGENT_BLOCKS = {
    "Standard Expected Concentration",
    "Control Expected Concentration",
    "Control Range - Low",
    "Control Range - High",
}


def read_xponent(path: str | Path) -> CytokineExport:
    """Read an xPONENT CSV export (or an INTELLIFLEX flat CSV) into the common form.

    Parameters
    ----------
    path
        The export file.

    Returns
    -------
    CytokineExport
        ``platform="xponent"``; ``scale="mfi"``.

    Raises
    ------
    InputError, ValidationFailed
        On malformed content (see the module docstring).
    """
    path = Path(path)
    text, encoding = read_text(path)
    first = text.split("\n", 1)[0]
    if "WELL LOCATION" in first and "INSTRUMENT TYPE" in first:
        return _read_intelliflex_flat(path, text, encoding)
    sep = ";" if first.count(";") > first.count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=sep))
    # xPONENT quotes every cell; a spreadsheet re-save does not (and may drop the CRC trailer)
    quoted = text.lstrip().startswith('"Program"')
    return _XponentParser(path, rows, sep=sep, encoding=encoding, quoted=quoted).parse()


def _strip(row: list[str]) -> list[str]:
    """Strip cells and drop trailing empty cells (spreadsheet padding)."""
    cells = [c.strip() for c in row]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


class _XponentParser:
    def __init__(
        self, path: Path, rows: list[list[str]], *, sep: str, encoding: str, quoted: bool = False
    ) -> None:
        self.quoted = quoted
        self.path = path
        self.file = str(path)
        self.rows = rows
        self.decimal_comma = sep == ";"
        self.encoding = encoding
        self.problems: list[Problem] = []
        self.errors: list[Problem] = []
        # block name -> (line number of the DataType row, header, [(line, raw row)])
        self.blocks: dict[str, tuple[int, list[str], list[tuple[int, list[str]]]]] = {}

    # ------------------------------------------------------------------ structure
    def parse(self) -> CytokineExport:
        first = _strip(self.rows[0]) if self.rows else []
        if not first or first[0] != "Program" or len(first) < 2 or first[1] != "xPONENT":
            raise InputError(
                "not an xPONENT export",
                file=self.file,
                row=1,
                value=",".join(first[:4]),
                expected="first line 'Program,xPONENT,...'",
                rule="xponent.header",
            )
        metadata, i = self._header()
        crc_seen = self._data_blocks(i)
        if "Median" not in self.blocks and "Net MFI" not in self.blocks:
            raise InputError(
                "no Median or Net MFI block: nothing measured in this export",
                file=self.file,
                expected="a 'DataType:,Median' block",
                rule="xponent.no_data",
                fix="export the batch again with the Median statistic",
            )
        values, analytes, standards = self._values()
        if not crc_seen and self.quoted:
            last = list(self.blocks)[-1] if self.blocks else "header"
            last_line = len(self.rows)
            raise InputError(
                f"the file ends without the '-- CRC --' trailer that xPONENT always writes; the last block "
                f"read is {last!r}: the export is truncated",
                file=self.file,
                row=last_line,
                column=f"block {last}",
                value=",".join(self.rows[-1])[:80] if self.rows else "",
                expected="the whole export, ending with '-- CRC --' and 'CRC32: <hex>'",
                rule="xponent.truncated",
                fix="export the batch again from xPONENT, or copy the complete file",
            )
        if not crc_seen:
            self.problems.append(
                Problem(
                    file=self.file,
                    message="no '-- CRC --' trailer: the file was re-saved or is truncated",
                    rule="xponent.crc",
                    severity="warning",
                    expected="'-- CRC --' then 'CRC32: <hex>'",
                )
            )
        if self.errors:
            raise ValidationFailed(self.errors, context=self.file)
        messages = self._messages()
        metadata["encoding"] = self.encoding
        metadata["instrument_value_source"] = getattr(self, "instrument_source", "")
        return CytokineExport(
            path=self.path,
            platform="xponent",
            fmt="xponent-csv",
            scale="mfi",
            values=values,
            analytes=analytes,
            standards=standards,
            metadata=metadata,
            blocks={name: [hdr] + [r for _, r in data] for name, (_, hdr, data) in self.blocks.items()},
            messages=messages,
            problems=self.problems,
        )

    def _header(self) -> tuple[dict[str, Any], int]:
        meta: dict[str, Any] = {}
        for i, raw in enumerate(self.rows):
            cells = _strip(raw)
            if not cells:
                continue
            if cells[0] == "Results" and len(cells) == 1:
                return self._finish_meta(meta), i + 1
            if cells[0] == "DataType:":
                return self._finish_meta(meta), i
            key = cells[0]
            if key not in meta:
                meta[key] = cells[1:] if len(cells) > 2 else (cells[1] if len(cells) == 2 else "")
        raise InputError(
            "no 'Results' line and no 'DataType:' block: the export is truncated",
            file=self.file,
            row=len(self.rows),
            rule="xponent.truncated",
            expected="the header block followed by 'Results' and DataType: blocks",
        )

    def _finish_meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        date = meta.get("Date")
        if date:
            raw = date[0] if isinstance(date, list) else date
            iso, conv = parse_export_date(raw)
            meta["date_iso"] = iso
            meta["date_convention"] = conv
        prog = meta.get("Program")
        if isinstance(prog, list) and prog:
            meta["instrument"] = prog[-1]
        return meta

    def _data_blocks(self, start: int) -> bool:
        i = start
        n = len(self.rows)
        crc = False
        while i < n:
            cells = _strip(self.rows[i])
            if not cells:
                i += 1
                continue
            if cells[0].startswith("-- CRC --"):
                crc = True
                break
            if cells[0] != "DataType:":
                i += 1
                continue
            name = cells[1] if len(cells) > 1 else ""
            line = i + 1
            i += 1
            if i >= n:
                self.errors.append(
                    Problem(
                        file=self.file,
                        row=line,
                        message=f"block {name!r} has no header row: the file is truncated",
                        rule="xponent.truncated",
                        column=f"block {name}",
                        expected="a header row then data rows",
                    )
                )
                break
            header = _strip(self.rows[i])
            i += 1
            data: list[tuple[int, list[str]]] = []
            while i < n:
                raw = self.rows[i]
                cells = _strip(raw)
                if not cells or cells[0] in ("DataType:",) or cells[0].startswith("-- CRC --"):
                    break
                data.append((i + 1, [c.strip() for c in raw]))
                i += 1
            if name in self.blocks:
                name = f"{name} ({line})"
            self.blocks[name] = (line, header, data)
        return crc

    # ------------------------------------------------------------------ content
    def _well_block(self, name: str) -> pd.DataFrame | None:
        """Return a per-well block as a frame (index location) with string cells, checking rows."""
        if name not in self.blocks:
            return None
        line, header, data = self.blocks[name]
        if len(header) < 2 or header[0] != "Location":
            self.errors.append(
                Problem(
                    file=self.file,
                    row=line + 1,
                    column=f"block {name}",
                    value=",".join(header[:4]),
                    message=f"block {name!r}: bad header",
                    expected="'Location,Sample,<analytes>'",
                    rule="xponent.block_header",
                )
            )
            return None
        recs = []
        for ln, raw in data:
            if raw and raw[0] == "Location":
                # xPONENT 3.1 repeats a header-like row ("Location","Sample","1") in Dilution Factor
                continue
            if len(raw) < len(header):
                loc = raw[0] if raw else ""
                self.errors.append(
                    Problem(
                        file=self.file,
                        row=ln,
                        column=f"block {name}",
                        value=",".join(raw),
                        rule="xponent.truncated",
                        message=f"block {name!r}, well {_well_of(loc)}: row has {len(raw)} of "
                        f"{len(header)} cells; the block is truncated",
                        expected=f"{len(header)} cells: {', '.join(header[:3])}, ...",
                    )
                )
                continue
            m = _LOCATION.match(raw[0])
            if not m:
                self.errors.append(
                    Problem(
                        file=self.file,
                        row=ln,
                        column=f"block {name} / Location",
                        value=raw[0],
                        message=f"block {name!r}: malformed well location",
                        rule="xponent.location",
                        expected="'<n>(<plate>,<well>)' such as '1(1,A1)'",
                    )
                )
                continue
            recs.append([raw[0], m.group(2), normalise_well(m.group(3)), *raw[1 : len(header)], ln])
        cols = ["location", "plate_no", "well", *header[1:], "_line"]
        return (
            pd.DataFrame(recs, columns=cols).set_index("location")
            if recs
            else pd.DataFrame(columns=cols).set_index("location")
        )

    def _values(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        base_name = "Median" if "Median" in self.blocks else "Net MFI"
        base = self._well_block(base_name)
        if base is None:
            raise ValidationFailed(self.errors, context=self.file)
        _, base_header, _ = self.blocks[base_name]
        analytes = [a for a in base_header[2:] if a != "Total Events"]
        if not analytes:
            self.errors.append(
                Problem(
                    file=self.file,
                    row=self.blocks[base_name][0] + 1,
                    column=f"block {base_name}",
                    message="no analyte columns",
                    expected="Location,Sample,<analyte 1..n>,Total Events",
                    rule="xponent.analytes",
                )
            )
        dup = [a for a in analytes if analytes.count(a) > 1]
        if dup:
            self.errors.append(
                Problem(
                    file=self.file,
                    row=self.blocks[base_name][0] + 1,
                    column=f"block {base_name}",
                    value=dup[0],
                    message="analyte column appears twice",
                    rule="xponent.analytes",
                    expected="unique analyte names",
                )
            )
        known = set(analytes)
        well_blocks: dict[str, pd.DataFrame] = {base_name: base}
        for name, (line, header, _) in self.blocks.items():
            if name == base_name or len(header) < 2 or header[:2] != ["Location", "Sample"]:
                continue
            block = self._well_block(name)
            if block is None:
                continue
            well_blocks[name] = block
            cols = [c for c in header[2:] if c not in ("Total Events",)]
            if name in ("Acquisition Time", "Dilution Factor") or name.startswith("Dilution Factor"):
                continue
            for c in cols:
                if c not in known:
                    self.errors.append(
                        Problem(
                            file=self.file,
                            row=line + 1,
                            column=f"block {name} / {c}",
                            value=c,
                            message=f"block {name!r} has analyte column {c!r} that the {base_name} block "
                            "does not have (unknown analyte)",
                            rule="xponent.unknown_analyte",
                            expected=f"one of {', '.join(analytes)}",
                        )
                    )
            if name not in WELL_BLOCKS_PARTIAL:
                missing = [loc for loc in base.index if loc not in block.index]
                if missing:
                    self.errors.append(
                        Problem(
                            file=self.file,
                            row=line,
                            column=f"block {name}",
                            value=missing[0],
                            message=f"block {name!r} lacks {len(missing)} well(s) of the {base_name} block, "
                            f"first well {_well_of(missing[0])}: the block or file is truncated",
                            rule="xponent.truncated",
                            expected=f"the same {len(base)} wells as {base_name}",
                        )
                    )
        # every cell of the blocks values come from must be a number (or empty / NaN); in other
        # statistic blocks (Mean, %CV, Peak ...) a bad cell is only a warning
        text_blocks = {"Comments", "Result"}  # Result holds '< x' strings, checked below
        core = {"Median", "Net MFI", "Count", "Dilution Factor"}
        for name, block in well_blocks.items():
            if name in text_blocks:
                continue
            bad: list[str] = []
            for col in [c for c in block.columns if c not in ("plate_no", "well", "Sample", "_line")]:
                for loc, cell, ln in zip(block.index, block[col], block["_line"], strict=True):
                    if is_missing_text(cell):
                        continue
                    if name in core:
                        self._num(cell, name, loc, col, int(ln))
                    elif not _is_number(cell, self.decimal_comma):
                        bad.append(f"well {_well_of(loc)} {col}={cell!r}")
            if bad:
                self.problems.append(
                    Problem(
                        file=self.file,
                        column=f"block {name}",
                        value="; ".join(bad[:5]),
                        severity="warning",
                        rule="xponent.secondary_not_number",
                        message=f"block {name!r} has {len(bad)} cell(s) that are not numbers (a spreadsheet "
                        "re-save may have turned them into dates); the block is kept as text and not used",
                        expected="numbers",
                    )
                )
        if self.errors:
            raise ValidationFailed(self.errors, context=self.file)

        signal_name = "Net MFI" if "Net MFI" in well_blocks else base_name
        units = self._analyte_rows("Units", "Units:")
        bead_ids = self._analyte_rows("Units", "BeadID:") or self._analyte_rows("Per Bead Count", "BeadID:")
        analysis = self._analyte_rows("Analysis Types", "AnalysisType")
        r2 = self._analyte_rows("R^2", "Value")
        coef_block = self._analyte_block("Analysis Coefficients")
        cv_by_sample = self._sample_block("%CV Replicates")
        expected = self._reagents("Standard Expected Concentration")
        control_expected = self._reagents("Control Expected Concentration")
        result = well_blocks.get("Result")
        # without a per-well Result, the per-sample Avg Result is the instrument's concentration
        avg_result = self._sample_texts("Avg Result") if result is None else {}
        self.instrument_source = "Result" if result is not None else ("Avg Result" if avg_result else "")
        count = well_blocks.get("Count")
        comments = well_blocks.get("Comments")
        dil = well_blocks.get("Dilution Factor")
        plates = sorted(set(base["plate_no"]))
        batch = self._meta_batch()

        rows: list[dict[str, Any]] = []
        sig = well_blocks[signal_name]
        for loc, rec in base.iterrows():
            sample = rec["Sample"]
            role = (
                "standard"
                if sample in expected
                else ("control" if sample in control_expected else infer_role(sample))
            )
            plate_id = batch if len(plates) == 1 else f"{batch}-{rec['plate_no']}"
            dfac = float("nan")
            if dil is not None and loc in dil.index:
                dfac = self._num(
                    dil.at[loc, dil.columns[3]]
                    if "Dilution Factor" not in dil.columns
                    else dil.at[loc, "Dilution Factor"],
                    "Dilution Factor",
                    loc,
                    None,
                    int(dil.at[loc, "_line"]),
                )
            total = self._num(rec.get("Total Events"), base_name, loc, "Total Events", int(rec["_line"]))
            del total
            for a in analytes:
                signal_txt = sig.at[loc, a] if loc in sig.index else ""
                signal = self._num(
                    signal_txt, signal_name, loc, a, int(sig.at[loc, "_line"]) if loc in sig.index else None
                )
                raw = signal_txt
                inst_val = float("nan")
                inst_flag = ""
                if result is not None and loc in result.index:
                    raw = result.at[loc, a]
                    inst_val, inst_flag = self._result(raw, loc, a, int(result.at[loc, "_line"]))
                elif sample in avg_result and a in avg_result[sample]:
                    raw, line = avg_result[sample][a]
                    inst_val, inst_flag = self._result(raw, loc, a, line, block="Avg Result")
                if comments is not None and loc in comments.index and not inst_flag:
                    if "extrapolat" in str(comments.at[loc, a]).lower():
                        inst_flag = "extrapolated"
                bead = float("nan")
                if count is not None and loc in count.index:
                    bead = self._num(count.at[loc, a], "Count", loc, a, int(count.at[loc, "_line"]))
                exp_conc = float("nan")
                if role == "standard" and sample in expected:
                    exp_conc = expected[sample].get(a, float("nan"))
                elif role == "control" and sample in control_expected:
                    exp_conc = control_expected[sample].get(a, float("nan"))
                cv = cv_by_sample.get(sample, {}).get(a, float("nan"))
                rows.append(
                    {
                        "plate_id": plate_id,
                        "well": rec["well"],
                        "location": loc,
                        "sample": sample,
                        "role": role,
                        "analyte": a,
                        "raw": raw,
                        "signal": signal,
                        "instrument_value": inst_val,
                        "instrument_flag": inst_flag,
                        "unit": units.get(a, ""),
                        "dilution_factor": dfac,
                        "bead_count": bead,
                        "cv_pct": cv,
                        "expected_conc": exp_conc,
                    }
                )
        if self.errors:
            raise ValidationFailed(self.errors, context=self.file)
        values = finish_values(rows)
        ana = pd.DataFrame({"analyte": analytes})
        ana["unit"] = [units.get(a, "") for a in analytes]
        ana["bead_id"] = [bead_ids.get(a, "") for a in analytes]
        ana["analysis_type"] = [analysis.get(a, "") for a in analytes]
        ana["r2"] = [self._safe_float(r2.get(a)) for a in analytes]
        for coef, vals in coef_block.items():
            ana[coef] = [self._safe_float(vals.get(a)) for a in analytes]
        std_rows = [
            {"analyte": a, "standard": s, "expected_conc": v, "kind": "standard"}
            for s, d in expected.items()
            for a, v in d.items()
        ]
        std_rows += [
            {"analyte": a, "standard": s, "expected_conc": v, "kind": "control"}
            for s, d in control_expected.items()
            for a, v in d.items()
        ]
        standards = pd.DataFrame(std_rows, columns=["analyte", "standard", "expected_conc", "kind"])
        self._check_standards(values, expected, analytes)
        return values, ana, standards

    def _meta_batch(self) -> str:
        return getattr(self, "_batch", None) or self._header_value("Batch") or self.path.stem

    def _header_value(self, key: str) -> str:
        for raw in self.rows[:80]:
            cells = _strip(raw)
            if cells and cells[0] == key:
                return cells[1] if len(cells) > 1 else ""
            if cells and cells[0] == "Results":
                break
        return ""

    def _num(self, text: Any, block: str, loc: str, column: str | None, line: int | None) -> float:
        try:
            return parse_number(
                text,
                file=self.file,
                where=f"block {block!r}, well {_well_of(loc)}",
                column=column,
                row=line,
                decimal_comma=self.decimal_comma,
            )
        except InputError as exc:
            self.errors.append(exc.problem)
            return float("nan")

    def _safe_float(self, text: Any) -> float:
        try:
            return parse_number(text, file=self.file, where="", decimal_comma=self.decimal_comma)
        except InputError:
            return float("nan")

    def _result(
        self, raw: str, loc: str, analyte: str, line: int, *, block: str = "Result"
    ) -> tuple[float, str]:
        s = str(raw).strip()
        if s.startswith("<"):
            return float("nan"), "oor_low"
        if s.startswith(">"):
            return float("nan"), "oor_high"
        if s.upper().startswith("OOR"):
            return float("nan"), "oor_low" if "<" in s else "oor_high"
        if s.startswith("***"):
            return float("nan"), "instrument_error"
        return self._num(s, block, loc, analyte, line), ""

    def _analyte_block(self, name: str) -> dict[str, dict[str, str]]:
        """Return {row label: {analyte: cell}} of a per-analyte block."""
        if name not in self.blocks:
            return {}
        _, header, data = self.blocks[name]
        if not header or header[0] != "Analyte:":
            return {}
        names = header[1:]
        out: dict[str, dict[str, str]] = {}
        for _, raw in data:
            cells = [c.strip() for c in raw]
            if not cells or not cells[0]:
                continue
            label = cells[0]
            out[label] = {a: (cells[j + 1] if j + 1 < len(cells) else "") for j, a in enumerate(names)}
        return out

    def _analyte_rows(self, name: str, label: str) -> dict[str, str]:
        return self._analyte_block(name).get(label, {})

    def _sample_texts(self, name: str) -> dict[str, dict[str, tuple[str, int]]]:
        """Return {sample: {analyte: (cell text, line)}} of a per-sample block (``Avg Result``)."""
        if name not in self.blocks:
            return {}
        _, header, data = self.blocks[name]
        start = 1 if header and header[0] == "Sample" else 2
        names = header[start:]
        out: dict[str, dict[str, tuple[str, int]]] = {}
        for ln, raw in data:
            cells = [c.strip() for c in raw]
            if len(cells) < start:
                continue
            out[cells[start - 1]] = {
                a: (cells[start + j] if start + j < len(cells) else "", ln)
                for j, a in enumerate(names)
                if a != "Total Events"
            }
        return out

    def _sample_block(self, name: str) -> dict[str, dict[str, float]]:
        if name not in self.blocks:
            return {}
        _, header, data = self.blocks[name]
        start = 1 if header and header[0] == "Sample" else 2
        names = header[start:]
        out: dict[str, dict[str, float]] = {}
        for _, raw in data:
            cells = [c.strip() for c in raw]
            if len(cells) <= start - 1:
                continue
            sample = cells[start - 1]
            out[sample] = {
                a: self._safe_float(cells[start + j] if start + j < len(cells) else "")
                for j, a in enumerate(names)
                if a != "Total Events"
            }
        return out

    def _reagents(self, name: str) -> dict[str, dict[str, float]]:
        if name not in self.blocks:
            return {}
        line, header, data = self.blocks[name]
        names = header[1:]
        out: dict[str, dict[str, float]] = {}
        for ln, raw in data:
            cells = [c.strip() for c in raw]
            if not cells or not cells[0]:
                continue
            vals = {}
            for j, a in enumerate(names):
                txt = cells[j + 1] if j + 1 < len(cells) else ""
                if is_missing_text(txt):
                    continue
                try:
                    vals[a] = parse_number(
                        txt,
                        file=self.file,
                        where=f"block {name!r}, {cells[0]}",
                        column=a,
                        row=ln,
                        decimal_comma=self.decimal_comma,
                    )
                except InputError as exc:
                    self.errors.append(exc.problem)
            out[cells[0]] = vals
        del line
        return out

    def _check_standards(
        self, values: pd.DataFrame, expected: dict[str, dict[str, float]], analytes: list[str]
    ) -> None:
        """Flag (warning problems) standards without expected values and broken dilution series."""
        std = values[values["role"] == "standard"]
        block = "Standard Expected Concentration"
        if std.empty:
            if expected:
                self.problems.append(
                    Problem(
                        file=self.file,
                        column=f"block {block}",
                        rule="xponent.missing_standards",
                        message=f"block {block!r} lists {', '.join(expected)} but no well holds a standard",
                        expected="StandardN wells on the plate",
                        severity="warning",
                    )
                )
            return
        names = list(dict.fromkeys(std["sample"]))
        if not expected:
            wells = ", ".join(std["well"].drop_duplicates().head(4))
            self.problems.append(
                Problem(
                    file=self.file,
                    column=f"block {block}",
                    value=wells,
                    rule="xponent.missing_standards",
                    message=f"standard wells ({wells}, ...) but no {block!r} block: no standard curve, "
                    "the values stay MFI",
                    expected="the expected concentration of every standard",
                    severity="warning",
                )
            )
            return
        for s in names:
            if s not in expected:
                wells = ", ".join(std.loc[std["sample"] == s, "well"].drop_duplicates())
                self.problems.append(
                    Problem(
                        file=self.file,
                        column=f"block {block}",
                        value=s,
                        rule="xponent.missing_standards",
                        message=f"standard {s} (wells {wells}) has no row in block {block!r}",
                        expected=f"a row {s}",
                        severity="warning",
                        extra={"wells": wells},
                    )
                )
        for s in expected:
            if s not in names:
                self.problems.append(
                    Problem(
                        file=self.file,
                        column=f"block {block}",
                        value=s,
                        rule="xponent.missing_standards",
                        message=f"block {block!r} lists {s} but no well holds it (missing standard)",
                        expected=f"wells named {s}",
                        severity="warning",
                    )
                )
        del analytes  # the dilution series is judged downstream (cytokines.standards)

    def _messages(self) -> pd.DataFrame:
        name = "Warnings/Errors"
        if name not in self.blocks:
            return pd.DataFrame(columns=["well", "status", "message"])
        _, header, data = self.blocks[name]
        recs = []
        for _, raw in data:
            cells = _strip(raw)
            if not cells:
                continue
            loc = cells[0]
            well = normalise_well(loc.split(",")[-1]) if "," in loc else normalise_well(loc)
            recs.append(
                {
                    "well": well or loc,
                    "status": cells[1] if len(cells) > 1 else "",
                    "message": ",".join(cells[2:]),
                }
            )
        del header
        return pd.DataFrame(recs, columns=["well", "status", "message"])


def _is_number(text: str, decimal_comma: bool) -> bool:
    t = text.strip().replace(",", ".") if decimal_comma else text.strip()
    try:
        float(t)
    except ValueError:
        return False
    return True


def _well_of(loc: str) -> str:
    m = _LOCATION.match(str(loc))
    return normalise_well(m.group(3)) or str(loc) if m else str(loc)


# --------------------------------------------------------------------------- INTELLIFLEX flat


def _read_intelliflex_flat(path: Path, text: str, encoding: str) -> CytokineExport:
    """Read the INTELLIFLEX flat export: one row per well, ``R<region>: RP1 <stat>`` columns."""
    f = str(path)
    signature = ""
    m = re.search(r"^--DOCUMENT SIGNATURE--", text, re.M)
    if m:
        text, signature = text[: m.start()], text[m.start() :]
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise InputError(
            f"cannot read the INTELLIFLEX export: {exc}", file=f, rule="intelliflex.parse"
        ) from None
    if "WELL LOCATION" not in df.columns:
        raise InputError(
            "INTELLIFLEX export without a 'WELL LOCATION' column",
            file=f,
            row=1,
            expected="the flat one-row-per-well layout",
            rule="intelliflex.columns",
        )
    blank = df.apply(lambda r: all(not str(c).strip() for c in r), axis=1)
    df = df[~blank]  # blank lines only: nothing is lost
    regions = list(
        dict.fromkeys(m.group(1) for c in df.columns if (m := re.match(r"^(R\d+): RP1 ANALYTE NAME$", c)))
    )
    if not regions:
        raise InputError(
            "INTELLIFLEX export without 'R<n>: RP1 ANALYTE NAME' columns",
            file=f,
            row=1,
            expected="per-region columns such as 'R25: RP1 MEDIAN'",
            rule="intelliflex.columns",
        )
    problems: list[Problem] = []
    names: dict[str, str] = {}
    for r in regions:
        col = df[f"{r}: RP1 ANALYTE NAME"]
        found = [v for v in col if not is_missing_text(v)]
        names[r] = found[0] if found else r
    rows: list[dict[str, Any]] = []
    type_role = {"U": "sample", "S": "standard", "B": "background", "C": "control"}
    for i, rec in enumerate(df.to_dict("records")):
        line = i + 2
        well = normalise_well(rec["WELL LOCATION"])
        if well is None:
            problems.append(
                Problem(
                    file=f,
                    row=line,
                    column="WELL LOCATION",
                    value=rec["WELL LOCATION"],
                    message="not a well name",
                    expected="A1 .. P24",
                    rule="intelliflex.well",
                )
            )
            continue
        wtype = str(rec.get("WELL TYPE", "")).strip()
        role = type_role.get(wtype[:1].upper(), infer_role(rec.get("SAMPLE ID", "")))
        for r in regions:

            def num(stat: str, _r: str = r, _line: int = line, _rec: dict = rec, _w: str = well) -> float:
                col = f"{_r}: RP1 {stat}"
                if col not in _rec:
                    return float("nan")
                try:
                    return parse_number(_rec[col], file=f, where=f"well {_w}", column=col, row=_line)
                except InputError as exc:
                    problems.append(exc.problem)
                    return float("nan")

            net = num("NET MEDIAN")
            signal = net if np.isfinite(net) else num("MEDIAN")
            raw_col = f"{r}: RP1 NET MEDIAN"
            rows.append(
                {
                    "plate_id": rec.get("PLATE NAME", "") or path.stem,
                    "well": well,
                    "location": rec["WELL LOCATION"],
                    "sample": rec.get("SAMPLE ID", ""),
                    "role": role,
                    "analyte": names[r],
                    "raw": rec.get(raw_col, ""),
                    "signal": signal,
                    "instrument_value": float("nan"),
                    "instrument_flag": "",
                    "unit": "",
                    "dilution_factor": _float_or_nan(rec.get("DILUTION", "")),
                    "bead_count": num("COUNT"),
                    "cv_pct": num("REPLICATE %CV"),
                }
            )
    if problems:
        raise ValidationFailed(problems, context=f)
    values = finish_values(rows)
    analytes = pd.DataFrame(
        {"analyte": [names[r] for r in regions], "bead_id": [r[1:] for r in regions], "unit": ""}
    )
    meta = {k: df.iloc[0][k] for k in df.columns[:30]} if len(df) else {}
    meta["encoding"] = encoding
    meta["document_signature"] = signature.strip()
    return CytokineExport(
        path=path,
        platform="xponent",
        fmt="intelliflex-flat",
        scale="mfi",
        values=values,
        analytes=analytes,
        standards=pd.DataFrame(columns=["analyte", "standard", "expected_conc", "kind"]),
        metadata=meta,
        blocks={"flat": [list(df.columns), *df.values.tolist()]},
        messages=pd.DataFrame(
            {"well": df["WELL LOCATION"], "status": df.get("WELL STATUS", ""), "message": ""}
        ),
        problems=[],
    )


def _float_or_nan(text: Any) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        return float("nan")


def _detect(head: FileHead) -> bool:
    first = head.first
    if re.match(r'^"?Program"?[,;]"?xPONENT', first) or "DataType:" in "\n".join(head.lines[:30]):
        return True
    return "WELL LOCATION" in first and "INSTRUMENT TYPE" in first


#: Registry entry (:mod:`myocit_omics.io.cytokine.registry`).
READER = Reader(
    platform="xponent",
    layouts="an xPONENT CSV ('Program,xPONENT' first line) or an INTELLIFLEX flat CSV",
    detect=_detect,
    read=read_xponent,
    aliases=("luminex", "intelliflex"),
)
