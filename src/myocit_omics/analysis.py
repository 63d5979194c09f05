"""The trial analysis as plain library steps (no Prefect): one context, one function per step.

``flows/trial_analysis.py`` wraps each step in a Prefect task; tests and scripts may call
the steps directly. Every step reads its inputs from the study store or from the results
tree and writes into the results tree (docs/contracts.md sections 5 and 6).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from myocit_omics.config import Contrast, StudyConfig, default_study_config, load_study_config
from myocit_omics.drawing import drawing
from myocit_omics.errors import InputError
from myocit_omics.manifest import RunManifest, write_step_record
from myocit_omics.plan import RunPlan, resolve_plan
from myocit_omics.results import (
    PARTIAL_SUFFIX,
    ResultsTree,
    claim_run_folder,
    complete_run_folder,
    find_run_folder,
    run_state,
    write_h5ad,
)
from myocit_omics.settings import study_home


class StepSkipped(Exception):
    """A step has nothing to do (e.g. no batch of its kind was accepted); the reason is the message."""


class RunIdTaken(InputError):
    """A run id whose results folder (finished or being written) exists; results are never replaced."""


@dataclass
class AnalysisContext:
    """Everything a step needs: the home, the configuration, the store, the results tree.

    Built once by :func:`start_run` (which claims the run folder) and rebuilt inside every
    task by :func:`open_context` from the study home and the run id: a task receives only
    those two strings, so it may run in a thread, another process or on a Dask worker.
    """

    home: Path
    config: StudyConfig
    store: Any
    tree: ResultsTree
    manifest: RunManifest
    visits: list[str]
    plan: RunPlan | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """The run id."""
        return self.tree.run_id

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


def _open_home(home: str | Path | None) -> Path:
    home_path = study_home(home)
    if not home_path.is_dir():
        raise InputError("study home does not exist", file=str(home_path),
                         expected="a folder made by `myocit ingest`", rule="home.missing",
                         fix="ingest a batch first, or pass --home")
    return home_path


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a valid folder name, else raise :class:`InputError`."""
    bad = run_id.endswith(PARTIAL_SUFFIX) or run_id in (".", "..")
    if bad or not re.fullmatch(r"[A-Za-z0-9._-]+", run_id):
        raise InputError("run id may contain letters, digits, '.', '_' and '-' only (not ending in .partial)",
                         file="parameter run_id", value=run_id, rule="run_id.pattern",
                         fix="choose another run id, e.g. the date and what the run is for")
    return run_id


def refuse_taken_run_id(home: Path, run_id: str) -> None:
    """Raise :class:`RunIdTaken` if ``results/<run-id>`` or ``results/<run-id>.partial`` exists."""
    existing = find_run_folder(home / "results", run_id)
    if existing is not None:
        raise RunIdTaken(
            f"run id {run_id!r} is taken: {existing} exists ({run_state(existing)}), and a results folder is "
            "never replaced", file="parameter run_id", value=run_id, rule="run_id.taken",
            fix="choose another run id (--run-id NAME, or the run form's run_id), or leave it empty for a "
            "new time-stamped one")


def plan_run(*, home: str | Path | None = None, run_id: str | None = None, visits: list[str] | None = None,
             reference: str | None = None, gene_sets: list[str] | None = None,
             contrasts: list[str] | None = None) -> tuple[Path, StudyConfig, RunPlan]:
    """Resolve a run's plan before anything is written (see :mod:`myocit_omics.plan`).

    Returns
    -------
    tuple
        ``(home, study configuration, plan)``.

    Raises
    ------
    InputError
        The home is missing, a parameter is refused (named with its fix), or an explicit run
        id is taken (:class:`RunIdTaken`).
    """
    from myocit_omics.store import StudyStore

    home_path = _open_home(home)
    if run_id:
        refuse_taken_run_id(home_path, check_run_id(run_id))
    config = load_config(home_path)
    plan = resolve_plan(config, store=StudyStore(home_path), home=home_path, visits=visits,
                        reference=reference, gene_sets=gene_sets, contrasts=contrasts)
    return home_path, config, plan


