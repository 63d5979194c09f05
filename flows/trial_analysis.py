"""The ``trial-analysis`` flow: every accepted batch of the study -> one results folder.

Shape (docs/runs.md):

1. **Plan** (in the flow, before any task): the parameters are resolved against study.yaml
   and the catalog (:func:`myocit_omics.analysis.start_run`). A refused parameter, or a run id
   whose folder exists, ends the run as Failed with the reason (parameter and fix) as its
   state message; no task runs and no folder is made. Otherwise ``results/<run-id>.partial/``
   is claimed, its manifest says ``running``, and the plan is shown as artifact ``run-plan``.
2. **Steps** as Prefect tasks that receive only the study home and the run id (each rebuilds
   the context from the run folder), submitted to the task runner as soon as what they need
   is done: clinical, cytokines and expression assembly at once; expression after assembly;
   DE after expression (and clinical, for responder status); linking after clinical,
   cytokines and expression, alongside DE; the report last. A step writes its own record to
   ``steps/<step>.json``; a step that fails is recorded with its reason, the steps that need
   its output are skipped (and say why), the others still run, and the report is still written.
3. **Finish**: the manifest is made final and the folder renamed to ``results/<run-id>/``;
   then the dashboard artifacts are published.

The task runner is a setting (``task_runner`` parameter, ``$MYOCIT_TASK_RUNNER``,
``execution.task_runner`` in study.yaml): see :mod:`flows.runners`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Failed, State

from flows.runners import describe, make_task_runner, runner_setting
from myocit_omics import progress
from myocit_omics.analysis import finish_run, load_config, run_step, start_run
from myocit_omics.child_step import run_step_in_child
from myocit_omics.errors import InputError, ValidationFailed
from myocit_omics.manifest import read_step_records, write_step_record
from myocit_omics.settings import study_home
from myocit_omics.warm import wait_preloaded

#: How long this process trusts the server's answer "no concurrency limit on these tags" (Prefect: 5 s).
TAG_LIMITS_TTL = 120.0


def remember_tag_limits(ttl: float = TAG_LIMITS_TTL) -> bool:
    """Let this process trust "no concurrency limit on these tags" for ``ttl`` s instead of 5 s.

    Every task asks the server for a slot of each of its tags before it starts; Prefect skips
    the call for tags it was told within 5 s have no limit. A step of this flow that starts
    more than 5 s after the last task with its tags asks again, and on the SQLite database of
    the temporary server that call often meets the server's own writes of the task's states:
    "database is locked", answered 503, retried by the client after 2 s. Measured: 1.8-2.4 s
    before such a task starts (twice per demo run), 0.005 s with the answer remembered. A limit
    created on one of these tags during a run is honoured by this process's tasks at most
    ``ttl`` s later. Prefect's cache is private: if it is not where this expects it (another
    Prefect version), nothing is changed and False is returned.
    """
    try:
        import cachetools
        from prefect.concurrency import services
    except ImportError:  # pragma: no cover - both come with prefect
        return False
    cache = getattr(services, "_no_limits_cache", None)
    if not isinstance(cache, cachetools.TTLCache):
        return False
    if cache.ttl < ttl:
        services._no_limits_cache = cachetools.TTLCache(maxsize=cache.maxsize, ttl=ttl)
    return True


def _run_name() -> str:
    """Return ``trial-analysis/<run-id>`` (the run id parameter, or a UTC timestamp)."""
    params = flow_run.parameters or {}
    run_id = params.get("run_id") or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"trial-analysis/{run_id}"


def _task(name: str, modality: str) -> Callable[[Callable[..., Any]], Any]:
    return task(name=name, tags=[f"modality:{modality}"], cache_policy=NO_CACHE, persist_result=False,
                task_run_name=name)


Wrap = Callable[[Callable[[], dict[str, Any]]], dict[str, Any]]


def _side_step(step: str, home: str, run_id: str, child: bool, after: list[str] | None = None,
               wrap: Wrap | None = None) -> dict[str, Any]:
    """Run a step here, or (``child``) in a child process whose log lines come to this task's log.

    ``after``: steps the child waits for where it reads their output (it was started beside them).
    """
    if child:
        def run() -> dict[str, Any]:
            return run_step_in_child(step, home, run_id, logger=get_run_logger(), after=after or (),
                                     nice=CHILD_NICE.get(step, 0))

        return wrap(run) if wrap is not None else run()
    return run_step(step, home, run_id, wrap=wrap)


@_task("clinical-response", "clinical")
def clinical_task(home: str, run_id: str, child: bool = False) -> dict[str, Any]:
    """Clinical outcomes (TIS, PRINTO) and PK exposure."""
    return _side_step("clinical", home, run_id, child)


@_task("cytokines", "cytokine")
def cytokines_task(home: str, run_id: str, child: bool = False) -> dict[str, Any]:
    """Cytokine plates: curves, censoring, bridging."""
    return _side_step("cytokines", home, run_id, child)


@_task("assemble-expression", "rnaseq")
def assemble_task(home: str, run_id: str) -> dict[str, Any]:
    """All accepted RNA-seq batches -> one AnnData."""
    return run_step("assemble_expression", home, run_id)


def _with_progress(step: str) -> Callable[[Callable[[], dict[str, Any]]], dict[str, Any]]:
    """Wrap a long step with a progress artifact (key ``<step>-progress``) and a log line per milestone."""

    def wrap(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        logger = get_run_logger()
        title = STEP_TITLES[step]
        artifact = create_progress_artifact(progress=0.0, key=f"{step}-progress", description=title)

        def listener(fraction: float, message: str) -> None:
            update_progress_artifact(artifact_id=artifact, progress=100.0 * fraction,
                                     description=f"{STEP_TITLES[step]}: {message}")
            logger.info("%s %3.0f%%: %s", step, 100.0 * fraction, message)

        with progress.reporting(listener):
            out = run()
        update_progress_artifact(artifact_id=artifact, progress=100.0, description=f"{title}: done")
        return out

    return wrap


@_task("expression-qc-ifn", "rnaseq")
def expression_task(home: str, run_id: str) -> dict[str, Any]:
    """QC, frozen normalisation, IFN scores."""
    return run_step("expression", home, run_id, wrap=_with_progress("expression"))


@_task("paired-de-gsea", "rnaseq")
def de_task(home: str, run_id: str) -> dict[str, Any]:
    """Paired DE per contrast and GSEA."""
    return run_step("de", home, run_id, wrap=_with_progress("de"))


@_task("blood-composition", "rnaseq")
def composition_task(home: str, run_id: str, child: bool = False, after: list[str] | None = None
                     ) -> dict[str, Any]:
    """Blood composition, composition-adjusted IFN scores, DE sensitivity."""
    return _side_step("composition", home, run_id, child, after, wrap=_with_progress("composition"))


@_task("linking", "linking")
def linking_task(home: str, run_id: str) -> dict[str, Any]:
    """IFN and cytokine change against clinical change, ROC, mixed model, PK/PD."""
    return run_step("linking", home, run_id)


@_task("report", "report")
def report_task(home: str, run_id: str) -> dict[str, Any]:
    """Render report.html from the results tree."""
    return run_step("report", home, run_id)


@_task("dashboard-artifacts", "report")
def artifacts_task(run_dir: str, run_id: str) -> dict[str, Any]:
    """Publish the keyed dashboard artifacts from the results tree."""
    from flows.artifacts import publish_artifacts

    keys = publish_artifacts(run_dir, run_id=run_id)
    return {"artifact_keys": list(keys or [])}


#: (step name, task, steps whose success it needs, steps that must have finished first)
STEPS: list[tuple[str, Any, tuple[str, ...], tuple[str, ...]]] = [
    ("clinical", clinical_task, (), ()),
    ("cytokines", cytokines_task, (), ()),
    ("assemble_expression", assemble_task, (), ()),
    ("expression", expression_task, ("assemble_expression",), ()),
    ("de", de_task, ("expression",), ("clinical",)),  # clinical gives the responder status
    # composition reads the dose (clinical) and compares its DE calls with the DE step's
    ("composition", composition_task, ("expression",), ("clinical", "de")),
    ("linking", linking_task, (), ("clinical", "cytokines", "expression", "composition")),
    ("report", report_task, (),
     ("clinical", "cytokines", "assemble_expression", "expression", "de", "composition", "linking")),
]


#: Steps run in a child process under the threads runner (myocit_omics.child_step): they use the
#: second core while the flow's process runs assemble -> expression -> DE.
CHILD_STEPS = ("clinical", "cytokines", "composition")
#: Steps that, run in a child, start before some of the steps they come after and wait for them
#: where they read their output (composition compares its DE calls with the DE step's at its end).
STARTED_BEFORE = {"composition": ("de",)}
#: Niceness of child steps with time to spare (the run waits for cytokines at linking and for
#: composition after DE): on contended cores the steps the run is waiting for go first.
CHILD_NICE = {"cytokines": 10, "composition": 10}


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


def _takes_child(step_task: Any) -> bool:
    """Return True if the task has a ``child`` parameter (a stand-in task in a test may not)."""
    import inspect

    return "child" in inspect.signature(getattr(step_task, "fn", step_task)).parameters


def _record(step: str, future: Any, run_dir: str) -> dict[str, Any]:
    """Wait for a step's task and make sure its record exists (written here if the task wrote none)."""
    future.wait()
    state = future.state
    record = read_step_records(run_dir).get(step)
    if state.is_completed():
        if record is None:  # a task that does not record itself (e.g. a stand-in in a test)
            record = write_step_record(run_dir, step, status="ok", seconds=0.0, summary=future.result())
        return record
    if record is None or record.get("status") != "failed":
        try:
            future.result()
            reason = state.message or state.name
        except Exception as exc:  # the task's exception (or a crash): this is the reason
            reason = f"{type(exc).__name__}: {exc}"
        record = write_step_record(run_dir, step, status="failed", seconds=0.0, error=reason)
    return record


