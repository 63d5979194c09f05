"""Study loaders (docs/contracts.md section 3): the stored batches as analysis-ready tables.

Every loader reads only what the catalog lists as active (not superseded) and takes each
record from the batch that holds it, so a cumulative eCRF export that repeats earlier
visits never doubles a row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.config import StudyConfig, default_study_config, load_study_config
from myocit_omics.io.counts import column_aliases, read_counts
from myocit_omics.io.sample_sheet import finish_sample_sheet
from myocit_omics.io.tables import read_table
from myocit_omics.validate.schemas import CORE_SET, PATIENTS, PK, SAMPLE_SHEET, Col, check_rows

_KIND_LABEL = {"rnaseq": "RNA-seq", "cytokine": "cytokine", "clinical": "core set", "pk": "PK"}


def load_config(home: str | Path) -> StudyConfig:
    """Return ``<home>/study.yaml`` validated, or the MYOCIT defaults when there is none."""
    path = Path(home) / "study.yaml"
    return load_study_config(path) if path.is_file() else default_study_config()


def _typed(path: Path, schema: list[Col], config: StudyConfig) -> pd.DataFrame:
    table = read_table(path)
    typed, _ = check_rows(table, schema, file=path.name, config=config)
    return typed


def _active_keys(store: Any, kind: str) -> dict[str, str]:
    s = store.samples(kind=kind)
    if s.empty:
        return {}
    return dict(zip(s["record_key"], s["batch_id"], strict=True))


def rnaseq_anndata(store: Any) -> Any:
    """Assemble every active RNA-seq batch into one AnnData (samples x genes).

    Parameters
    ----------
    store
        A :class:`myocit_omics.store.StudyStore`.

    Returns
    -------
    anndata.AnnData
        ``X`` and ``layers["counts"]`` raw int64 counts; obs index sample_id with patient_id,
        visit, sex, role, seq_batch, batch_id, batch_name and the patients-table columns
        (age_years, weight_kg, msa_group, baricitinib_dose_mg); var index gene_id with
        gene_name. Genes are those common to every batch; ``uns["ingest"]`` records batches,
        rounding and how many genes were left out by the join.
    """
    import anndata as ad

    config = store.config
    keys = _active_keys(store, "rnaseq")
    frames: list[pd.DataFrame] = []
    obs_parts: list[pd.DataFrame] = []
    gene_names: dict[str, str] = {}
    batches_info: list[dict[str, Any]] = []
    gene_sets: list[set[str]] = []
    for b in store.batches(kind="rnaseq"):
        m = b.manifest
        counts_path = b.dirs.get("counts_dir") or b.files["counts"]
        fmt = m.get("platform") or ("htseq" if "counts_dir" in b.dirs else None)
        matrix = read_counts(counts_path, fmt=fmt, rounding=m.get("rounding", "nearest"))
        sheet = finish_sample_sheet(_typed(b.files["sample_sheet"], SAMPLE_SHEET, config))
        aliases = column_aliases(matrix)
        sheet["column"] = [aliases.get(c, c) for c in sheet["column"]]
        sheet = sheet[[keys.get(s) == b.batch_id for s in sheet["sample_id"]]]
        block = matrix.counts[list(sheet["column"])].T
        block.index = pd.Index(list(sheet["sample_id"]), name="sample_id")
        frames.append(block)
        gene_sets.append(set(block.columns))
        for gene_id, name in matrix.gene_names.astype(str).items():
            # featureCounts and plain tables carry ids only: never let them overwrite a real symbol
            if name and name != gene_id and name.lower() != "nan":
                gene_names[gene_id] = name
            else:
                gene_names.setdefault(gene_id, gene_id)
        obs = sheet[["sample_id", "patient_id", "visit", "sex", "role", "seq_batch"]].copy()
        obs["batch_id"] = b.batch_id
        obs["batch_name"] = b.name
        obs_parts.append(obs.set_index("sample_id"))
        batches_info.append(
            {
                "batch_id": b.batch_id,
                "name": b.name,
                "format": matrix.fmt,
                "rounding": matrix.rounding,
                "n_samples": len(sheet),
            }
        )
    if not frames:
        return ad.AnnData(np.zeros((0, 0), dtype=np.int64))
    common = set.intersection(*gene_sets)
    order = [g for g in frames[0].columns if g in common]
    counts = pd.concat([f[order] for f in frames])
    obs = pd.concat(obs_parts)
    patients, _ = clinical_tables(store)
    if not patients.empty:
        extra = patients.set_index("patient_id")
        for col in ("age_years", "weight_kg", "msa_group", "baricitinib_dose_mg"):
            if col in extra:
                obs[col] = obs["patient_id"].map(extra[col])
        if "sex" in extra:
            recorded = obs["patient_id"].map(extra["sex"])
            obs["sex"] = [
                s if s else (r if isinstance(r, str) else "")
                for s, r in zip(obs["sex"], recorded, strict=True)
            ]
    obs = obs.astype(
        {c: str for c in ("patient_id", "visit", "sex", "role", "seq_batch", "batch_id", "batch_name")}
    )
    var = pd.DataFrame(
        {"gene_name": [gene_names.get(g, g) for g in order]}, index=pd.Index(order, name="gene_id")
    )
    matrix_values = counts.to_numpy(dtype=np.int64)
    adata = ad.AnnData(X=matrix_values.copy(), obs=obs, var=var)
    adata.layers["counts"] = matrix_values
    # JSON text: h5ad cannot store a list of dicts (or None values) in uns
    n_partial = int(len(set.union(*gene_sets)) - len(common))
    adata.uns["ingest"] = json.dumps(
        {"batches": batches_info, "genes_not_in_every_batch": n_partial}, default=str
    )
    return adata


def _records(store: Any, kind: str, role: str, schema: list[Col], key_of: Any) -> pd.DataFrame:
    config = store.config
    keys = _active_keys(store, kind)
    parts = []
    for b in store.batches(kind="clinical" if kind in ("clinical", "patient") else kind):
        if role not in b.files:
            continue
        t = _typed(b.files[role], schema, config)
        own = [keys.get(k) == b.batch_id for k in key_of(t)]
        parts.append(t[own])
    if not parts:
        return pd.DataFrame(columns=[c.name for c in schema])
    out = pd.concat(parts, ignore_index=True)
    out.attrs = {}
    return out


def clinical_tables(store: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(patients, core_set)`` of the active clinical records.

    Parameters
    ----------
    store
        A :class:`myocit_omics.store.StudyStore`.

    Returns
    -------
    tuple of DataFrame
        Canonical columns of docs/contracts.md 2.2; numbers as floats, NaN = not measured;
        core set sorted by patient and visit order.
    """
    patients = _records(store, "patient", "patients", PATIENTS, lambda t: list(t["patient_id"]))
    core = _records(
        store,
        "clinical",
        "core_set",
        CORE_SET,
        lambda t: [f"{p}/{v}" for p, v in zip(t["patient_id"], t["visit"], strict=True)],
    )
    if not core.empty:
        order = {v: i for i, v in enumerate(store.config.visits)}
        core = core.assign(_o=core["visit"].map(lambda v: order.get(v, len(order))))
        core = core.sort_values(["patient_id", "_o", "visit"]).drop(columns="_o").reset_index(drop=True)
    return patients.sort_values("patient_id").reset_index(drop=True), core


