"""Olink NPX exports: Explore long CSV (``;`` or ``,``), delivery zip, Target 96 wide xlsx.

NPX is a relative log2 unit per assay; there is no standard curve. Mapping to the common
form: ``signal`` = ``instrument_value`` = NPX (``raw`` its string), ``unit`` = ``NPX``,
``lloq`` = ``LOD``, ``instrument_flag`` = ``qc_warning`` when ``QC_Warning`` or
``Assay_Warning`` is not PASS, ``plate_id`` = ``PlateID``, ``well`` = ``WellID`` (when
present). Roles from ``Sample_Type`` (``SAMPLE`` -> sample, ``CONTROL``/``PLATE_CONTROL`` ->
control, ``NEGATIVE_CONTROL`` -> background), else control for ``CONTROL...`` sample ids.
An assay measured under several OlinkIDs is named ``<Assay>_<OlinkID>``.

A delivery zip must hold one NPX CSV and may hold ``MD5_checksum.txt`` or
``checksum_sha256.txt``; when present the checksum is verified and a mismatch is refused
(naming the member, the expected and the found digest). A zip without a checksum file is
read with a warning problem.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
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
    is_missing_text,
    normalise_well,
    parse_number,
    xlsx_rows,
)

#: Columns every Explore/Target long NPX file has (OlinkAnalyze's base set).
LONG_REQUIRED = ("SampleID", "OlinkID", "Assay", "NPX")
_ROLE = {
    "SAMPLE": "sample",
    "CONTROL": "control",
    "PLATE_CONTROL": "control",
    "NEGATIVE_CONTROL": "background",
    "SAMPLE_CONTROL": "control",
}
_OK = {"PASS", "Pass", "pass", "", "NA"}


def read_olink(path: str | Path) -> CytokineExport:
    """Read an Olink NPX export: long CSV, delivery zip, or Target 96 wide xlsx.

    Raises
    ------
    InputError, ValidationFailed
        On a checksum mismatch, missing columns, or non-numeric NPX (naming sample, assay, value).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _read_zip(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_target_wide(path)
    return _read_long(path, path.read_bytes(), fmt="olink-explore-long")


def _read_zip(path: Path) -> CytokineExport:
    f = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputError(f"not a readable zip: {exc}", file=f, rule="olink.zip") from None
    with zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        data_names = [
            n
            for n in names
            if re.search(r"\.(csv|txt)$", n, re.I) and not re.search(r"(checksum|readme)", Path(n).name, re.I)
        ]
        if len(data_names) != 1:
            raise InputError(
                "the delivery zip must hold exactly one NPX data file",
                file=f,
                value=", ".join(names),
                rule="olink.zip_members",
                expected="one .csv NPX file plus a checksum file and README",
            )
        member = data_names[0]
        data = zf.read(member)
        checks = [n for n in names if re.search(r"checksum", Path(n).name, re.I)]
        problems: list[Problem] = []
        if not checks:
            problems.append(
                Problem(
                    file=f,
                    message="no checksum file in the delivery; contents not verified",
                    rule="olink.no_checksum",
                    severity="warning",
                    expected="MD5_checksum.txt or checksum_sha256.txt",
                )
            )
        for c in checks:
            text = zf.read(c).decode("utf-8", errors="replace")
            m = re.search(r"\b([0-9a-fA-F]{64}|[0-9a-fA-F]{32})\b", text)
            if not m:
                raise InputError(
                    "checksum file holds no MD5 or SHA-256 digest",
                    file=f"{f}!{c}",
                    value=text[:80],
                    rule="olink.checksum_format",
                    expected="a 32 (MD5) or 64 (SHA-256) hex digest",
                )
            want = m.group(1).lower()
            algo = "sha256" if len(want) == 64 else "md5"
            got = hashlib.new(algo, data).hexdigest()
            if got != want:
                raise InputError(
                    f"checksum mismatch for {member}: the NPX file is corrupt or was changed after delivery",
                    file=f"{f}!{member}",
                    column=c,
                    value=got,
                    rule="olink.checksum",
                    expected=f"{algo} {want} as written in {c}",
                    fix="ask Olink (or the lab) for the original delivery zip",
                )
    exp = _read_long(path, data, fmt="olink-explore-zip", member=member)
    exp.problems = problems + exp.problems
    exp.metadata["zip_member"] = member
    return exp


def _read_long(path: Path, data: bytes, *, fmt: str, member: str | None = None) -> CytokineExport:
    f = f"{path}!{member}" if member else str(path)
    text = data.decode("utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0]
    sep = ";" if first.count(";") > first.count(",") else ","
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"cannot read the NPX file: {exc}", file=f, rule="olink.parse") from None
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in LONG_REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"NPX file lacks column(s) {', '.join(missing)}",
            file=f,
            row=1,
            value=", ".join(df.columns[:8]),
            expected=", ".join(LONG_REQUIRED),
            rule="olink.columns",
        )
    ids_per_assay = df.groupby("Assay")["OlinkID"].nunique()
    multi = set(ids_per_assay[ids_per_assay > 1].index)
    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    decimal_comma = sep == ";"
    for i, rec in enumerate(df.to_dict("records")):
        line = i + 2

        def num(col: str, _rec: dict = rec, _line: int = line) -> float:
            if col not in _rec:
                return float("nan")
            try:
                return parse_number(
                    _rec[col],
                    file=f,
                    where=f"sample {_rec['SampleID']}, assay {_rec['Assay']}",
                    column=col,
                    row=_line,
                    decimal_comma=decimal_comma,
                )
            except InputError as exc:
                problems.append(exc.problem)
                return float("nan")

        npx = num("NPX")
        warn = any(str(rec.get(c, "")).strip() not in _OK for c in ("QC_Warning", "Assay_Warning"))
        stype = str(rec.get("Sample_Type", "")).strip().upper()
        role = _ROLE.get(stype, "control" if str(rec["SampleID"]).upper().startswith("CONTROL") else "sample")
        assay = rec["Assay"] if rec["Assay"] not in multi else f"{rec['Assay']}_{rec['OlinkID']}"
        well = normalise_well(rec.get("WellID", "")) or ""
        rows.append(
            {
                "plate_id": rec.get("PlateID", "") or path.stem,
                "well": well,
                "location": rec.get("WellID", ""),
                "sample": rec["SampleID"],
                "role": role,
                "analyte": assay,
                "raw": rec["NPX"],
                "signal": npx,
                "instrument_value": npx,
                "instrument_flag": "qc_warning" if warn else "",
                "unit": "NPX",
                "dilution_factor": float("nan"),
                "bead_count": float("nan"),
                "cv_pct": num("IntraCV"),
                "lloq": num("LOD"),
            }
        )
    if problems:
        raise ValidationFailed(problems, context=f)
    values = finish_values(rows)
    meta_cols = [
        c
        for c in (
            "OlinkID",
            "UniProt",
            "Panel",
            "Panel_Version",
            "Panel_Lot_Nr",
            "MissingFreq",
            "Normalization",
        )
        if c in df.columns
    ]
    an = df.assign(analyte=[r["analyte"] for r in rows])[["analyte", *meta_cols]].drop_duplicates("analyte")
    an.insert(1, "unit", "NPX")
    return CytokineExport(
        path=path,
        platform="olink",
        fmt=fmt,
        scale="npx",
        values=values,
        analytes=an.reset_index(drop=True),
        standards=pd.DataFrame(columns=["analyte", "standard", "expected_conc", "kind"]),
        metadata={"columns": list(df.columns), "separator": sep},
        blocks={},
        problems=[],
    )