def start_run(*, home: str | Path | None = None, run_id: str | None = None, default_run_id: str | None = None,
              visits: list[str] | None = None, reference: str | None = None,
              gene_sets: list[str] | None = None, contrasts: list[str] | None = None) -> AnalysisContext:
    """Resolve the plan, claim ``results/<run-id>.partial/`` and write the first manifest.

    Parameters
    ----------
    home
        Study home; default from :func:`myocit_omics.settings.study_home`.
    run_id
        Results folder name. An explicit id whose folder exists (finished or ``.partial``) is
        refused; the default (``default_run_id``, else :func:`new_run_id`) gets a suffix
        ``-2``, ``-3``... instead.
    default_run_id
        The default id (the flow passes the time stamp of its run name).
    visits, reference, gene_sets, contrasts
        The run's parameters (see :func:`myocit_omics.plan.resolve_plan`).

    Returns
    -------
    AnalysisContext
        The context; its manifest says ``"status": "running"`` with this process's pid and host.
    """
    from myocit_omics.store import StudyStore

    home_path, base_config, plan = plan_run(home=home, run_id=run_id, visits=visits, reference=reference,
                                            gene_sets=gene_sets, contrasts=contrasts)
    results = home_path / "results"
    if run_id:
        try:
            root = claim_run_folder(results, run_id)
        except FileExistsError:  # claimed by another run since the check
            refuse_taken_run_id(home_path, run_id)
            raise
    else:
        stamp = check_run_id(default_run_id) if default_run_id else new_run_id()
        for n in range(1, 1000):
            candidate = stamp if n == 1 else f"{stamp}-{n}"
            try:
                root = claim_run_folder(results, candidate)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - a thousand runs in one second
            raise InputError("no free time-stamped run id", file=str(results), rule="run_id.exhausted")
    config = plan.apply(base_config)
    store = StudyStore(home_path)
    tree = ResultsTree(root)
    manifest = RunManifest(run_id=tree.run_id, path=tree.manifest, seed=config.seed)
    manifest.inputs = [_batch_entry(b) for b in store.batches()]
    manifest.extra["home"] = str(home_path)
    manifest.extra["study"] = config.study
    manifest.plan = plan.to_dict()
    ctx = AnalysisContext(home=home_path, config=config, store=store, tree=tree, manifest=manifest,
                          visits=list(plan.visits), plan=plan)
    manifest.parameters = {**_parameters(ctx), "overrides": plan.requested}
    manifest.write()
    return ctx


def open_context(home: str | Path, run_id: str) -> AnalysisContext:
    """Rebuild a running run's context from the study home and the run id (inside a task).

    The configuration and visits come from the plan stored in ``run_manifest.json``, so every
    task sees exactly the parameters the run was started with.
    """
    from myocit_omics.store import StudyStore

    home_path = _open_home(home)
    root = find_run_folder(home_path / "results", run_id)
    if root is None:
        raise InputError("no results folder for this run", file=str(home_path / "results"), value=run_id,
                         rule="run.missing")
    manifest = RunManifest.load(root / "run_manifest.json")
    config = StudyConfig.model_validate(manifest.parameters["config"])
    plan = RunPlan.from_dict(manifest.plan) if manifest.plan else None
    return AnalysisContext(home=home_path, config=config, store=StudyStore(home_path), tree=ResultsTree(root),
                           manifest=manifest,
                           visits=list(manifest.parameters.get("visits") or config.omics_visits),
                           plan=plan)


def finish_run(home: str | Path, run_id: str) -> Path:
    """Merge the step records into a final manifest, then rename ``<run-id>.partial`` to ``<run-id>``.

    Returns
    -------
    Path
        The finished results folder.
    """
    ctx = open_context(home, run_id)
    ctx.manifest.finish()
    if not ctx.tree.root.name.endswith(PARTIAL_SUFFIX):
        return ctx.tree.root
    return complete_run_folder(ctx.tree.root)


def _parameters(ctx: AnalysisContext) -> dict[str, Any]:
    return {"visits": ctx.visits, "config": ctx.config.model_dump(mode="json")}


def parse_contrast(spec: str, config: StudyConfig) -> Contrast:
    """Return the configured contrast with this id, or parse ``variable:target:reference``."""
    from myocit_omics.plan import _contrast

    return _contrast(spec, config)


