"""The generic long cytokine CSV: one row per sample and analyte, for Simoa and any other platform.

Format (also in docs/cytokine_generic_csv.md)
---------------------------------------------
UTF-8 text (a BOM is accepted), separator ``,`` (``;`` or tab are detected; with ``;`` a
decimal comma is accepted), a header row, then one row per sample, analyte and well. The
nine columns, in any order (extra columns are kept in ``blocks`` but not used):

============  ========  ==============================================================
column        required  meaning
============  ========  ==============================================================
sample_id     yes       the sample, as in the plate map (which links it to patient/visit)
analyte       yes       analyte name, e.g. ``IFN-alpha``
value         no        the concentration, already multiplied by the dilution factor;
                        a number, or ``<x`` / ``>x`` (out of range, bound x), or empty
unit          yes       e.g. ``fg/mL``, ``pg/mL``
lloq          no        lower limit of quantification, same unit as value
uloq          no        upper limit of quantification, same unit as value
plate         no        plate or run id (plates are bridged by it); empty -> file name
well          no        well such as ``A1`` / ``A01``; empty when the platform has none
flag          no        empty or ``ok``; ``below_lloq`` (also ``<LLOQ``, ``<LOD``),
                        ``above_uloq`` (also ``>ULOQ``), ``extrapolated``, ``missing``
                        (also ``NaN``, ``no result``), ``oor`` (instrument out of range)
============  ========  ==============================================================

Optional extra columns understood: ``cv_pct`` (replicate %CV), ``bead_count`` (Simoa
number of beads), ``dilution_factor`` (informative only: ``value`` is already corrected).

Every value keeps its raw string (``raw``), its number (``instrument_value``; NaN for
``<x``/``>x`` and empty cells) and the flag (``instrument_flag``, normalised to
``below_lloq``, ``above_uloq``, ``extrapolated``, ``missing``, ``oor_low``/``oor_high``
or ``""``). A ``<x`` value without a flag counts as ``oor_low``, ``>x`` as ``oor_high``.
Refused with file, row, column and value: a missing column, an empty sample_id, analyte or
unit, a value or limit that is not a number, an unknown flag, lloq > uloq, the same
sample, analyte, plate and well twice.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd

from myocit_omics.errors import InputError, Problem, ValidationFailed
from myocit_omics.io.cytokine.common import (
    CytokineExport,
    FileHead,
    Reader,
    finish_values,
    is_missing_text,
    normalise_well,
    parse_number,
    read_text,
)

#: The documented columns of the generic long CSV.
GENERIC_COLUMNS: tuple[str, ...] = (
    "sample_id",
    "analyte",
    "value",
    "unit",
    "lloq",
    "uloq",
    "plate",
    "well",
    "flag",
)
REQUIRED_NONEMPTY = ("sample_id", "analyte", "unit")

_FLAGS = {
    "": "",
    "ok": "",
    "below_lloq": "below_lloq",
    "<lloq": "below_lloq",
    "<lod": "below_lloq",
    "below lloq": "below_lloq",
    "above_uloq": "above_uloq",
    ">uloq": "above_uloq",
    "above uloq": "above_uloq",
    "extrapolated": "extrapolated",
    "missing": "missing",
    "nan": "missing",
    "no result": "missing",
    "oor": "oor",
    "instrument_oor": "oor",
}


def read_generic_long(path: str | Path) -> CytokineExport:
    """Read the generic long CSV (format in the module docstring).

    Returns
    -------
    CytokineExport
        ``platform="generic"``, ``scale="concentration"``.

    Raises
    ------
    InputError, ValidationFailed
        On a missing column or any bad cell (all problems reported together).
    """
    path = Path(path)
    f = str(path)
    text, _ = read_text(path)
    first = text.split("\n", 1)[0]
    sep = "\t" if "\t" in first else (";" if first.count(";") > first.count(",") else ",")
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(
            f"cannot read the generic cytokine CSV: {exc}", file=f, rule="generic.parse"
        ) from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in GENERIC_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            f"generic cytokine CSV lacks column(s) {', '.join(missing)}",
            file=f,
            row=1,
            value=", ".join(df.columns),
            expected=", ".join(GENERIC_COLUMNS),
            rule="generic.columns",
            fix="see docs/cytokine_generic_csv.md",
        )
    decimal_comma = sep == ";"
    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    for i, rec in enumerate(df.to_dict("records")):
        line = i + 2
        for col in REQUIRED_NONEMPTY:
            if is_missing_text(rec[col]):
                problems.append(
                    Problem(
                        file=f,
                        row=line,
                        column=col,
                        value=rec[col],
                        rule="generic.empty",
                        message=f"{col} is empty",
                        expected="a non-empty value",
                    )
                )

        def num(col: str, text: Any = None, _rec: dict = rec, _line: int = line) -> float:
            if col not in _rec and text is None:
                return float("nan")
            try:
                return parse_number(
                    _rec[col] if text is None else text,
                    file=f,
                    where=f"sample {_rec['sample_id']}, analyte {_rec['analyte']}",
                    column=col,
                    row=_line,
                    decimal_comma=decimal_comma,
                )
            except InputError as exc:
                problems.append(exc.problem)
                return float("nan")

        raw = str(rec["value"]).strip()
        flag_txt = str(rec["flag"]).strip()
        flag = _FLAGS.get(flag_txt.lower())
        if flag is None:
            problems.append(
                Problem(
                    file=f,
                    row=line,
                    column="flag",
                    value=flag_txt,
                    rule="generic.flag",
                    message="unknown flag",
                    expected="empty, ok, below_lloq, above_uloq, extrapolated, missing or oor",
                )
            )
            flag = ""
        if raw.startswith(("<", ">")):
            num("value", raw[1:].strip())  # the bound must be a number
            value = float("nan")
            side = "oor_low" if raw.startswith("<") else "oor_high"
            if flag in ("", "oor"):
                flag = side
        else:
            value = num("value")
            if flag == "oor":
                flag = "oor_low"
        lloq, uloq = num("lloq"), num("uloq")
        if lloq == lloq and uloq == uloq and lloq > uloq:
            problems.append(
                Problem(
                    file=f,
                    row=line,
                    column="lloq",
                    value=f"{lloq:g} > {uloq:g}",
                    rule="generic.limits",
                    message="lloq is above uloq",
                    expected="lloq <= uloq",
                )
            )
        w = str(rec["well"]).strip()
        well = normalise_well(w) if w else ""
        if well is None:
            problems.append(
                Problem(
                    file=f,
                    row=line,
                    column="well",
                    value=w,
                    rule="generic.well",
                    message="not a well name",
                    expected="A1 .. P24, or empty",
                )
            )
            well = w
        if is_missing_text(raw) and flag == "":
            flag = "missing"
        rows.append(
            {
                "plate_id": str(rec["plate"]).strip() or path.stem,
                "well": well,
                "location": w,
                "sample": str(rec["sample_id"]).strip(),
                "role": "sample",
                "analyte": str(rec["analyte"]).strip(),
                "raw": raw,
                "signal": float("nan"),
                "instrument_value": value,
                "instrument_flag": flag,
                "unit": str(rec["unit"]).strip(),
                "dilution_factor": num("dilution_factor"),
                "bead_count": num("bead_count"),
                "cv_pct": num("cv_pct"),
                "lloq": lloq,
                "uloq": uloq,
            }
        )
    values = finish_values(rows)
    dup = values.duplicated(["sample", "analyte", "plate_id", "well"], keep="first")
    for idx in values.index[dup]:
        r = values.loc[idx]
        problems.append(
            Problem(
                file=f,
                row=int(idx) + 2,
                column="sample_id",
                rule="generic.duplicate",
                value=f"{r['sample']} {r['analyte']} {r['plate_id']} {r['well']}",
                message="the same sample, analyte, plate and well appear twice",
                expected="one row per sample, analyte and well",
            )
        )
    if problems:
        raise ValidationFailed(problems, context=f)
    analytes = values.groupby("analyte", sort=False)["unit"].first().reset_index()
    return CytokineExport(
        path=path,
        platform="generic",
        fmt="generic-long",
        scale="concentration",
        values=values,
        analytes=analytes,
        standards=pd.DataFrame(columns=["analyte", "standard", "expected_conc", "kind"]),
        metadata={"separator": sep},
        blocks={"table": [list(df.columns), *df.values.tolist()]},
        problems=[],
    )


def _detect(head: FileHead) -> bool:
    low = head.first.lower().replace(";", ",").replace("\t", ",")
    return {"sample_id", "analyte", "value"} <= {c.strip().strip('"') for c in low.split(",")}


#: Registry entry (:mod:`myocit_omics.io.cytokine.registry`).
READER = Reader(
    platform="generic",
    layouts="the generic long CSV (sample_id, analyte, value, ...)",
    detect=_detect,
    read=read_generic_long,
    aliases=("simoa",),
)