def _read_target_wide(path: Path) -> CytokineExport:
    """Read the Target 96 wide 'NPX Data' workbook (NPX Manager layout)."""
    f = str(path)
    sheets = xlsx_rows(path)
    name, rows = next(iter(sheets.items()))
    labels = [str(r[0]).strip() if r and r[0] is not None else "" for r in rows]
    try:
        i_assay = labels.index("Assay")
        i_oid = labels.index("OlinkID")
    except ValueError:
        raise InputError(
            "not an Olink Target 96 NPX workbook: no 'Assay' / 'OlinkID' rows",
            file=f,
            value=", ".join(x for x in labels[:8] if x),
            rule="olink.wide_layout",
            expected="rows NPX Data, Panel, Assay, Uniprot ID, OlinkID, then samples",
        ) from None
    i_panel = labels.index("Panel") if "Panel" in labels else None
    assay_row = [("" if c is None else str(c).strip()) for c in rows[i_assay]]
    panel_row = [("" if c is None else str(c).strip()) for c in rows[i_panel]] if i_panel is not None else []
    oid_row = [("" if c is None else str(c).strip()) for c in rows[i_oid]]
    width = len(assay_row)
    assay_cols = [j for j in range(1, width) if oid_row[j].startswith("OID")]
    plate_cols = [j for j in range(1, width) if assay_row[j] == "Plate ID"]
    qc_cols = [j for j in range(1, width) if assay_row[j] == "QC Warning"]
    panel_of = {j: panel_row[j] if j < len(panel_row) else "" for j in range(width)}

    def per_panel(cols: list[int], j: int) -> int | None:
        for c in cols:
            if panel_of.get(c) == panel_of.get(j):
                return c
        return cols[0] if len(cols) == 1 else None

    footer: dict[str, list[Any]] = {}
    sample_rows: list[tuple[int, list[Any]]] = []
    for k in range(i_oid + 1, len(rows)):
        r = rows[k]
        lab = labels[k]
        if not lab:
            continue
        if lab in (
            "LOD",
            "Missing Data freq.",
            "Normalization",
            "Assay warning",
            "Lowest quantifiable level",
            "Plate LOD",
            "LLOQ",
            "ULOQ",
        ):
            footer[lab] = list(r)
            continue
        sample_rows.append((k + 1, list(r)))
    names = [assay_row[j] for j in assay_cols]
    dup = {n for n in names if names.count(n) > 1}
    problems: list[Problem] = []
    out: list[dict[str, Any]] = []
    for line, r in sample_rows:
        sid = str(r[0]).strip()
        for j in assay_cols:
            cell = r[j] if j < len(r) else None
            try:
                npx = parse_number(
                    cell, file=f, where=f"sample {sid}, assay {assay_row[j]}", column=assay_row[j], row=line
                )
            except InputError as exc:
                problems.append(exc.problem)
                continue
            pc = per_panel(plate_cols, j)
            qc = per_panel(qc_cols, j)
            plate = str(r[pc]).strip() if pc is not None and pc < len(r) and r[pc] is not None else path.stem
            warn = (
                qc is not None
                and qc < len(r)
                and not is_missing_text(r[qc])
                and str(r[qc]).strip() not in _OK
            )
            lod = footer.get("LOD", [])
            out.append(
                {
                    "plate_id": plate,
                    "well": "",
                    "location": "",
                    "sample": sid,
                    "role": "control" if sid.upper().startswith("CONTROL") else "sample",
                    "analyte": f"{assay_row[j]}_{oid_row[j]}" if assay_row[j] in dup else assay_row[j],
                    "raw": "" if cell is None else str(cell),
                    "signal": npx,
                    "instrument_value": npx,
                    "instrument_flag": "qc_warning" if warn else "",
                    "unit": "NPX",
                    "lloq": lod[j] if j < len(lod) and isinstance(lod[j], (int, float)) else np.nan,
                }
            )
    if problems:
        raise ValidationFailed(problems, context=f)
    values = finish_values(out)
    an = pd.DataFrame(
        {
            "analyte": [
                f"{assay_row[j]}_{oid_row[j]}" if assay_row[j] in dup else assay_row[j] for j in assay_cols
            ],
            "unit": "NPX",
            "OlinkID": [oid_row[j] for j in assay_cols],
            "Panel": [panel_of.get(j, "") for j in assay_cols],
        }
    )
    return CytokineExport(
        path=path,
        platform="olink",
        fmt="olink-target96-wide",
        scale="npx",
        values=values,
        analytes=an,
        standards=pd.DataFrame(columns=["analyte", "standard", "expected_conc", "kind"]),
        metadata={"sheet": name, "title": labels[0] if labels else ""},
        blocks={name: [list(r) for r in rows]},
        problems=[],
    )


def _detect(head: FileHead) -> bool:
    if head.suffix == ".zip":
        return True
    if head.suffix in (".xlsx", ".xlsm"):
        cells = set(head.cells)
        return bool({"NPX Data", "OlinkID"} & cells) or any("Quantified" in c for c in cells)
    return "OlinkID" in head.first and "NPX" in head.first


#: Registry entry (:mod:`myocit_omics.io.cytokine.registry`).
READER = Reader(
    platform="olink",
    layouts="an Olink NPX file (OlinkID, NPX columns; delivery zip; Target 96 'NPX Data' workbook)",
    detect=_detect,
    read=read_olink,
)
