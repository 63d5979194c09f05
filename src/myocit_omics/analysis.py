"""The trial analysis as plain library steps (no Prefect): one context, one function per step.

``flows/trial_analysis.py`` wraps each step in a Prefect task; tests and scripts may call
the steps directly. Every step reads its inputs from the study store or from the results
tree and writes into the results tree (docs/contracts.md sections 5 and 6).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from myocit_omics.config import Contrast, Reference, StudyConfig, default_study_config, load_study_config
from myocit_omics.errors import InputError
from myocit_omics.manifest import RunManifest
from myocit_omics.results import ResultsTree, write_h5ad
from myocit_omics.settings import study_home


class StepSkipped(Exception):
    """A step has nothing to do (e.g. no batch of its kind was accepted); the reason is the message."""


@dataclass
class AnalysisContext:
    """Everything a step needs: the home, the configuration, the store, the results tree."""

    home: Path
    config: StudyConfig
    store: Any
    tree: ResultsTree
    manifest: RunManifest
    visits: list[str]
    state: dict[str, Any] = field(default_factory=dict)

    def batches(self, kind: str) -> list[Any]:
        """Return the accepted, not superseded batches of a kind."""
        return list(self.store.batches(kind=kind))

    def describe_inputs(self) -> str:
        """Return e.g. ``2 rnaseq, 3 cytokine, 1 clinical, 1 pk batches``."""
        counts: dict[str, int] = {}
        for item in self.manifest.inputs:
            counts[item["kind"]] = counts.get(item["kind"], 0) + 1
        if not counts:
            return "no accepted batches"
        return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + " batch(es)"


def load_config(home: Path) -> StudyConfig:
    """Return ``<home>/study.yaml`` validated, or the MYOCIT defaults when the home has none."""
    path = home / "study.yaml"
    return load_study_config(path) if path.is_file() else default_study_config()


def new_run_id() -> str:
    """Return a run id from the UTC clock, e.g. ``20261127T101500Z``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _batch_entry(batch: Any) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "name": batch.name,
        "kind": batch.kind,
        "files": {role: {"name": Path(p).name, "sha256": _sha256(p)} for role, p in batch.files.items()},
    }


def prepare_context(*, home: str | Path | None = None, run_id: str | None = None) -> AnalysisContext:
    """Open the study and create ``results/<run-id>/`` with a first manifest.

    Parameters
    ----------
    home
        Study home; default from :func:`myocit_omics.settings.study_home`.
    run_id
        Results folder name; default :func:`new_run_id`.

    Returns
    -------
    AnalysisContext
        The context shared by the steps.
    """
    from myocit_omics.store import StudyStore

    home_path = study_home(home)
    if not home_path.is_dir():
        raise InputError("study home does not exist", file=str(home_path),
                         expected="a folder made by `myocit ingest`", rule="home.missing",
                         fix="ingest a batch first, or pass --home")
    config = load_config(home_path)
    store = StudyStore(home_path)
    run_id = run_id or new_run_id()
    if not re.fullmatch(r"[A-Za-z0-9._-]+", run_id):
        raise InputError("run id may contain letters, digits, '.', '_' and '-' only", file="run_id",
                         value=run_id, rule="run_id.pattern")
    tree = ResultsTree(home_path / "results" / run_id)
    manifest = RunManifest(run_id=run_id, path=tree.manifest, seed=config.seed)
    manifest.inputs = [_batch_entry(b) for b in store.batches()]
    manifest.extra["home"] = str(home_path)
    manifest.extra["study"] = config.study
    ctx = AnalysisContext(home=home_path, config=config, store=store, tree=tree, manifest=manifest,
                          visits=list(config.omics_visits))
    manifest.parameters = _parameters(ctx)
    manifest.write()
    return ctx


def _parameters(ctx: AnalysisContext) -> dict[str, Any]:
    return {"visits": ctx.visits, "config": ctx.config.model_dump(mode="json")}


def parse_contrast(spec: str, config: StudyConfig) -> Contrast:
    """Return the configured contrast with this id, or parse ``variable:target:reference``."""
    for c in config.contrasts:
        if c.id == spec:
            return c
    parts = spec.split(":")
    if len(parts) != 3 or not all(parts):
        raise InputError(
            "unknown contrast", file="contrasts", value=spec,
            expected=f"one of {[c.id for c in config.contrasts]} or variable:target:reference (visit:W4:W0)",
            rule="contrast.spec",
        )
    variable, target, reference = parts
    return Contrast(id=f"{target}_vs_{reference}", variable=variable, target=target, reference=reference)


