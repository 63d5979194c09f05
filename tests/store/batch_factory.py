"""Build small, valid hand-in batches of every kind (seeded), for the intake tests.

Loaded by the conftest.py files of tests/store, tests/validate and tests/io (import mode is
importlib, so they load this file by path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

GENES = [f"ENSG{i:011d}" for i in range(1, 41)]


def _csv(rows: list[list[Any]], sep: str = ",") -> str:
    return "\n".join(sep.join("" if v is None else str(v) for v in r) for r in rows) + "\n"


def write_manifest(folder: Path, kind: str, name: str, files: dict[str, str], **extra: Any) -> None:
    data = {
        "schema": "myocit-batch/1",
        "kind": kind,
        "name": name,
        "submitted_by": "lab-test",
        "note": "test batch",
        "files": files,
        **extra,
    }
    (folder / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def rnaseq_tables(
    patients: list[str], visits: list[str], *, tag: str = "", seed: int = 0, fractional: bool = False
) -> tuple[str, str]:
    rng = np.random.default_rng(seed)
    samples = [(f"RNA{tag}-{p}-{v}", p, v) for p in patients for v in visits]
    counts = rng.negative_binomial(5, 0.05, size=(len(GENES), len(samples))).astype(float)
    if fractional:
        counts = counts + rng.uniform(0, 1, size=counts.shape).round(3)
    header = ["gene_id", "gene_name"] + [s for s, _, _ in samples]
    rows = [header] + [[g, f"G{i}"] + [f"{x:g}" for x in counts[i]] for i, g in enumerate(GENES)]
    sheet = [["sample_id", "patient_id", "visit", "sex", "role", "seq_batch"]] + [
        [s, p, v, "F" if int(p[-2:]) % 2 else "M", "patient", "run1"] for s, p, v in samples
    ]
    return _csv(rows, "\t"), _csv(sheet)


def write_batch(
    parent: Path,
    kind: str,
    *,
    name: str | None = None,
    patients: list[str] | None = None,
    visits: list[str] | None = None,
    tag: str = "",
    seed: int = 0,
    manifest_extra: dict[str, Any] | None = None,
    fractional: bool = False,
) -> Path:
    """Write a valid batch folder of ``kind`` under ``parent``; return it."""
    patients = patients or ["MYO-01", "MYO-02"]
    visits = visits or ["W0", "W4"]
    name = name or f"{kind}{tag}-test"
    folder = parent / name
    folder.mkdir(parents=True)
    extra = manifest_extra or {}
    if kind == "rnaseq":
        counts, sheet = rnaseq_tables(patients, visits, tag=tag, seed=seed, fractional=fractional)
        (folder / "counts.tsv").write_text(counts, encoding="utf-8")
        (folder / "samples.csv").write_text(sheet, encoding="utf-8")
        write_manifest(
            folder,
            kind,
            name,
            {"counts": "counts.tsv", "sample_sheet": "samples.csv"},
            platform="nfcore",
            **extra,
        )
    elif kind == "clinical":
        pats = [["patient_id", "sex", "age_years", "weight_kg", "msa_group", "baricitinib_dose_mg"]] + [
            [p, "F", 9, 30.5, "anti-TIF1g", 4] for p in patients
        ]
        core = [
            [
                "patient_id",
                "visit",
                "cmas",
                "mmt8",
                "physician_global",
                "parent_global",
                "chaq",
                "ck",
                "das_skin",
                "das_muscle",
                "das_total",
            ]
        ] + [[p, v, 30 + seed % 10, 60, 4.5, 5, 1.25, 800, 5, 6, 11] for p in patients for v in visits]
        (folder / "patients.csv").write_text(_csv(pats), encoding="utf-8")
        (folder / "core_set.csv").write_text(_csv(core), encoding="utf-8")
        write_manifest(folder, kind, name, {"patients": "patients.csv", "core_set": "core_set.csv"}, **extra)
    elif kind == "pk":
        rows = [
            [
                "sample_id",
                "patient_id",
                "visit",
                "dose_mg",
                "time_since_dose_h",
                "concentration_ng_ml",
                "lloq_ng_ml",
            ]
        ] + [
            [f"PK{tag}-{p}-{v}", p, v, 4, 2.5, "BLQ" if i == 0 else 12.5 + seed, 0.5]
            for i, (p, v) in enumerate((p, v) for p in patients for v in visits)
        ]
        (folder / "pk.csv").write_text(_csv(rows), encoding="utf-8")
        write_manifest(folder, kind, name, {"pk": "pk.csv"}, **extra)
    elif kind == "cytokine":
        plate = [["plate_id", "well", "sample_id", "patient_id", "visit", "role", "dilution_factor"]]
        export = [["sample_id", "analyte", "value", "unit", "lloq", "uloq", "plate", "well", "flag"]]
        wells = iter(f"{r}{c}" for r in "ABCDEFGH" for c in range(1, 13))
        for p in patients:
            for v in visits:
                w = next(wells)
                sid = f"CYT{tag}-{p}-{v}"
                plate.append([f"P1{tag}", w, sid, p, v, "sample", 2])
                export.append([sid, "IFNA2", 1.5 + seed, "fg/mL", 0.1, 1000, f"P1{tag}", w, ""])
        plate.append([f"P1{tag}", next(wells), "BR-1", "", "", "bridge", 2])
        (folder / "plate_map.csv").write_text(_csv(plate), encoding="utf-8")
        (folder / "export.csv").write_text(_csv(export), encoding="utf-8")
        write_manifest(
            folder,
            kind,
            name,
            {"export": "export.csv", "plate_map": "plate_map.csv"},
            platform="generic",
            **extra,
        )
    else:
        raise ValueError(kind)
    return folder
