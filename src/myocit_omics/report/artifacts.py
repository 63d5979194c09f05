"""The content of the dashboard artifacts of a run, built from its results tree (no Prefect here).

``flows/artifacts.py`` turns each :class:`ArtifactSpec` into a Prefect artifact. Keys
are stable across runs, so the dashboard shows each key's history:

=========================== ========= ===============================================
key                         kind      content
=========================== ========= ===============================================
``qc-summary``              table     sample QC by visit
``ifn-scores``              table     IFN scores by gene set, method and visit
``ifn-summary``             markdown  the primary IFN score by visit, in words
``clinical-response``       table     response per patient (week 24 or last visit)
``blood-composition``       table     median cell-type estimate by method and visit
``de-top-<contrast>``       table     top N genes by adjusted p-value
``gsea-top-<contrast>``     table     top N gene sets by FDR
``report-link``             link      ``file://`` URL of ``report.html``
=========================== ========= ===============================================

Tables are small (top N, or a summary); the full tables stay in the results tree.
A fixed-key table whose source is absent is published as one row saying "not run"
and why, so the key's history shows the gap instead of silently skipping it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from myocit_omics.report import summaries as S
from myocit_omics.report.tree import RunTree, open_run, read_results_table, slugify

log = logging.getLogger(__name__)

#: A valid Prefect artifact key: lowercase letters, digits and dashes.
KEY_PATTERN = re.compile(r"^[a-z0-9-]+$")

#: Rows of a summary table artifact are capped here (event size limit of the server: 1.5 MB).
MAX_TABLE_ROWS = 200


@dataclass(frozen=True)
class ArtifactSpec:
    """One dashboard artifact: key, kind, content and description.

    Attributes
    ----------
    key
        Stable key (lowercase letters, digits, dashes).
    kind
        ``table``, ``markdown`` or ``link``.
    content
        Rows (list of dict) for a table, text for markdown, a URL for a link.
    description
        Markdown shown above the artifact.
    link_text
        Text of a link artifact.
    """

    key: str
    kind: Literal["table", "markdown", "link"]
    content: Any
    description: str
    link_text: str | None = None

    def __post_init__(self) -> None:
        if not KEY_PATTERN.fullmatch(self.key):
            msg = f"artifact key {self.key!r} is invalid; expected lowercase letters, digits and dashes"
            raise ValueError(msg)


def _not_run_rows(run: RunTree, steps: tuple[str, ...], what: str) -> list[dict[str, Any]]:
    status, reason = run.step_status(steps)
    if status and status != "ok":
        why = f"step {status}: {reason or 'no reason recorded'}"
    else:
        why = f"{what} is not in the results tree"
    return [{"status": "not run", "reason": why}]


def contrast_keys(contrasts: list[str], prefix: str) -> dict[str, str]:
    """Return ``{contrast: key}`` with ``<prefix>-<slug>`` keys, made unique when two slugs collide."""
    keys: dict[str, str] = {}
    used: set[str] = set()
    for c in contrasts:
        base = f"{prefix}-{slugify(c)}"
        key, i = base, 2
        while key in used:
            key, i = f"{base}-{i}", i + 1
        used.add(key)
        keys[c] = key
    return keys


def build_artifacts(tree_root: str | Path, *, run_id: str, top_n: int = 20) -> list[ArtifactSpec]:
    """Build the dashboard artifacts of one run from its results tree.

    Parameters
    ----------
    tree_root
        ``results/<run-id>``.
    run_id
        The run, named in every description.
    top_n
        Rows of the top-genes and top-pathways tables.

    Returns
    -------
    list of ArtifactSpec
        In dashboard order. An artifact whose table cannot be read is left out with a
        warning in the log; the others are still built.
    """
    if top_n < 1:
        msg = f"top_n must be at least 1, got {top_n!r}"
        raise ValueError(msg)
    run = open_run(tree_root)
    out: list[ArtifactSpec] = []

    def attempt(name: str, fn: Any) -> None:
        try:
            out.extend(fn())
        except Exception as exc:  # one unreadable table must not cost the other artifacts
            log.warning("artifact %s not built: %s: %s", name, type(exc).__name__, exc)

    def qc() -> list[ArtifactSpec]:
        df = run.table("qc_samples")
        rows = (S.to_records(S.qc_summary(df)) if df is not None
                else _not_run_rows(run, ("assemble_expression", "expression"), "tables/qc_samples.tsv"))
        return [ArtifactSpec("qc-summary", "table", rows,
                             f"Sample QC by visit, run `{run_id}`. Full table: `tables/qc_samples.tsv`.")]

    def ifn() -> list[ArtifactSpec]:
        df = run.table("ifn_scores")
        if df is None:
            rows = _not_run_rows(run, ("assemble_expression", "expression"), "tables/ifn_scores.tsv")
            text = f"# IFN scores, run {run_id}\n\nNot run: {rows[0]['reason']}."
        else:
            rows = S.to_records(S.ifn_by_visit(df), max_rows=MAX_TABLE_ROWS)
            text = S.ifn_markdown(df, run_id=run_id)
        return [
            ArtifactSpec("ifn-scores", "table", rows,
                         "IFN scores by gene set, method and visit (median, IQR, IFN-positive), "
                         f"run `{run_id}`. Full table: `tables/ifn_scores.tsv`."),
            ArtifactSpec("ifn-summary", "markdown", text, f"IFN scores in words, run `{run_id}`."),
        ]

    def clinical() -> list[ArtifactSpec]:
        response, outcomes = run.table("response_w24"), run.table("clinical_outcomes")
        if response is None and outcomes is None:
            rows = _not_run_rows(run, ("clinical",), "tables/clinical_outcomes.tsv")
        else:
            rows = S.to_records(S.clinical_response(response_w24=response, outcomes=outcomes),
                                max_rows=MAX_TABLE_ROWS)
        return [ArtifactSpec("clinical-response", "table", rows,
                             f"Clinical response per patient, run `{run_id}`. Full tables: "
                             "`tables/response_w24.tsv`, `tables/clinical_outcomes.tsv`.")]

    def composition() -> list[ArtifactSpec]:
        from myocit_omics.composition.summary import composition_by_visit

        df = run.table("composition")
        if df is None and run.step_status(("composition",))[0] is None:
            return []  # a run made before the composition step existed: no key to show a gap in
        rows = (S.to_records(composition_by_visit(df), max_rows=MAX_TABLE_ROWS) if df is not None
                else _not_run_rows(run, ("composition",), "tables/composition.tsv"))
        return [ArtifactSpec("blood-composition", "table", rows,
                             f"Blood composition by visit (median estimate per cell type and method), run "
                             f"`{run_id}`. Composition-adjusted IFN scores: "
                             "`tables/ifn_scores_adjusted.tsv`; "
                             "full table: `tables/composition.tsv`.")]

    def de() -> list[ArtifactSpec]:
        tables = run.tables_in("de")
        specs = []
        for contrast, key in contrast_keys(list(tables), "de-top").items():
            df = read_results_table(tables[contrast])
            counts = S.de_counts(df)
            specs.append(ArtifactSpec(
                key, "table", S.to_records(S.de_top(df, top_n)),
                f"Top {top_n} genes of contrast `{contrast}` by adjusted p-value, run `{run_id}`: "
                f"{counts['significant']} of {counts['genes']} genes with padj < 0.05 "
                f"({counts['up']} up, {counts['down']} down). Full table: `tables/de/{contrast}.tsv`."))
        return specs

    def gsea() -> list[ArtifactSpec]:
        tables = run.tables_in("gsea")
        return [ArtifactSpec(key, "table", S.to_records(S.gsea_top(read_results_table(tables[c]), top_n)),
                             f"Top {top_n} gene sets of contrast `{c}` by FDR, run `{run_id}`. "
                             f"Full table: `tables/gsea/{c}.tsv`.")
                for c, key in contrast_keys(list(tables), "gsea-top").items()]

    def link() -> list[ArtifactSpec]:
        report = run.root / "report.html"
        state = "" if report.is_file() else " (not written yet when this link was published)"
        return [ArtifactSpec("report-link", "link", report.as_uri(),
                             f"Self-contained HTML report of run `{run_id}`{state}. Results folder: "
                             f"`{run.root}`.", link_text=f"Report of run {run_id}")]

    for name, fn in (("qc-summary", qc), ("ifn-scores", ifn), ("blood-composition", composition),
                     ("clinical-response", clinical),
                     ("de-top", de), ("gsea-top", gsea), ("report-link", link)):
        attempt(name, fn)
    return out