def resolve_overrides(config: StudyConfig, *, visits: list[str] | None = None, reference: str | None = None,
                      gene_sets: list[str] | None = None,
                      contrasts: list[str] | None = None) -> tuple[StudyConfig, list[str]]:
    """Check the run's parameters against the study and return (configuration, visits).

    Raises
    ------
    InputError
        For an unknown visit, reference or contrast, or a missing GMT file.
    """
    updates: dict[str, Any] = {}
    run_visits = list(config.omics_visits)
    if visits:
        bad = [v for v in visits if not config.is_valid_visit(v)]
        if bad:
            raise InputError("unknown visit", file="visits", value=bad, expected=f"some of {config.visits}",
                             rule="visit.vocabulary")
        run_visits = list(visits)
    if reference:
        if reference == "healthy_control":
            updates["reference"] = Reference(kind="healthy_control", visit=None)
        elif reference.startswith("pooled:") and config.is_valid_visit(reference.split(":", 1)[1]):
            updates["reference"] = Reference(kind="pooled_visit", visit=reference.split(":", 1)[1])
        else:
            raise InputError("unknown reference", file="reference", value=reference,
                             expected="healthy_control or pooled:<visit> (e.g. pooled:W0)",
                             rule="reference.spec")
    if gene_sets:
        for g in gene_sets:
            if not Path(g).is_file():
                raise InputError("gene-set file not found", file=g, expected="a GMT file", rule="gmt.missing")
        updates["interferon"] = {**config.interferon, "extra_gmt": list(gene_sets)}
        updates["de"] = {**config.de, "extra_gmt": list(gene_sets)}
    if contrasts:
        updates["contrasts"] = [parse_contrast(c, config) for c in contrasts]
    return (config.model_copy(update=updates) if updates else config), run_visits


def preflight(*, home: str | Path | None = None, **overrides: Any) -> Path:
    """Check, in a second and before any flow starts, that the home and the parameters are usable.

    Returns
    -------
    Path
        The resolved study home.
    """
    home_path = study_home(home)
    if not home_path.is_dir():
        raise InputError("study home does not exist", file=str(home_path),
                         expected="a folder made by `myocit ingest`", rule="home.missing",
                         fix="ingest a batch first, or pass --home")
    resolve_overrides(load_config(home_path), **overrides)
    return home_path


def apply_overrides(ctx: AnalysisContext, *, visits: list[str] | None = None, reference: str | None = None,
                    gene_sets: list[str] | None = None, contrasts: list[str] | None = None) -> None:
    """Apply the run's parameters (from the CLI or the dashboard form) to the context."""
    ctx.config, ctx.visits = resolve_overrides(ctx.config, visits=visits, reference=reference,
                                               gene_sets=gene_sets, contrasts=contrasts)
    ctx.manifest.parameters = {
        **_parameters(ctx),
        "overrides": {"visits": visits, "reference": reference, "gene_sets": gene_sets,
                      "contrasts": contrasts},
    }
    ctx.manifest.write()


# --------------------------------------------------------------------------- steps


def step_clinical(ctx: AnalysisContext) -> dict[str, Any]:
    """Clinical outcomes and PK exposure from the accepted clinical and PK batches."""
    from myocit_omics.clinical.pipeline import run_clinical
    from myocit_omics.study import clinical_tables, pk_table

    if not ctx.batches("clinical"):
        raise StepSkipped("no clinical batch has been accepted")
    patients, core_set = clinical_tables(ctx.store)
    inputs = ctx.tree.root / "inputs"
    inputs.mkdir(exist_ok=True)
    patients_path = _write_csv(patients, inputs / "patients.csv")
    core_path = _write_csv(core_set, inputs / "core_set.csv")
    pk_path = None
    if ctx.batches("pk"):
        pk_path = _write_csv(pk_table(ctx.store), inputs / "pk.csv")
    return run_clinical(patients_path, core_path, pk_path, config=ctx.config, tree=ctx.tree)


def step_cytokines(ctx: AnalysisContext) -> dict[str, Any]:
    """Cytokine plates of every accepted cytokine batch."""
    from myocit_omics.cytokines.pipeline import run_cytokines

    batches = ctx.batches("cytokine")
    if not batches:
        raise StepSkipped("no cytokine batch has been accepted")
    out = run_cytokines(batches, config=ctx.config, tree=ctx.tree)
    flags = out.get("flags") or {}
    censored = sum(v for k, v in flags.items() if k != "ok")
    out.setdefault("summary", (
        f"{out.get('n_analytes', '?')} analytes in {out.get('n_samples', '?')} samples over "
        f"{out.get('n_plates', '?')} plate(s); {censored} of {out.get('n_values', '?')} values censored or "
        f"flagged ({', '.join(f'{k}: {v}' for k, v in sorted(flags.items()) if k != 'ok') or 'none'}); "
        f"censored values substituted by rule {out.get('substitution', '?')}"))
    return out


def step_assemble_expression(ctx: AnalysisContext) -> dict[str, Any]:
    """Assemble every accepted RNA-seq batch into ``anndata/assembled.h5ad``."""
    from myocit_omics.study import rnaseq_anndata

    if not ctx.batches("rnaseq"):
        raise StepSkipped("no RNA-seq batch has been accepted")
    adata = rnaseq_anndata(ctx.store)
    keep = adata.obs["visit"].astype(str).isin(ctx.visits)
    left_out = adata.obs_names[~keep].tolist()
    adata = adata[keep.to_numpy()].copy()
    path = write_h5ad(adata, ctx.tree.anndata("assembled"))
    ctx.state["assembled"] = path
    return {
        "summary": f"{adata.n_obs} samples x {adata.n_vars} genes from {len(ctx.batches('rnaseq'))} batch(es)"
        + (f"; {len(left_out)} sample(s) at visits outside {ctx.visits} not analysed" if left_out else ""),
        "n_samples": int(adata.n_obs), "n_genes": int(adata.n_vars), "not_analysed_visits": left_out,
        "path": str(path),
    }