def _settle(step: str, future: Any, run_dir: str, logger: Any) -> str:
    """Wait for a step's task; make sure its record exists; return ``ok``, ``skipped`` or ``failed``."""
    record = _record(step, future, run_dir)
    status = str(record.get("status"))
    if status == "ok":
        logger.info("%s: %s", step, (record.get("summary") or {}).get("summary", "done")
                    if isinstance(record.get("summary"), dict) else "done")
    elif status == "failed":
        logger.error("%s failed: %s", step, record.get("error"))
    else:
        logger.warning("%s %s: %s", step, status, record.get("error"))
    return status


@flow(name="trial-analysis", flow_run_name=_run_name, log_prints=False)
def trial_analysis(
    home: str | None = None,
    run_id: str | None = None,
    visits: list[str] | None = None,
    reference: str | None = None,
    gene_sets: list[str] | None = None,
    contrasts: list[str] | None = None,
    task_runner: str | None = None,
) -> str | State:
    """Analyse every accepted batch of the study and write ``results/<run-id>/``.

    Parameters
    ----------
    home
        Study home (default: ``$MYOCIT_HOME`` or ``<repo>/data``).
    run_id
        Name of the results folder (default: the UTC start time, with ``-2``... if taken). A
        run id whose folder exists is refused: results are never replaced.
    visits
        Visits to analyse (default: the study's omics visits).
    reference
        IFN score reference: ``pooled:W0`` (pooled samples of a visit) or ``healthy_control``.
    gene_sets
        Extra GMT files whose sets are scored and tested alongside the shipped IFN sets.
    contrasts
        Contrast ids of study.yaml to run, or specs ``visit:W4:W0`` (default: all configured
        whose visits are among ``visits``).
    task_runner
        ``threads``, ``dask`` or a Dask cluster address (default: ``$MYOCIT_TASK_RUNNER``,
        study.yaml ``execution.task_runner``, else threads).

    Returns
    -------
    str or State
        The results folder; a ``Failed`` state naming the failed steps if any step failed
        (every other step's results are kept), or the refused parameter and its fix.
    """
    logger = get_run_logger()
    remember_tag_limits()
    name = flow_run.name or ""
    named = name.split("/", 1)[1] if name.startswith("trial-analysis/") else None
    try:
        execution = _execution(load_config(study_home(home)))
        setting = runner_setting(task_runner, execution)
        runner = make_task_runner(setting, execution)
        ctx = start_run(home=home, run_id=run_id, default_run_id=named, visits=visits, reference=reference,
                        gene_sets=gene_sets, contrasts=contrasts)
    except (InputError, ValidationFailed) as exc:
        # refused before any step, and before a results folder exists: the state message is
        # the reason, with the parameter and the fix
        logger.error("Run refused before any step: %s", exc)
        return Failed(message=f"refused before any step ran: {exc}")
    run_id, home_s, run_dir = ctx.tree.run_id, str(ctx.home), str(ctx.tree.root)
    if named and named != run_id:
        logger.warning("results folder %s: the run name's id %s was taken", run_id, named)
    plan = ctx.plan
    if plan is not None:
        ctx.manifest.plan = {**plan.to_dict(), "task_runner": setting}
        ctx.manifest.write()
        create_markdown_artifact(key="run-plan", markdown=plan.markdown(run_id=run_id)
                                 + f"\nTask runner: {describe(setting)}.\n",
                                 description=f"What run `{run_id}` does, resolved before its first step.")
    logger.info("Study %r, home %s: %s. Results go to %s; task runner: %s", ctx.config.study, ctx.home,
                ctx.describe_inputs(), ctx.tree.root, describe(setting))

    progress_id = create_progress_artifact(progress=0.0, key="analysis-progress",
                                           description=f"trial-analysis {run_id}: steps done")
    futures: dict[str, Any] = {}
    outcome: dict[str, str] = {}
    wait_preloaded()  # the imports started before the server (myocit_omics.warm): none beside a step
    with runner:
        for step, step_task, needs, after in STEPS:
            child = step in CHILD_STEPS and setting == "threads" and _takes_child(step_task)
            inside = STARTED_BEFORE.get(step, ()) if child else ()  # waited for inside the child
            after = tuple(a for a in after if a not in inside)
            for dep in (*needs, *after):  # wait for what this step needs; the others keep running
                if dep not in outcome and dep in futures:
                    outcome[dep] = _settle(dep, futures[dep], run_dir, logger)
                    update_progress_artifact(artifact_id=progress_id,
                                             progress=100.0 * len(outcome) / (len(STEPS) + 1))
            missing = [n for n in needs if outcome.get(n) != "ok"]
            if missing:
                reason = f"needs {', '.join(missing)}, which did not complete"
                write_step_record(run_dir, step, status="skipped", seconds=0.0, error=reason)
                logger.warning("%s skipped: %s", step, reason)
                outcome[step] = "skipped"
                continue
            logger.info("Step %s: %s", step, STEP_TITLES.get(step, step))
            # edges of the run graph: only to steps that completed (Prefect does not start a task
            # whose wait_for failed; a failed step's dependants were handled above)
            wait = [futures[d] for d in (*needs, *after) if d in futures and futures[d].state.is_completed()]
            parameters: dict[str, Any] = {"home": home_s, "run_id": run_id}
            if child:  # the other core, not this process's one thread at a time
                parameters["child"] = True
                if inside:
                    parameters["after"] = [d for d in inside if d in futures]
            futures[step] = runner.submit(step_task, parameters=parameters, wait_for=wait or None)
            if any(step in STARTED_BEFORE.get(c, ()) for c in CHILD_STEPS):
                # a child started beside this step waits for its record: write it as soon as the
                # task ends, even if the task could not (a crash), not only when settled below
                futures[step].add_done_callback(lambda f, s=step: _record(s, f, run_dir))
        for step, _, _, _ in STEPS:
            if step not in outcome:
                outcome[step] = _settle(step, futures[step], run_dir, logger)

    run_root = finish_run(home_s, run_id)
    manifest = _manifest(run_root)
    try:
        artifacts_task(str(run_root), run_id)
    except Exception as exc:  # the dashboard is a view; the results tree is the record
        logger.error("dashboard artifacts not published: %s", exc)
    update_progress_artifact(artifact_id=progress_id, progress=100.0)
    status = manifest.get("status")
    logger.info("Run %s finished (%s). Results: %s", run_id, status, run_root)
    if status != "ok":
        failed = [s for s, v in (manifest.get("steps") or {}).items() if v.get("status") == "failed"]
        # a Failed state, not an exception: the dashboard shows the run as failed with this
        # message, and nobody is shown a traceback for a step whose reason is in the manifest
        return Failed(message=f"steps failed: {', '.join(failed)}; results so far in {run_root}; "
                      f"reasons in {run_root / 'run_manifest.json'}", data=str(run_root))
    return str(run_root)


def warm_child_steps(home: str | None, task_runner: str | None) -> tuple[str, ...] | None:
    """Return the steps a run with these settings runs in child processes; None if it runs none here.

    For :func:`myocit_omics.warm.warm_start` before the flow: under the threads runner, the
    :data:`CHILD_STEPS`; under Dask (the steps run in the workers) or a setting the flow will
    refuse, None: nothing to start ahead.
    """
    try:
        setting = runner_setting(task_runner, _execution(load_config(study_home(home))))
    except Exception:  # the flow refuses it, with the reason
        return None
    return CHILD_STEPS if setting == "threads" else None


def _execution(config: Any) -> dict[str, Any]:
    return dict(getattr(config, "execution", None) or {})


def _manifest(run_root: Any) -> dict[str, Any]:
    """Return the finished run's manifest as a dict."""
    import json

    return json.loads((run_root / "run_manifest.json").read_text(encoding="utf-8"))


if __name__ == "__main__":  # pragma: no cover
    print(trial_analysis())
