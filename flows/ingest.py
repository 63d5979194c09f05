"""The ``ingest-batch`` and ``ingest-inbox`` flows: thin wrappers over :class:`myocit_omics.store.StudyStore`.

Decision: how hand-ins are recorded (issue 3). The record of truth of every hand-in is the
catalog's append-only audit log (``<home>/catalog.sqlite``), written by the library inside
the process that handles the hand-in, in the same transaction that stores the batch. Lab
staff hand in with ``myocit ingest PATH`` (or by dropping into ``<home>/inbox``) and get the
answer in seconds: no Prefect server is started or needed for that, so nobody waits the
12-27 s of Prefect's temporary server, and nothing depends on Prefect keeping its task runs
(the temporary server loses them; ../shared/domain/prefect3_notes.md).

These flows call the very same library. They exist for the dashboard: the ``ingest-batch``
deployment (a typed form: batch path, who) and the ``ingest-inbox`` deployment (schedule or
event) that ``myocit dashboard`` serves (``flows/deployments.py``). A flow run shows the
outcome in its logs and a markdown artifact, but the audit log stays the history; if a
Prefect run record is lost, the hand-in is not. Runs are named ``ingest/<batch>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from myocit_omics.settings import study_home
from myocit_omics.store import StudyStore


def _batch_run_name() -> str:
    from prefect.runtime import flow_run

    name = Path(str((flow_run.parameters or {}).get("batch_path") or "batch")).name
    return f"ingest/{name[:-4] if name.lower().endswith('.zip') else name}"


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| batch | status | records | report |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['name']} | {r['status']} | {r['n_samples']} | {r['report_dir'] or ''} |")
    return "\n".join(lines)


@task(name="ingest", cache_policy=NO_CACHE, persist_result=False)
def ingest_task(batch_path: str, submitted_by: str, home: str | None) -> dict[str, Any]:
    """Validate and store one hand-in (or reject it); return the outcome as a small dict."""
    result = StudyStore(study_home(home)).ingest(batch_path, submitted_by)
    get_run_logger().info(result.summary())
    return result.to_dict()


@task(name="ingest-inbox", cache_policy=NO_CACHE, persist_result=False)
def inbox_task(home: str | None, submitted_by: str) -> list[dict[str, Any]]:
    """Process every hand-in in ``<home>/inbox``; return the outcomes."""
    results = StudyStore(study_home(home)).ingest_inbox(submitted_by)
    for r in results:
        get_run_logger().info(r.summary())
    return [r.to_dict() for r in results]


@flow(name="ingest-batch", flow_run_name=_batch_run_name, log_prints=True)
def ingest_batch(batch_path: str, submitted_by: str = "dashboard", home: str | None = None) -> dict[str, Any]:
    """Hand in one batch folder or zip: validated, then stored or rejected with a report.

    Parameters
    ----------
    batch_path
        The batch folder or ``.zip`` (on the machine running the flow).
    submitted_by
        Who hands it in (kept in the audit log).
    home
        Study home; default ``$MYOCIT_HOME`` or ``<repo>/data``.

    Returns
    -------
    dict
        status (accepted, already_stored, rejected), batch_id, name, problems, report_dir...
    """
    outcome = ingest_task(batch_path, submitted_by, home)
    create_markdown_artifact(
        key="ingest-result", markdown=_markdown([outcome]), description=f"ingest of {Path(batch_path).name}"
    )
    return outcome


@flow(name="ingest-inbox", flow_run_name="ingest/inbox", log_prints=True)
def ingest_inbox(home: str | None = None, submitted_by: str = "inbox") -> list[dict[str, Any]]:
    """Process every batch folder or zip dropped into ``<home>/inbox``.

    Parameters
    ----------
    home
        Study home; default ``$MYOCIT_HOME`` or ``<repo>/data``.
    submitted_by
        Recorded as who handed the batches in.

    Returns
    -------
    list of dict
        One outcome per hand-in.
    """
    outcomes = inbox_task(home, submitted_by)
    if outcomes:
        create_markdown_artifact(
            key="ingest-inbox",
            markdown=_markdown(outcomes),
            description=f"{len(outcomes)} hand-in(s) from the inbox",
        )
    return outcomes
