"""MSD (Meso Scale Discovery) Discovery Workbench exports, CSV/TXT and xlsx.

Layout (../shared/domain/cytokine_exports.md section 3): an optional preamble (``Name,Value``
rows, or a digital signature and ``FileName :`` rows in xlsx), a ``Plate_<barcode>`` line,
then a table with a header starting ``Sample,Assay,Well`` and one row per well and assay
(spot). The older per-assay layout is also read: a line ``Unknown: IL-6 (Human)`` (or
``Standard:``, ``Control:``, ``Blank:``) opens a block whose header ``Sample,Well,Signal,...``
has no ``Assay`` column; the assay is the block's (and so is the role, when the sample name
does not tell). Several plates follow each other, each after its own ``Plate_`` line. In xlsx
the table is on the sheet ``Workbench data`` (else the first sheet holding such a header).

Mapping to the common form: ``signal`` = ``Adjusted Signal`` (else ``Signal``);
``expected_conc`` = ``Concentration`` (standards, controls); ``instrument_value`` =
``Calc. Concentration`` (its string is ``raw``); ``instrument_flag`` from
``Detection Range`` (``Below/Above Fit Curve Range`` -> ``oor_low``/``oor_high``,
``Below/Above Detection Range`` -> ``below_detection``/``above_detection``);
``cv_pct`` = ``CV``; ``dilution_factor`` = ``Dilution``; ``lloq``/``uloq`` =
``Detection Limits: Calc. Low/High`` when present. Roles by sample name (``S001`` standard,
``C..`` control, ``B..`` blank, else sample; a sample name with an expected ``Concentration``
that is not a control is a standard). Wells ``A01`` become ``A1``.
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
    parse_number,
    read_text,
    xlsx_rows,
)

REQUIRED = ("Sample", "Assay", "Well")
_RANGE_FLAG = {
    "below fit curve range": "oor_low",
    "above fit curve range": "oor_high",
    "below detection range": "below_detection",
    "above detection range": "above_detection",
    "in detection range": "",
}


def read_msd(path: str | Path) -> CytokineExport:
    """Read an MSD Discovery Workbench export (CSV/TXT or xlsx).

    Parameters
    ----------
    path
        The export.

    Returns
    -------
    CytokineExport
        ``platform="msd"``, ``scale="concentration"`` when calculated concentrations are
        present, else ``mfi`` (signals to fit against the standards' ``Concentration``).

    Raises
    ------
    InputError, ValidationFailed
        If no Workbench table is found, a required column is missing, a well is malformed
        or a numeric cell holds text (message names plate, well, column and value).
    """
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        sheets = xlsx_rows(path)
        order = (["Workbench data"] if "Workbench data" in sheets else []) + [
            s for s in sheets if s != "Workbench data"
        ]
        rows: list[list[str]] | None = None
        for name in order:
            cand = [["" if c is None else _cell(c) for c in r] for r in sheets[name]]
            if any(_is_header(r) for r in cand):
                rows = cand
                break
        fmt = "msd-workbench-xlsx"
        if rows is None:
            raise InputError(
                "no Discovery Workbench table in the workbook",
                file=str(path),
                expected="a sheet 'Workbench data' with a header Sample, Assay, Well, ...",
                rule="msd.table",
            )
    else:
        text, _ = read_text(path)
        first = text.split("\n", 1)[0]
        sep = "\t" if first.count("\t") > first.count(",") else ","
        rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text), delimiter=sep)]
        fmt = "msd-workbench-csv"
    return _parse(path, rows, fmt)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value).strip()


def _is_header(row: list[str], *, block_assay: str = "") -> bool:
    cells = [c.strip() for c in row]
    return (
        len(cells) >= 3
        and cells[0] == "Sample"
        and "Well" in cells
        and ("Assay" in cells or bool(block_assay))
    )


_BLOCK_ROLE = {"standard": "standard", "control": "control", "blank": "background"}
_BLOCK = re.compile(r"^(Unknowns?|Standards?|Controls?|Blanks?|Samples?)\s*:\s*(.+)$", re.I)


def _parse(path: Path, rows: list[list[str]], fmt: str) -> CytokineExport:
    f = str(path)
    problems: list[Problem] = []
    plate = ""
    header: list[str] | None = None
    out: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    r2_by: dict[tuple[str, str], float] = {}
    block_assay = ""
    block_role = "sample"
    for i, raw in enumerate(rows):
        line = i + 1
        cells = list(raw)
        while cells and cells[-1] == "":
            cells.pop()
        if not cells:
            continue
        if cells[0].startswith("Plate_") and all(c == "" or c.startswith("Unnamed") for c in cells[1:]):
            plate = cells[0][len("Plate_") :]
            header = None
            block_assay = ""
            continue
        m = _BLOCK.match(cells[0]) if len(cells) == 1 else None
        if m:
            # older per-assay layout: "Unknown: IL-6 (Human)" then its own header without Assay
            block_assay = m.group(2).strip()
            block_role = _BLOCK_ROLE.get(m.group(1).lower().rstrip("s"), "sample")
            header = None
            continue
        if _is_header(cells, block_assay=block_assay):
            header = cells
            continue
        if header is None:
            if len(cells) >= 2:
                meta[cells[0].rstrip(" :")] = cells[1]
            continue
        rec = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False))
        if "Assay" not in header:
            rec["Assay"] = block_assay
        if len(cells) > len(header):
            problems.append(
                Problem(
                    file=f,
                    row=line,
                    value=",".join(cells),
                    rule="msd.row",
                    message=f"plate {plate}: row has more cells than the header",
                    expected=f"{len(header)} cells",
                )
            )
            continue
        well = normalise_well(rec["Well"])
        if well is None:
            problems.append(
                Problem(
                    file=f,
                    row=line,
                    column="Well",
                    value=rec["Well"],
                    rule="msd.well",
                    message=f"plate {plate}: not a well name",
                    expected="A01 .. P24",
                )
            )
            continue

        def num(
            col: str, _rec: dict = rec, _line: int = line, _well: str = well, _plate: str = plate
        ) -> float:
            if col not in _rec:
                return float("nan")
            try:
                return parse_number(
                    _rec[col], file=f, where=f"plate {_plate}, well {_well}", column=col, row=_line
                )
            except InputError as exc:
                problems.append(exc.problem)
                return float("nan")

        sample = rec["Sample"]
        expected = num("Concentration")
        role = infer_role(sample, short_codes=True)
        if role == "sample" and block_assay and "Assay" not in header:
            role = block_role
        if role == "sample" and np.isfinite(expected):
            role = "standard"
        sig = num("Adjusted Signal") if "Adjusted Signal" in rec else num("Signal")
        rng = str(rec.get("Detection Range", "")).strip()
        flag = _RANGE_FLAG.get(rng.lower(), rng.lower().replace(" ", "_") if rng else "")
        calc_raw = rec.get("Calc. Concentration", "")
        r2 = num("Fit Statistic: RSquared")
        if np.isfinite(r2):
            r2_by[(plate, rec["Assay"])] = r2
        out.append(
            {
                "plate_id": plate or path.stem,
                "well": well,
                "location": rec["Well"],
                "sample": sample,
                "role": role,
                "analyte": rec["Assay"],
                "raw": calc_raw if "Calc. Concentration" in rec else rec.get("Signal", ""),
                "signal": sig,
                "instrument_value": num("Calc. Concentration"),
                "instrument_flag": flag,
                "unit": "",
                "dilution_factor": num("Dilution"),
                "bead_count": float("nan"),
                "cv_pct": num("CV"),
                "expected_conc": expected,
                "lloq": num("Detection Limits: Calc. Low"),
                "uloq": num("Detection Limits: Calc. High"),
            }
        )
        missing = [c for c in REQUIRED if is_missing_text(rec.get(c))]
        if missing:
            problems.append(
                Problem(
                    file=f,
                    row=line,
                    column=missing[0],
                    value="",
                    rule="msd.empty",
                    message=f"plate {plate}, well {well}: {missing[0]} is empty",
                    expected="a sample name and an assay",
                )
            )
    if not out and not problems:
        raise InputError(
            "no Discovery Workbench table found",
            file=f,
            rule="msd.table",
            expected="a header row 'Sample,Assay,Well,...' after a 'Plate_<barcode>' line",
        )
    if problems:
        raise ValidationFailed(problems, context=f)
    values = finish_values(out)
    has_calc = values["instrument_value"].notna().any()
    analytes = pd.DataFrame({"analyte": list(dict.fromkeys(values["analyte"]))})
    analytes["unit"] = ""
    analytes["r2"] = [
        float(np.nanmean([v for (p, a), v in r2_by.items() if a == name]))
        if any(a == name for (_, a) in r2_by)
        else float("nan")
        for name in analytes["analyte"]
    ]
    std = values[values["role"].isin(["standard", "control"]) & values["expected_conc"].notna()]
    standards = (
        pd.DataFrame(
            {
                "analyte": std["analyte"],
                "standard": std["sample"],
                "expected_conc": std["expected_conc"],
                "kind": std["role"],
            }
        )
        .drop_duplicates(["analyte", "standard"])
        .reset_index(drop=True)
    )
    return CytokineExport(
        path=path,
        platform="msd",
        fmt=fmt,
        scale="concentration" if has_calc else "mfi",
        values=values,
        analytes=analytes,
        standards=standards,
        metadata=meta,
        blocks={"table": rows},
        problems=[],
    )


def _detect(head: FileHead) -> bool:
    if head.suffix in (".xlsx", ".xlsm"):
        return any(c.startswith("Plate_") for c in head.cells) or "Workbench data" in head.cells
    return head.first.startswith("Plate_") or bool(
        re.search(r"^Sample,Assay,Well", "\n".join(head.lines[:30]), re.M)
    )


#: Registry entry (:mod:`myocit_omics.io.cytokine.registry`).
READER = Reader(
    platform="msd",
    layouts="an MSD Discovery Workbench export ('Plate_<barcode>', or a sheet 'Workbench data')",
    detect=_detect,
    read=read_msd,
)