def pk_table(store: Any) -> pd.DataFrame:
    """Return the active PK records (``concentration_ng_ml`` a float or ``"BLQ"``)."""
    return _records(store, "pk", "pk", PK, lambda t: list(t["sample_id"]))


def cytokine_batches(store: Any) -> list[Any]:
    """Return the active cytokine batches (BatchRecord: files ``export``..., ``plate_map``)."""
    return list(store.batches(kind="cytokine"))


def missing_samples(store: Any) -> list[dict[str, str]]:
    """List what the protocol expects but the store lacks.

    RNA-seq and cytokines at every omics visit, the core set at every visit, PK at every visit
    after W0, for every patient of study.yaml (or every patient seen, when it lists none).

    Returns
    -------
    list of dict
        ``{"patient_id", "visit", "kind", "message"}``, e.g. "patient MYO-07 has no W4 RNA-seq".
    """
    config = store.config
    samples = store.samples()
    seen = set() if samples.empty else {p for p in samples["patient_id"] if config.is_valid_patient(str(p))}
    patients = list(config.patients) if config.patients else sorted(seen)
    have: dict[str, set[tuple[str, str]]] = {}
    for kind in ("rnaseq", "cytokine", "clinical", "pk"):
        sub = samples[samples["kind"] == kind] if not samples.empty else samples
        have[kind] = set(zip(sub["patient_id"], sub["visit"], strict=True)) if not sub.empty else set()
    expect = {
        "rnaseq": config.omics_visits,
        "cytokine": config.omics_visits,
        "clinical": config.visits,
        "pk": [v for v in config.visits if v != "W0"],
    }
    out = []
    for kind, visits in expect.items():
        if not have[kind]:
            out.append(
                {
                    "patient_id": "",
                    "visit": "",
                    "kind": kind,
                    "message": f"no {_KIND_LABEL[kind]} data stored yet",
                }
            )
            continue
        for p in patients:
            for v in visits:
                if (p, v) not in have[kind]:
                    out.append(
                        {
                            "patient_id": p,
                            "visit": v,
                            "kind": kind,
                            "message": f"patient {p} has no {v} {_KIND_LABEL[kind]}",
                        }
                    )
    return out
