"""The ``trial-analysis`` flow: every accepted batch of the study -> one results folder.

Steps (each a task calling one library entry point, docs/contracts.md section 6):
clinical response and PK -> cytokines -> expression (assembly, QC, normalisation, IFN
scores) -> paired DE and GSEA -> linking -> run manifest -> report -> dashboard artifacts.

A step that fails is recorded in ``run_manifest.json`` with its reason; the steps that
need its output are skipped (and say why), the others still run, and the report is
still written. Tasks pass paths and small dicts only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Failed, State

from myocit_omics import progress
from myocit_omics.analysis import (
    AnalysisContext,
    StepSkipped,
    apply_overrides,
    prepare_context,
    step_assemble_expression,
    step_clinical,
    step_composition,
    step_cytokines,
    step_de,
    step_expression,
    step_linking,
    step_report,
)


def _run_name() -> str:
    """Return ``trial-analysis/<run-id>`` (the run id parameter, or a UTC timestamp)."""
    params = flow_run.parameters or {}
    run_id = params.get("run_id") or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"trial-analysis/{run_id}"


def _task(name: str, modality: str) -> Callable[[Callable[..., Any]], Any]:
    return task(name=name, tags=[f"modality:{modality}"], cache_policy=NO_CACHE, persist_result=False,
                task_run_name=name)


@_task("clinical-response", "clinical")
def clinical_task(ctx: AnalysisContext) -> dict[str, Any]:
    """Clinical outcomes (TIS, PRINTO) and PK exposure."""
    return step_clinical(ctx)


@_task("cytokines", "cytokine")
def cytokines_task(ctx: AnalysisContext) -> dict[str, Any]:
    """Cytokine plates: curves, censoring, bridging."""
    return step_cytokines(ctx)


@_task("assemble-expression", "rnaseq")
def assemble_task(ctx: AnalysisContext) -> dict[str, Any]:
    """All accepted RNA-seq batches -> one AnnData."""
    return step_assemble_expression(ctx)


def _with_progress(step: str, run: Callable[[AnalysisContext], dict[str, Any]],
                   ctx: AnalysisContext) -> dict[str, Any]:
    """Run a long step with a progress artifact (key ``<step>-progress``) and a log line per milestone."""
    logger = get_run_logger()
    artifact = create_progress_artifact(progress=0.0, key=f"{step}-progress", description=STEP_TITLES[step])

    def listener(fraction: float, message: str) -> None:
        update_progress_artifact(artifact_id=artifact, progress=100.0 * fraction,
                                 description=f"{STEP_TITLES[step]}: {message}")
        logger.info("%s %3.0f%%: %s", step, 100.0 * fraction, message)

    with progress.reporting(listener):
        out = run(ctx)
    update_progress_artifact(artifact_id=artifact, progress=100.0, description=f"{STEP_TITLES[step]}: done")
    return out


@_task("expression-qc-ifn", "rnaseq")
def expression_task(ctx: AnalysisContext) -> dict[str, Any]:
    """QC, frozen normalisation, IFN scores."""
    return _with_progress("expression", step_expression, ctx)


@_task("paired-de-gsea", "rnaseq")
def de_task(ctx: AnalysisContext) -> dict[str, Any]:
    """Paired DE per contrast and GSEA."""
    return _with_progress("de", step_de, ctx)


@_task("blood-composition", "rnaseq")
def composition_task(ctx: AnalysisContext) -> dict[str, Any]:
    """Blood composition, composition-adjusted IFN scores, DE sensitivity."""
    return _with_progress("composition", step_composition, ctx)


@_task("linking", "linking")
def linking_task(ctx: AnalysisContext) -> dict[str, Any]:
    """IFN and cytokine change against clinical change, ROC, mixed model, PK/PD."""
    return step_linking(ctx)


@_task("report", "report")
def report_task(ctx: AnalysisContext) -> dict[str, Any]:
    """Render report.html from the results tree."""
    return step_report(ctx)


@_task("dashboard-artifacts", "report")
def artifacts_task(run_dir: str, run_id: str) -> dict[str, Any]:
    """Publish the keyed dashboard artifacts from the results tree."""
    from flows.artifacts import publish_artifacts

    keys = publish_artifacts(run_dir, run_id=run_id)
    return {"artifact_keys": list(keys or [])}


#: (step name, task, steps it needs)
STEPS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("clinical", clinical_task, ()),
    ("cytokines", cytokines_task, ()),
    ("assemble_expression", assemble_task, ()),
    ("expression", expression_task, ("assemble_expression",)),
    ("de", de_task, ("expression",)),
    ("composition", composition_task, ("expression",)),
    ("linking", linking_task, ()),
    ("report", report_task, ()),
]


STEP_TITLES = {
    "clinical": "clinical response (ACR/EULAR 2016 TIS, PRINTO) and baricitinib exposure",
    "cytokines": "cytokine plates: standard curves, censoring, plate bridging",
    "assemble_expression": "assembling the RNA-seq batches into one expression matrix",
    "expression": "expression QC, frozen normalisation and type I IFN scores",
    "de": "paired differential expression and gene-set enrichment",
    "composition": "blood composition, composition-adjusted IFN scores and DE sensitivity",
    "linking": "linking IFN scores and cytokines to clinical response and PK",
    "report": "writing the HTML report",
}


@flow(name="trial-analysis", flow_run_name=_run_name, log_prints=False)
def trial_analysis(
    home: str | None = None,
    run_id: str | None = None,
    visits: list[str] | None = None,
    reference: str | None = None,
    gene_sets: list[str] | None = None,
    contrasts: list[str] | None = None,
) -> str | State:
    """Analyse every accepted batch of the study and write ``results/<run-id>/``.

    Parameters
    ----------
    home
        Study home (default: ``$MYOCIT_HOME`` or ``<repo>/data``).
    run_id
        Name of the results folder (default: the UTC start time).
    visits
        Visits to analyse (default: the study's omics visits).
    reference
        IFN score reference: ``pooled:W0`` (pooled samples of a visit) or ``healthy_control``.
    gene_sets
        Extra GMT files whose sets are scored and tested alongside the shipped IFN sets.
    contrasts
        Contrast ids of study.yaml to run, or specs ``visit:W4:W0`` (default: all configured).

    Returns
    -------
    str or State
        The results folder; a ``Failed`` state naming the failed steps if any step failed
        (every other step's results are kept).
    """
    logger = get_run_logger()
    name = flow_run.name or ""
    run_id = run_id or (name.split("/", 1)[1] if name.startswith("trial-analysis/") else None)
    ctx = prepare_context(home=home, run_id=run_id)
    apply_overrides(ctx, visits=visits, reference=reference, gene_sets=gene_sets, contrasts=contrasts)
    logger.info("Study %r, home %s: %s. Results go to %s", ctx.config.study, ctx.home,
                ctx.describe_inputs(), ctx.tree.root)

    progress = create_progress_artifact(progress=0.0, key="analysis-progress",
                                        description=f"trial-analysis {ctx.tree.run_id}: steps done")
    done: dict[str, str] = {}
    for i, (step, step_task, needs) in enumerate(STEPS, start=1):
        missing = [n for n in needs if done.get(n) != "ok"]
        logger.info("Step %d/%d: %s", i, len(STEPS), STEP_TITLES[step])
        t0 = time.perf_counter()
        if missing:
            reason = f"needs {', '.join(missing)}, which did not complete"
            ctx.manifest.record_step(step, status="skipped", seconds=0.0, error=reason)
            logger.warning("%s skipped: %s", step, reason)
            done[step] = "skipped"
        else:
            try:
                summary = step_task(ctx)
            except StepSkipped as exc:
                ctx.manifest.record_step(step, status="skipped", seconds=time.perf_counter() - t0,
                                         error=str(exc))
                logger.warning("%s skipped: %s", step, exc)
                done[step] = "skipped"
            except Exception as exc:  # one step's failure must not lose the others' results
                ctx.manifest.record_step(step, status="failed", seconds=time.perf_counter() - t0,
                                         error=f"{type(exc).__name__}: {exc}")
                logger.error("%s failed: %s", step, exc)
                done[step] = "failed"
            else:
                ctx.manifest.record_step(step, status="ok", seconds=time.perf_counter() - t0,
                                         summary=summary)
                logger.info("%s: %s", step, (summary or {}).get("summary", "done"))
                done[step] = "ok"
        update_progress_artifact(artifact_id=progress, progress=100.0 * i / (len(STEPS) + 1))

    ctx.manifest.finish()
    try:
        artifacts_task(str(ctx.tree.root), ctx.tree.run_id)
    except Exception as exc:  # the dashboard is a view; the results tree is the record
        logger.error("dashboard artifacts not published: %s", exc)
    update_progress_artifact(artifact_id=progress, progress=100.0)
    status = ctx.manifest.status
    logger.info("Run %s finished (%s). Results: %s", ctx.tree.run_id, status, ctx.tree.root)
    if status != "ok":
        failed = [s for s, v in ctx.manifest.steps.items() if v["status"] == "failed"]
        # a Failed state, not an exception: the dashboard shows the run as failed with this
        # message, and nobody is shown a traceback for a step whose reason is in the manifest
        return Failed(message=f"steps failed: {', '.join(failed)}; results so far in {ctx.tree.root}; "
                      f"reasons in {ctx.tree.manifest}", data=str(ctx.tree.root))
    return str(ctx.tree.root)


if __name__ == "__main__":  # pragma: no cover
    print(trial_analysis())