def step_expression(ctx: AnalysisContext) -> dict[str, Any]:
    """QC, frozen normalisation and IFN scores."""
    from myocit_omics.expression.pipeline import run_expression

    out = run_expression(ctx.tree.anndata("assembled"), config=ctx.config, tree=ctx.tree, home=ctx.home)
    excluded = out.get("excluded_samples") or {}
    ref = out.get("reference") or {}
    made = "created now" if ref.get("created_this_run") else "reused"
    out.setdefault("summary", (
        f"{out.get('n_qc_pass', '?')} of {out.get('n_samples', '?')} samples passed QC"
        + (f"; excluded {', '.join(excluded)}" if excluded else "")
        + f"; {out.get('n_genes_kept', '?')} genes kept ({out.get('gene_filter', '')}); size factors against "
        f"frozen reference {ref.get('name', '?')} ({made}); "
        f"IFN scores by {', '.join(out.get('methods', []))} against {ref.get('ifn_reference', '?')}"))
    return out


def step_de(ctx: AnalysisContext) -> dict[str, Any]:
    """Paired DE for every contrast, and GSEA."""
    from myocit_omics.de.pipeline import run_de

    out = run_de(ctx.tree.anndata("expression"), config=ctx.config, tree=ctx.tree,
                 responders=responder_table(ctx))
    sig = out.get("n_significant") or {}
    parts = [f"{c}: {v.get('down', '?')} down, {v.get('up', '?')} up at padj < 0.05" for c, v in sig.items()]
    out.setdefault("summary", f"design {out.get('design', '?')}; " + "; ".join(parts))
    return out


#: Which W24 response categories count as "responder" for the visit x responder DE contrast.
RESPONDER_DEFINITIONS = {
    "any": ("minimal", "moderate", "major"),  # ACR/EULAR 2016 TIS >= 30
    "moderate": ("moderate", "major"),  # TIS >= 45
    "major": ("major",),  # TIS >= 70
}


def responder_table(ctx: AnalysisContext) -> pd.DataFrame | None:
    """Responder status at W24 from the clinical step, for the visit x responder interaction.

    ``de.responder_definition`` in study.yaml chooses ``any`` (TIS >= 30, default), ``moderate``
    or ``major``; ``de.interaction: none`` turns the interaction off. A patient whose TIS at
    W24 could not be computed has no status (and is left out of the interaction, by name).
    Returns None when the clinical step has not produced ``tables/response_w24.tsv``.
    """
    if str(ctx.config.de.get("interaction", "responder")).lower() in ("none", "false", "off"):
        return None
    path = ctx.tree.table("response_w24")
    if not path.is_file():
        return None
    definition = ctx.config.de.get("responder_definition", "any")
    if definition not in RESPONDER_DEFINITIONS:
        raise InputError("unknown responder definition", file="study.yaml", column="de.responder_definition",
                         value=definition, expected=f"one of {sorted(RESPONDER_DEFINITIONS)}",
                         rule="de.responder_definition")
    table = pd.read_csv(path, sep="\t", dtype={"patient_id": str, "response_w24": str},
                        keep_default_na=True)
    status = table["response_w24"].where(table["response_w24"].notna())
    responder = status.isin(RESPONDER_DEFINITIONS[definition]).astype(object)
    responder[status.isna()] = None
    return pd.DataFrame({"patient_id": table["patient_id"], "responder": responder})


def step_composition(ctx: AnalysisContext) -> dict[str, Any]:
    """Blood composition, composition-adjusted IFN scores and the DE sensitivity model."""
    from myocit_omics.composition.pipeline import composition_params, run_composition

    if not composition_params(ctx.config)["enabled"]:
        raise StepSkipped("composition.enabled is false in study.yaml")
    return run_composition(ctx.tree, config=ctx.config, home=ctx.home)


def step_linking(ctx: AnalysisContext) -> dict[str, Any]:
    """Link IFN scores and cytokines to clinical response and PK."""
    from myocit_omics.linking.pipeline import run_linking

    return run_linking(ctx.tree, config=ctx.config)


def step_report(ctx: AnalysisContext) -> dict[str, Any]:
    """Render the self-contained HTML report from the results tree."""
    from myocit_omics.report import render_report

    ctx.manifest.finish()  # the computation is over; the report shows when it ended
    path = render_report(ctx.tree.root)
    return {"summary": f"report written to {path}", "path": str(path)}


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    from myocit_omics.results import atomic_open

    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        df.to_csv(fh, index=False, lineterminator="\n")
    return path
