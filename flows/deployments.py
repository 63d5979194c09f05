"""The deployments ``myocit dashboard`` serves: the dashboard's Run buttons, with typed forms.

* ``ingest-batch``: hand in one batch folder or zip (typed form: :class:`IngestBatchForm`);
  runs are named ``ingest/<batch>``.
* ``ingest-inbox``: process ``<home>/inbox`` every few minutes (interval schedule) and whenever
  an event ``myocit.inbox.batch-dropped`` arrives (emit it from an uploader with
  ``prefect event emit myocit.inbox.batch-dropped --resource-id myocit.inbox``).
* ``trial-analysis``: the whole analysis; its form offers the study's visits, the score
  references and the configured contrasts as choices (the server refuses anything else
  with HTTP 409), and extra GMT files as paths. Runs are named ``trial-analysis/<run-id>``.

The flows themselves live in ``flows/ingest.py`` and ``flows/trial_analysis.py``; this
module only describes how the dashboard offers them. A flow module that cannot be
imported is left out with the reason (:func:`build_deployments` returns it).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.events import DeploymentEventTrigger
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict, Field

from myocit_omics.config import StudyConfig, default_study_config, load_study_config

#: Event that makes ``ingest-inbox`` run at once (besides its schedule).
INBOX_EVENT = "myocit.inbox.batch-dropped"


class IngestBatchForm(BaseModel):
    """The dashboard form of ``ingest-batch``: one batch handed in by lab staff."""

    model_config = ConfigDict(extra="forbid")

    batch_path: str = Field(
        min_length=1,
        title="Batch folder or zip",
        description="Path, on the machine running `myocit dashboard`, of a batch folder or .zip with its "
        "manifest.yaml and files (docs/contracts.md section 2).",
        json_schema_extra={"format": "path"},
    )
    submitted_by: str = Field(
        min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._@ -]+$",
        title="Submitted by",
        description="Who hands the batch in (lab, team or person), kept in the audit log.",
    )
    home: str | None = Field(
        default=None, title="Study home",
        description="Study home the batch goes into; empty: the dashboard's home.",
        json_schema_extra={"format": "path"},
    )


def ingest_run_name() -> str:
    """Return ``ingest/<batch>`` from the run's ``batch_path`` parameter (folder or zip name)."""
    params = flow_run.parameters or {}
    name = Path(str(params.get("batch_path") or "batch")).name
    for suffix in (".zip", ".tar.gz", ".tgz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return f"ingest/{name or 'batch'}"


def _study_config(home: Path) -> StudyConfig:
    path = home / "study.yaml"
    return load_study_config(path) if path.is_file() else default_study_config()


def _restrict(prop: dict[str, Any], *, items: dict[str, Any] | None = None,
              string: dict[str, Any] | None = None, description: str | None = None) -> None:
    """Add JSON-schema constraints to the array (``items``) or string branch of a parameter."""
    branches = prop.get("anyOf") or [prop]
    for branch in branches:
        if items is not None and branch.get("type") == "array":
            branch["items"] = {**branch.get("items", {}), **items}
        if string is not None and branch.get("type") == "string":
            branch.update(string)
    if description:
        prop["description"] = description


def trial_analysis_schema(schema: dict[str, Any], config: StudyConfig, *, home: Path) -> dict[str, Any]:
    """Return the trial-analysis parameter schema with the study's choices and descriptions.

    Parameters
    ----------
    schema
        The schema Prefect derived from the flow's signature.
    config
        The study configuration of the home served.
    home
        The study home (the form's default).

    Returns
    -------
    dict
        A new schema: ``visits`` and ``contrasts`` offer the configured values, ``reference``
        the valid references, ``gene_sets`` takes paths of GMT files.
    """
    out = copy.deepcopy(schema)
    props = out.get("properties", {})
    if "home" in props:
        props["home"]["description"] = f"Study home (default for this dashboard: {home})."
    if "run_id" in props:
        _restrict(props["run_id"], string={"pattern": r"^[A-Za-z0-9._-]+$"},
                  description="Name of the results folder; empty: the UTC start time. A name that already "
                  "has a folder is refused (results are never replaced).")
    if "visits" in props:
        _restrict(props["visits"], items={"type": "string", "enum": list(config.visits)},
                  description=f"Visits to analyse; empty: the omics visits {', '.join(config.omics_visits)}.")
    if "reference" in props:
        choices = [f"pooled:{v}" for v in config.visits] + ["healthy_control"]
        _restrict(props["reference"], string={"enum": choices},
                  description="IFN score reference: the pooled samples of a visit, or healthy controls; "
                  f"empty: the study's ({config.reference.kind}"
                  f"{':' + config.reference.visit if config.reference.visit else ''}).")
    if "gene_sets" in props:
        _restrict(props["gene_sets"], items={"type": "string", "format": "path"},
                  description="Extra GMT files scored and tested alongside the shipped IFN sets "
                  "(paths on the machine running the dashboard).")
    if "contrasts" in props:
        ids = [c.id for c in config.contrasts]
        _restrict(props["contrasts"], items={"type": "string", "enum": ids},
                  description="Contrasts of study.yaml to run; empty: all of them.")
    if "task_runner" in props:
        _restrict(props["task_runner"], string={"pattern": r"^(threads|dask|(dask|tcp)://\S+)$"},
                  description="threads, dask (a local cluster for this run) or dask://host:port; empty: "
                  "$MYOCIT_TASK_RUNNER or study.yaml execution.task_runner, else threads.")
    return out


def _form_schema(model: type[BaseModel], accepted: set[str]) -> dict[str, Any]:
    """Return a Prefect parameter schema from a pydantic form, keeping the fields the flow accepts."""
    raw = model.model_json_schema()
    props = {k: v for k, v in raw.get("properties", {}).items() if k in accepted}
    for i, prop in enumerate(props.values()):
        prop["position"] = i
    return {"title": "Parameters", "type": "object", "properties": props,
            "required": [k for k in raw.get("required", []) if k in props], "definitions": {}}


def _load(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _set_schema(deployment: Any, schema: dict[str, Any]) -> None:
    from prefect.utilities.callables import ParameterSchema

    deployment._parameter_openapi_schema = ParameterSchema(**schema)


def build_deployments(home: str | Path, *, inbox_interval: int = 300) -> tuple[list[Any], dict[str, str]]:
    """Build the deployments of the dashboard for one study home.

    Parameters
    ----------
    home
        Study home; every deployment defaults its ``home`` parameter to it.
    inbox_interval
        Seconds between two scheduled ``ingest-inbox`` runs.

    Returns
    -------
    tuple
        ``(deployments, left_out)``: the RunnerDeployments to serve, and ``{name: reason}`` for
        any that could not be built (its flow module missing or broken).
    """
    home = Path(home)
    config = _study_config(home)
    visit_tags = [f"visit:{v}" for v in config.omics_visits]
    deployments: list[Any] = []
    left_out: dict[str, str] = {}

    def attempt(name: str, build: Callable[[], Any]) -> None:
        try:
            deployments.append(build())
        except (ImportError, AttributeError) as exc:
            left_out[name] = f"{type(exc).__name__}: {exc}"

    def ingest_batch() -> Any:
        fl = _load("flows.ingest", "ingest_batch")
        if fl.flow_run_name is None:
            fl = fl.with_options(flow_run_name=ingest_run_name)
        dep = fl.to_deployment(
            _sync=True,  # also when called where an event loop runs (e.g. beside Playwright)
            name="ingest-batch", tags=["myocit", "ingest"], parameters={"home": str(home)},
            description="Hand in one sample batch (folder or zip with manifest.yaml). It is validated, "
            "then stored or rejected with a report naming file, row, column and value.",
        )
        accepted = set(dep._parameter_openapi_schema.properties)
        _set_schema(dep, _form_schema(IngestBatchForm, accepted))
        return dep

    def ingest_inbox() -> Any:
        fl = _load("flows.ingest", "ingest_inbox")
        return fl.to_deployment(
            _sync=True,  # also when called where an event loop runs (e.g. beside Playwright)
            name="ingest-inbox", tags=["myocit", "ingest"], parameters={"home": str(home)},
            interval=timedelta(seconds=inbox_interval),
            triggers=[DeploymentEventTrigger(name="batch dropped in the inbox", expect={INBOX_EVENT},
                                             match={"prefect.resource.id": "myocit.inbox*"})],
            description=f"Process every batch in {home / 'inbox'}: every {inbox_interval} s and at once "
            f"when the event {INBOX_EVENT} arrives.",
        )

    def trial_analysis() -> Any:
        fl = _load("flows.trial_analysis", "trial_analysis")
        dep = fl.to_deployment(
            _sync=True,  # also when called where an event loop runs (e.g. beside Playwright)
            name="trial-analysis", tags=["myocit", "analysis", *visit_tags], parameters={"home": str(home)},
            description="Analyse every accepted batch: QC, IFN scores, paired DE and GSEA, cytokines, "
            "clinical response, linking; writes results/<run-id>/ with the report.",
        )
        _set_schema(dep, trial_analysis_schema(dep._parameter_openapi_schema.model_dump(), config, home=home))
        return dep

    attempt("ingest-batch", ingest_batch)
    attempt("ingest-inbox", ingest_inbox)
    attempt("trial-analysis", trial_analysis)
    return deployments, left_out


__all__ = ["INBOX_EVENT", "IngestBatchForm", "build_deployments", "ingest_run_name", "trial_analysis_schema"]
