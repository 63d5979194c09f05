"""Dashboard artifacts of a trial-analysis run, with stable keys so the dashboard shows their history.

The content is built by :func:`myocit_omics.report.artifacts.build_artifacts` from the
results tree (qc-summary, ifn-scores, ifn-summary, blood-composition, clinical-response,
de-top-<contrast>, gsea-top-<contrast>, report-link); this module only hands each one
to Prefect. Called at the end of ``flows/trial_analysis.py``.
"""

from __future__ import annotations

import dataclasses
import logging

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.exceptions import MissingContextError
from prefect.logging import get_logger, get_run_logger

from myocit_omics.report.artifacts import build_artifacts


def _logger() -> logging.Logger | logging.LoggerAdapter:
    """Return the run logger inside a flow or task run, else a plain Prefect logger."""
    try:
        return get_run_logger()
    except MissingContextError:
        return get_logger("myocit.artifacts")


def publish_artifacts(tree_root: str, *, run_id: str, top_n: int = 20) -> list[str]:
    """Create the keyed Prefect artifacts of one run from its results tree.

    Parameters
    ----------
    tree_root
        ``results/<run-id>``.
    run_id
        The run, named in every artifact's description.
    top_n
        Rows of the top-genes and top-pathways tables.

    Returns
    -------
    list of str
        The keys published, in order. An artifact Prefect refuses is logged and skipped. A run
        that is not complete (:func:`myocit_omics.results.run_state`) has every description
        start with ``INCOMPLETE run``.
    """
    from myocit_omics.results import run_state

    logger = _logger()
    published: list[str] = []
    incomplete = run_state(tree_root) == "incomplete"
    for spec in build_artifacts(tree_root, run_id=run_id, top_n=top_n):
        if incomplete:  # never shown as a finished run's results
            spec = dataclasses.replace(
                spec, description=f"INCOMPLETE run (not finished; folder {tree_root}): {spec.description}")
        try:
            if spec.kind == "table":
                create_table_artifact(table=spec.content, key=spec.key, description=spec.description)
            elif spec.kind == "markdown":
                create_markdown_artifact(markdown=spec.content, key=spec.key, description=spec.description)
            else:
                create_link_artifact(link=spec.content, link_text=spec.link_text, key=spec.key,
                                     description=spec.description)
        except Exception as exc:  # the dashboard is a view; one refused artifact must not stop the rest
            logger.warning("artifact %s was not published: %s: %s", spec.key, type(exc).__name__, exc)
            continue
        published.append(spec.key)
    logger.info("Published %d dashboard artifact(s) for run %s: %s", len(published), run_id,
                ", ".join(published))
    return published