def resolve_overrides(config: StudyConfig, *, visits: list[str] | None = None, reference: str | None = None,
                      gene_sets: list[str] | None = None,
                      contrasts: list[str] | None = None) -> tuple[StudyConfig, list[str]]:
    """Check the run's parameters against study.yaml alone and return (configuration, visits).

    The catalog-aware checks (reference samples, gene coverage, covariates) are in
    :func:`plan_run`.

    Raises
    ------
    InputError
        For an unknown visit, reference or contrast, or a missing GMT file.
    """
    plan = resolve_plan(config, visits=visits, reference=reference, gene_sets=gene_sets, contrasts=contrasts)
    return plan.apply(config), plan.visits


def preflight(*, home: str | Path | None = None, run_id: str | None = None, **overrides: Any) -> Path:
    """Check, before any flow starts, that the home, the run id and the parameters are usable.

    Returns
    -------
    Path
        The resolved study home.
    """
    home_path, _, _ = plan_run(home=home, run_id=run_id, **overrides)
    return home_path


def run_step(step: str, home: str | Path, run_id: str, *,
             wrap: Callable[[Callable[[], dict[str, Any]]], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run one step of a run in this process and write its record to ``steps/<step>.json``.

    The step's figures are drawn in a helper process while it computes
    (:func:`myocit_omics.drawing.drawing`); the record is written once they are all saved.

    Parameters
    ----------
    step
        A key of :data:`STEP_FUNCTIONS`.
    home, run_id
        The run (the context is rebuilt from them).
    wrap
        Optional wrapper around the call (the flow adds progress reporting).

    Returns
    -------
    dict
        The record: ``status`` (``ok`` or ``skipped``), ``seconds``, ``summary`` or ``error``.

    Raises
    ------
    Exception
        Whatever the step raised, after its ``failed`` record is written.
    """
    ctx = open_context(home, run_id)
    func = STEP_FUNCTIONS[step]
    started, t0 = time.time(), time.perf_counter()
    try:
        with drawing():  # the step's figures are drawn alongside it, and done when it returns
            summary = wrap(lambda: func(ctx)) if wrap is not None else func(ctx)
    except StepSkipped as exc:
        return write_step_record(ctx.tree.root, step, status="skipped", seconds=time.perf_counter() - t0,
                                 error=str(exc), started=started)
    except Exception as exc:
        write_step_record(ctx.tree.root, step, status="failed", seconds=time.perf_counter() - t0,
                          error=f"{type(exc).__name__}: {exc}", started=started)
        raise
    return write_step_record(ctx.tree.root, step, status="ok", seconds=time.perf_counter() - t0,
                             summary=summary, started=started)


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

    if not ctx.config.contrasts:
        reason = (ctx.plan.steps_not_run.get("de") if ctx.plan else None) or "no contrast to run"
        raise StepSkipped(reason)
    config = ctx.config
    if str(config.de.get("interaction", "responder")).lower() in INTERACTION_OFF:
        # "none" switches the interaction off (responder_table); DE itself reads no such variable
        config = config.model_copy(update={"de": {k: v for k, v in config.de.items() if k != "interaction"}})
    out = run_de(ctx.tree.anndata("expression"), config=config, tree=ctx.tree,
                 responders=responder_table(ctx))
    sig = out.get("n_significant") or {}
    parts = [f"{c}: {v.get('down', '?')} down, {v.get('up', '?')} up at padj < 0.05" for c, v in sig.items()]
    out.setdefault("summary", f"design {out.get('design', '?')}; " + "; ".join(parts))
    return out


#: Values of ``de.interaction`` that switch the visit x responder interaction off.
INTERACTION_OFF = ("none", "false", "off")

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
    if str(ctx.config.de.get("interaction", "responder")).lower() in INTERACTION_OFF:
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

    ctx.manifest.finish()  # the computation is over; the report shows when it ended (folder still .partial)
    path = render_report(ctx.tree.root)
    return {"summary": f"report written to {path}", "path": str(path)}


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    from myocit_omics.results import atomic_open

    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        df.to_csv(fh, index=False, lineterminator="\n")
    return path


#: The steps of a run by name (:func:`run_step`).
STEP_FUNCTIONS: dict[str, Callable[[AnalysisContext], dict[str, Any]]] = {
    "clinical": step_clinical,
    "cytokines": step_cytokines,
    "assemble_expression": step_assemble_expression,
    "expression": step_expression,
    "de": step_de,
    "composition": step_composition,
    "linking": step_linking,
    "report": step_report,
}
