"""Validate a whole batch: the manifest, each file's rows (layer 1), then cross-file checks (layer 2).

:func:`validate_batch` never stops at the first problem: every file is read and checked,
and every problem is returned, so that a rejection report lists all of them. It also
returns the sample records the store catalogues (one per sample, with a hash of the
sample's data so that a conflicting re-upload is recognised).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.config import StudyConfig
from myocit_omics.errors import InputError, Problem, ValidationFailed
from myocit_omics.io.counts import CountMatrix, column_aliases, read_counts
from myocit_omics.io.sample_sheet import finish_sample_sheet
from myocit_omics.io.tables import read_table
from myocit_omics.validate.identifiers import check_identifiers
from myocit_omics.validate.manifest import Manifest, read_manifest
from myocit_omics.validate.schemas import CORE_SET, PATIENTS, PK, PLATE_MAP, SAMPLE_SHEET, Col, check_rows


@dataclass
class SampleRecord:
    """One sample (or clinical record) a batch brings into the study.

    Attributes
    ----------
    sample_id
        The sample (clinical: ``<patient>/<visit>``; patients: the patient id).
    kind
        ``rnaseq``, ``cytokine``, ``pk``, ``clinical`` (core-set rows) or ``patient``.
    patient_id, visit
        Identity (visit empty for ``patient`` records).
    data_sha256
        Hash of the sample's data: equal hashes mean the same data.
    attrs
        Small extra fields (column in the matrix, sex, role, seq_batch...).
    where
        ``(file, row)`` the record comes from, for messages.
    key
        Unique within ``kind`` across the study: the sample id, except for cytokines, where one
        sample is measured on several plates and platforms: ``<sample_id>@<plate_id>``.
    """

    sample_id: str
    kind: str
    patient_id: str
    visit: str
    data_sha256: str
    attrs: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    where: tuple[str, int] | None = None

    def __post_init__(self) -> None:
        if not self.key:
            self.key = self.sample_id


@dataclass
class BatchCheck:
    """Outcome of :func:`validate_batch`."""

    manifest: Manifest | None
    problems: list[Problem]
    samples: list[SampleRecord]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=_jsonable).encode()).hexdigest()


def _jsonable(x: Any) -> Any:
    if isinstance(x, float | np.floating):
        return None if math.isnan(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return str(x)


def _row_dict(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, float | np.floating):
            out[str(k)] = None if math.isnan(v) else float(v)
        else:
            out[str(k)] = str(v)
    return out


def _read_checked(
    path: Path, rel: str, schema: list[Col], config: StudyConfig, problems: list[Problem]
) -> pd.DataFrame | None:
    try:
        table = read_table(path, name=rel)
    except (InputError, ValidationFailed) as exc:
        problems.extend(exc.problems)
        return None
    typed, found = check_rows(table, schema, file=rel, config=config)
    problems.extend(found)
    problems.extend(check_identifiers(table, file=rel))
    return typed


def _duplicates(
    df: pd.DataFrame, keys: list[str], *, file: str, rule: str, what: str, mask: pd.Series | None = None
) -> list[Problem]:
    sub = df if mask is None else df[mask]
    sub = sub[[k for k in keys]].astype(str)
    sub = sub[(sub != "").all(axis=1)]
    dup = sub[sub.duplicated(keep=False)]
    problems = []
    for key, rows in dup.groupby(keys).groups.items():
        rows = [int(r) for r in rows]
        value = "/".join(key) if isinstance(key, tuple) else str(key)
        problems.append(
            Problem(
                file=file,
                row=rows[1],
                column=",".join(keys),
                value=value,
                message=f"{what} recorded {len(rows)} times (rows {', '.join(map(str, rows))})",
                rule=rule,
                expected=f"each {what} once",
                fix="remove the duplicate or correct the id / visit",
            )
        )
    return problems


def validate_batch(root: str | Path, present: list[str], *, config: StudyConfig) -> BatchCheck:
    """Validate the batch in ``root``.

    Parameters
    ----------
    root
        The batch folder (extracted when it came as a zip).
    present
        Relative POSIX paths of every file in the batch.
    config
        Study configuration (patients, visits).

    Returns
    -------
    BatchCheck
        The manifest, every problem, the sample records and what was recorded (formats,
        encodings, rounding).
    """
    root = Path(root)
    manifest, problems = read_manifest(root, present)
    if manifest is None:
        return BatchCheck(None, problems, [])
    check = BatchCheck(manifest, problems, [])
    handler = {"rnaseq": _rnaseq, "cytokine": _cytokine, "clinical": _clinical, "pk": _pk}[manifest.kind]
    handler(root, manifest, config, check)
    return check


def _rnaseq(root: Path, m: Manifest, config: StudyConfig, check: BatchCheck) -> None:
    problems = check.problems
    sheet_rel = m.files.get("sample_sheet")
    sheet = None
    if sheet_rel and (root / sheet_rel).is_file():
        sheet = _read_checked(root / sheet_rel, sheet_rel, SAMPLE_SHEET, config, problems)
        if sheet is not None and "sample_id" in sheet and "column" in sheet:
            sheet = finish_sample_sheet(sheet)
    counts_rel = m.files.get("counts") or m.files.get("counts_dir")
    matrix: CountMatrix | None = None
    if counts_rel and (root / counts_rel).exists():
        fmt = m.platform or ("htseq" if "counts_dir" in m.files else None)
        try:
            matrix = read_counts(
                root / counts_rel,
                fmt=fmt,
                rounding=m.rounding,  # type: ignore[arg-type]
                name=counts_rel,
            )
        except (InputError, ValidationFailed) as exc:
            problems.extend(exc.problems)
    if matrix is not None:
        check.info["counts"] = {
            "file": counts_rel,
            "format": matrix.fmt,
            "rounding": matrix.rounding,
            "n_genes": int(matrix.counts.shape[0]),
            "n_columns": int(matrix.counts.shape[1]),
            "special_rows": [str(x) for x in matrix.special_rows.index],
            "source": matrix.source,
        }
    if sheet is None or not {"sample_id", "patient_id", "visit"} <= set(sheet.columns):
        return
    check.info["sample_sheet"] = dict(sheet.attrs.get("source", {}))
    problems.extend(
        _duplicates(sheet, ["sample_id"], file=sheet_rel, rule="unique.sample_id", what="sample id")
    )
    problems.extend(
        _duplicates(sheet, ["column"], file=sheet_rel, rule="unique.column", what="matrix column")
    )
    problems.extend(
        _duplicates(
            sheet,
            ["patient_id", "visit"],
            file=sheet_rel,
            rule="unique.patient_visit",
            what="patient and visit",
            mask=sheet["role"] == "patient",
        )
    )
    if matrix is None:
        return
    aliases = column_aliases(matrix)
    in_matrix = set(matrix.samples)
    sheet["column"] = [aliases.get(c, c) for c in sheet["column"]]
    in_sheet = set(sheet["column"])
    for row, col, sid in zip(sheet.index, sheet["column"], sheet["sample_id"], strict=True):
        if col not in in_matrix:
            problems.append(
                Problem(
                    file=sheet_rel,
                    row=int(row),
                    column="column",
                    value=col,
                    message=f"sample {sid!r}: no such column in the count matrix",
                    rule="cross.sheet_not_in_matrix",
                    expected=f"one of the {len(in_matrix)} matrix columns, e.g. "
                    + ", ".join(sorted(in_matrix)[:5]),
                    fix="correct the sample sheet or add the sample's counts",
                )
            )
    for col in matrix.samples:
        if col not in in_sheet:
            problems.append(
                Problem(
                    file=counts_rel,
                    row=1,
                    column=col,
                    value=col,
                    message="matrix column not described in the sample sheet",
                    rule="cross.matrix_not_in_sheet",
                    expected=f"a row in {sheet_rel} with column (or sample_id) {col!r}",
                    fix="add the sample to the sheet or remove the column",
                )
            )
    if problems:
        return
    genes = matrix.counts.index.to_numpy().astype(str)
    gene_digest = hashlib.sha256("\n".join(genes).encode()).hexdigest()
    meta_cols = ["sample_id", "patient_id", "visit", "sex", "role"]
    for rownum, row in sheet.iterrows():
        vec = matrix.counts[row["column"]].to_numpy(dtype=np.int64)
        digest = hashlib.sha256(gene_digest.encode() + vec.tobytes())
        digest.update(_hash({k: row.get(k, "") for k in meta_cols}).encode())
        check.samples.append(
            SampleRecord(
                sample_id=row["sample_id"],
                kind="rnaseq",
                patient_id=row["patient_id"],
                visit=row["visit"],
                data_sha256=digest.hexdigest(),
                attrs={
                    "column": row["column"],
                    "sex": row.get("sex", ""),
                    "role": row.get("role", "patient"),
                    "seq_batch": row.get("seq_batch", ""),
                },
                where=(sheet_rel, int(rownum)),
            )
        )


def _clinical(root: Path, m: Manifest, config: StudyConfig, check: BatchCheck) -> None:
    problems = check.problems
    p_rel, c_rel = m.files.get("patients"), m.files.get("core_set")
    patients = (
        _read_checked(root / p_rel, p_rel, PATIENTS, config, problems)
        if p_rel and (root / p_rel).is_file()
        else None
    )
    core = (
        _read_checked(root / c_rel, c_rel, CORE_SET, config, problems)
        if c_rel and (root / c_rel).is_file()
        else None
    )
    if patients is not None and "patient_id" in patients:
        problems.extend(
            _duplicates(patients, ["patient_id"], file=p_rel, rule="unique.patient_id", what="patient")
        )
    if core is not None and {"patient_id", "visit"} <= set(core.columns):
        problems.extend(
            _duplicates(
                core,
                ["patient_id", "visit"],
                file=c_rel,
                rule="unique.patient_visit",
                what="patient and visit",
            )
        )
        if {"das_total", "das_skin", "das_muscle"} <= set(core.columns):
            for row, r in core.iterrows():
                t, s, mu = r["das_total"], r["das_skin"], r["das_muscle"]
                if (
                    all(isinstance(x, float) and not math.isnan(x) for x in (t, s, mu))
                    and abs(t - s - mu) > 1e-6
                ):
                    problems.append(
                        Problem(
                            file=c_rel,
                            row=int(row),
                            column="das_total",
                            value=t,
                            message=f"DAS total is not skin + muscle ({s:g} + {mu:g})",
                            rule="consistency.das_total",
                            expected=f"{s + mu:g}",
                            fix="check the DAS items in the eCRF",
                        )
                    )
        if patients is not None and "patient_id" in patients:
            known = set(patients["patient_id"])
            for row, pid in core["patient_id"].items():
                if pid and pid not in known:
                    problems.append(
                        Problem(
                            file=c_rel,
                            row=int(row),
                            column="patient_id",
                            value=pid,
                            message="patient not in the patients table of this batch",
                            rule="cross.patient_unknown",
                            expected=f"a patient listed in {p_rel}",
                            fix=f"add the patient to {p_rel}",
                        )
                    )
    if problems or patients is None or core is None:
        return
    check.info["tables"] = {p_rel: patients.attrs.get("source", {}), c_rel: core.attrs.get("source", {})}
    for rownum, row in patients.iterrows():
        check.samples.append(
            SampleRecord(
                row["patient_id"],
                "patient",
                row["patient_id"],
                "",
                _hash(_row_dict(row)),
                {"sex": row["sex"]},
                where=(p_rel, int(rownum)),
            )
        )
    for rownum, row in core.iterrows():
        sid = f"{row['patient_id']}/{row['visit']}"
        check.samples.append(
            SampleRecord(
                sid,
                "clinical",
                row["patient_id"],
                row["visit"],
                _hash(_row_dict(row)),
                {},
                where=(c_rel, int(rownum)),
            )
        )


def _pk(root: Path, m: Manifest, config: StudyConfig, check: BatchCheck) -> None:
    problems = check.problems
    rel = m.files.get("pk")
    table = _read_checked(root / rel, rel, PK, config, problems) if rel and (root / rel).is_file() else None
    if table is None or "sample_id" not in table:
        return
    problems.extend(_duplicates(table, ["sample_id"], file=rel, rule="unique.sample_id", what="sample id"))
    if problems:
        return
    check.info["tables"] = {rel: table.attrs.get("source", {})}
    for rownum, row in table.iterrows():
        check.samples.append(
            SampleRecord(
                row["sample_id"],
                "pk",
                row["patient_id"],
                row["visit"],
                _hash(_row_dict(row)),
                {},
                where=(rel, int(rownum)),
            )
        )


def cytokine_readers() -> tuple[Any, Any] | None:
    """Return ``(read_export, read_plate_map)`` of :mod:`myocit_omics.io.cytokine_exports`, if installed."""
    try:
        mod = importlib.import_module("myocit_omics.io.cytokine_exports")
    except ImportError:
        return None
    read_export = getattr(mod, "read_export", None)
    read_plate_map = getattr(mod, "read_plate_map", None)
    if read_export is None or read_plate_map is None:
        return None
    return read_export, read_plate_map


def _cytokine(root: Path, m: Manifest, config: StudyConfig, check: BatchCheck) -> None:
    problems = check.problems
    rel = m.files.get("plate_map")
    plate = (
        _read_checked(root / rel, rel, PLATE_MAP, config, problems)
        if rel and (root / rel).is_file()
        else None
    )
    readers = cytokine_readers()
    export_digests: dict[str, str] = {}
    for role, erel in sorted(m.files.items()):
        if not role.startswith("export"):
            continue
        path = root / erel
        export_digests[erel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        if readers is not None and path.is_file():
            problems.extend(_call_reader(readers[0], path, erel, platform=m.platform))
    check.info["cytokine_readers"] = readers is not None
    if readers is not None and rel and (root / rel).is_file():
        problems.extend(_call_reader(readers[1], root / rel, rel))
    if plate is None or not {"sample_id", "role"} <= set(plate.columns):
        return
    is_sample = plate["role"] == "sample"
    for row, r in plate[is_sample].iterrows():
        for colname in ("sample_id", "patient_id", "visit"):
            if not str(r.get(colname, "")).strip():
                problems.append(
                    Problem(
                        file=rel,
                        row=int(row),
                        column=colname,
                        value="",
                        message=f"a well of role 'sample' needs {colname}",
                        rule=f"required.{colname}",
                        expected="a value",
                        fix="fill in the sample's id, patient and visit",
                    )
                )
        pid, visit = str(r.get("patient_id", "")), str(r.get("visit", ""))
        if pid and not config.is_valid_patient(pid):
            problems.append(
                Problem(
                    file=rel,
                    row=int(row),
                    column="patient_id",
                    value=pid,
                    message="unknown patient id",
                    rule="vocab.patient_id",
                    expected=f"an id matching {config.patient_id_pattern}",
                )
            )
        if visit and not config.is_valid_visit(visit):
            problems.append(
                Problem(
                    file=rel,
                    row=int(row),
                    column="visit",
                    value=visit,
                    message="unknown visit",
                    rule="vocab.visit",
                    expected="one of " + ", ".join(config.visits) + " or UNS-<n>",
                )
            )
    problems.extend(
        _duplicates(plate, ["plate_id", "well"], file=rel, rule="unique.plate_well", what="plate and well")
    )
    samples = plate[is_sample]
    for sid, grp in samples.groupby("sample_id"):
        ident = grp[["patient_id", "visit"]].astype(str).drop_duplicates()
        if len(ident) > 1:
            problems.append(
                Problem(
                    file=rel,
                    row=int(grp.index[1]),
                    column="patient_id,visit",
                    value=str(sid),
                    message="the same sample id is given different patients or visits",
                    rule="consistency.sample_identity",
                    expected="one patient and visit per sample",
                    fix="correct the plate map",
                )
            )
    if problems:
        return
    for (sid, plate_id), grp in samples.groupby(["sample_id", "plate_id"]):
        rows = [_row_dict(r) for _, r in grp.sort_values(["well"]).iterrows()]
        check.samples.append(
            SampleRecord(
                str(sid),
                "cytokine",
                str(grp["patient_id"].iloc[0]),
                str(grp["visit"].iloc[0]),
                _hash({"wells": rows, "exports": export_digests}),
                {"plate_id": str(plate_id), "n_wells": len(grp), "platform": m.platform or ""},
                key=f"{sid}@{plate_id}",
                where=(rel, int(grp.index[0])),
            )
        )


def _rename_file(problems: list[Problem], path: Path, rel: str) -> list[Problem]:
    """Name problems by the file's path inside the batch (not the temporary extraction path)."""
    from dataclasses import replace

    out = []
    for p in problems:
        name = p.file
        if name in (str(path), path.name) or name.startswith(str(path)):
            name = rel + name[len(str(path)) :] if name.startswith(str(path)) else rel
        out.append(replace(p, file=name))
    return out


def _call_reader(reader: Any, path: Path, rel: str, **kwargs: Any) -> list[Problem]:
    """Call a cytokine reader; return its problems (an unexpected crash is reported, not raised)."""
    try:
        reader(path, **kwargs)
    except (InputError, ValidationFailed) as exc:
        return _rename_file(exc.problems, path, rel)
    except Exception as exc:
        return [
            Problem(
                file=rel,
                message=f"the export could not be read ({type(exc).__name__}: {exc})",
                rule="cytokine.reader_error",
                expected="an export the cytokine readers understand",
                fix="check the platform in manifest.yaml and the export settings",
            )
        ]
    return []
