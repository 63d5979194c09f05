"""The sections of the HTML report, each built from the results tree alone.

A section whose tables are absent says "not run" with the reason the run manifest
records; a section that cannot be drawn (a corrupt table) says so and the others are
still drawn. Figures found under ``plots/`` are put into the section their path names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from myocit_omics import drawing
from myocit_omics.genesets import IFN_SETS
from myocit_omics.report import summaries as S
from myocit_omics.report.figures import (
    EmbeddedFigure,
    embed_file,
    gsea_nes_figure,
    ifn_distribution_figure,
    ifn_trajectory_figure,
)
from myocit_omics.report.tree import RunTree, find_key, read_results_table, sorted_visits

log = logging.getLogger(__name__)


@dataclass
class HtmlTable:
    """A table as strings, ready for the template."""

    columns: list[str]
    rows: list[list[str]]
    title: str = ""
    note: str = ""


@dataclass
class Section:
    """One report section.

    Attributes
    ----------
    id, title
        Anchor and heading.
    status
        ``ok``, ``not run`` (the step left no tables) or ``error`` (could not be drawn).
    reason
        Why the section is not run or could not be drawn.
    blocks
        ``(kind, payload)`` pairs: ``text`` (str), ``table`` (HtmlTable), ``figure`` (EmbeddedFigure),
        ``pre`` (str), ``heading`` (str), ``details`` ((summary, [EmbeddedFigure]), folded figures).
    """

    id: str
    title: str
    status: str = "ok"
    reason: str = ""
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def text(self, value: str) -> None:
        """Add a paragraph."""
        self.blocks.append(("text", value))

    def heading(self, value: str) -> None:
        """Add a sub-heading."""
        self.blocks.append(("heading", value))

    def table(self, df: pd.DataFrame, *, title: str = "", max_rows: int = 40, source: str = "") -> None:
        """Add a table (at most ``max_rows`` rows; the note says where the full table is)."""
        self.blocks.append(("table", html_table(df, title=title, max_rows=max_rows, source=source)))

    def figure(self, fig: EmbeddedFigure | Callable[[], EmbeddedFigure | None] | None) -> None:
        """Add a figure (None is ignored); a callable is a figure being drawn, see :meth:`resolve`."""
        if fig is not None:
            self.blocks.append(("figure", fig))

    def resolve(self) -> None:
        """Replace the figures still being drawn by their result (dropped if None); raise their error."""
        blocks = []
        for kind, item in self.blocks:
            if kind == "figure" and callable(item):
                item = item()
                if item is None:
                    continue
            blocks.append((kind, item))
        self.blocks = blocks

    def pre(self, value: str) -> None:
        """Add preformatted text."""
        self.blocks.append(("pre", value))

    def folded(self, summary: str, figures: list[EmbeddedFigure]) -> None:
        """Add figures folded away under a summary line (HTML ``<details>``, no script)."""
        if figures:
            self.blocks.append(("details", (summary, figures)))

    @property
    def figures(self) -> int:
        """Number of figures in the section (folded ones included)."""
        return sum(1 if kind == "figure" else len(item[1]) for kind, item in self.blocks
                   if kind in ("figure", "details"))


def html_table(df: pd.DataFrame, *, title: str = "", max_rows: int = 40, source: str = "") -> HtmlTable:
    """Format a DataFrame for the report (numbers via :func:`summaries.fmt_number`)."""
    shown = df.head(max_rows)
    rows = [[S.fmt_number(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    note = ""
    if len(df) > max_rows:
        note = f"First {max_rows} of {len(df)} rows."
    if source:
        note = f"{note} Full table: {source}".strip()
    return HtmlTable(columns=[str(c) for c in df.columns], rows=rows, title=title, note=note)


# ----------------------------------------------------------------------------- plots

#: Report section of a plot, by the first folder below plots/ or a word in its name (first match wins).
_PLOT_FOLDERS = {
    "qc": "qc", "expression": "qc", "ifn": "ifn", "interferon": "ifn", "cytokines": "cytokines",
    "cytokine": "cytokines", "de": "de", "gsea": "de", "clinical": "clinical", "pk": "clinical",
    "linking": "linking", "composition": "composition",
}
_PLOT_WORDS = (
    ("linking", ("linking", "_roc", "roc_", "mixed_model", "pkpd", "pk_pd")),
    ("cytokines", ("cytokine", "standard_curve", "standard-curve", "bridge", "plate", "analyte")),
    ("de", ("volcano", "gsea", "enrichment", "_ma", "ma_plot", "de_")),
    ("ifn", ("ifn", "interferon")),
    ("clinical", ("clinical", "tis", "cmas", "response", "waterfall", "pk", "concentration", "exposure")),
    ("qc", ("qc", "pca", "sex", "library", "outlier", "detected", "size_factor")),
)


def plot_section(rel: str) -> str:
    """Return the section id a plot belongs to, from its path below ``plots/`` (``other`` if none)."""
    parts = rel.lower().split("/")
    if len(parts) > 1 and parts[0] in _PLOT_FOLDERS:
        return _PLOT_FOLDERS[parts[0]]
    name = parts[-1]
    for section, words in _PLOT_WORDS:
        if any(w in name for w in words):
            return section
    return "other"


def plots_by_section(run: RunTree) -> dict[str, list[Path]]:
    """Group the run's plot files by report section."""
    out: dict[str, list[Path]] = {}
    base = run.root / "plots"
    for p in run.plots():
        out.setdefault(plot_section(p.relative_to(base).as_posix()), []).append(p)
    return out


# ----------------------------------------------------------------------------- helpers


def _not_run(section: Section, run: RunTree, steps: tuple[str, ...], what: str) -> Section:
    status, reason = run.step_status(steps)
    section.status = "not run"
    if status and status != "ok":
        section.reason = f"step {status}: {reason}" if reason else f"step {status} (no reason recorded)"
    elif status == "ok":
        section.reason = f"the step finished but wrote no {what}"
    elif run.manifest_error:
        section.reason = f"no {what} in the results tree; {run.manifest_error}"
    else:
        section.reason = f"no {what} in the results tree and run_manifest.json records no such step"
    return section


def _add_plots(section: Section, plots: list[Path], run: RunTree) -> None:
    for p in plots:
        section.figure(embed_file(p, root=run.root))


def _patients(run: RunTree) -> set[str]:
    ids: set[str] = set()
    for name in ("qc_samples", "ifn_scores", "clinical_outcomes", "cytokines_by_visit"):
        df = run.table(name)
        if df is not None and "patient_id" in df:
            ids.update(str(x) for x in df["patient_id"].dropna())
    return ids


def _step_summary_text(entry: Any) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    summary = entry.get("summary")
    if isinstance(summary, dict):
        summary = summary.get("summary", "")
    return str(entry.get("error") or summary or "")


# ----------------------------------------------------------------------------- sections


def key_results(run: RunTree) -> list[tuple[str, str]]:
    """Return one line per finished analysis: QC, IFN change, DE, response, linking (what exists).

    Each line is computed from its table alone; a table that cannot be read gives no line
    (its own section says why).
    """
    out: list[tuple[str, str]] = []

    def qc() -> None:
        qc_table = run.table("qc_samples")
        if qc_table is not None and "qc_pass" in qc_table:
            passed = int(S.as_bool(qc_table["qc_pass"]).fillna(False).sum())
            out.append(("RNA-seq QC", f"{passed} of {len(qc_table)} samples passed"))

    def ifn() -> None:
        ifn_table = run.table("ifn_scores")
        primary = S.primary_score(ifn_table) if ifn_table is not None else None
        if primary is None:
            return
        by_visit = S.ifn_by_visit(ifn_table)
        sub = by_visit[(by_visit["gene_set"] == primary[0]) & (by_visit["method"] == primary[1])]
        medians = ", ".join(f"{r.visit} {S.fmt_number(r.median)}" for r in sub.itertuples())
        text = f"{primary[0]} ({primary[1]}) median by visit: {medians}"
        changes = S.paired_changes(ifn_table, *primary)
        if not changes.empty:
            last = changes.iloc[-1]
            text += (f"; {last['visit']} vs {last['baseline']}: {int(last['decreased'])} of "
                     f"{int(last['n_pairs'])} patients decreased")
        out.append(("IFN score", text))

    def de() -> None:
        for contrast, path in run.tables_in("de").items():
            c = S.de_counts(read_results_table(path))
            out.append((f"DE {contrast}", f"{c['significant']} of {c['genes']} genes with padj < 0.05 "
                        f"({c['up']} up, {c['down']} down)"))

    def response() -> None:
        table = run.table("response_w24")
        if table is not None and "response_w24" in table:
            counts = table["response_w24"].fillna("NA").astype(str).value_counts()
            order = [k for k in ("major", "moderate", "minimal", "none", "NA") if k in counts]
            order += [k for k in counts.index if k not in order]
            out.append(("Response at W24 (TIS)", ", ".join(f"{counts[k]} {k}" for k in order)))

    def linking() -> None:
        for name, path in run.tables_matching("linking_*").items():
            df = read_results_table(path)
            if "q_value" in df:
                q = pd.to_numeric(df["q_value"], errors="coerce")
                n_sig = int((q < 0.05).sum())
                out.append((name.replace("_", " "), f"{n_sig} of {len(df)} tests with q < 0.05"))

    for part in (qc, ifn, de, response, linking):
        try:
            part()
        except Exception as exc:  # the section of that table reports the problem
            log.debug("key result %s left out: %s", part.__name__, exc)
    return out


def study_section(run: RunTree, plots: dict[str, list[Path]]) -> Section:
    """Study summary: run, study, inputs, samples and patients, step outcomes."""
    sec = Section("summary", "Study summary")
    m = run.manifest
    config = (m.get("parameters") or {}).get("config") if isinstance(m.get("parameters"), dict) else None
    study = m.get("study") or (config or {}).get("study") or "not recorded"
    inputs = m.get("inputs") if isinstance(m.get("inputs"), list) else []
    kinds: dict[str, int] = {}
    for item in inputs:
        if isinstance(item, dict):
            kinds[str(item.get("kind", "?"))] = kinds.get(str(item.get("kind", "?")), 0) + 1
    qc = run.table("qc_samples")
    params = m.get("parameters") if isinstance(m.get("parameters"), dict) else {}
    facts = [
        ("study", study),
        ("run", run.run_id),
        ("started (UTC)", m.get("started") or "not recorded"),
        ("finished (UTC)", m.get("finished") or "not recorded"),
        ("run status", "INCOMPLETE (not finished)" if m.get("status") == "running" else m.get("status") or "not recorded"),  # noqa: E501
        ("visits analysed", ", ".join(map(str, params.get("visits") or [])) or "not recorded"),
        ("input batches", ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none recorded"),
        ("RNA-seq samples", str(len(qc)) if qc is not None else "no QC table"),
        ("patients in the tables", str(len(_patients(run)))),
        ("AnnData files", ", ".join(p.name for p in run.anndata_files()) or "none"),
    ]
    sec.table(pd.DataFrame(facts, columns=["item", "value"]), title="This run")
    findings = key_results(run)
    if findings:
        sec.table(pd.DataFrame(findings, columns=["topic", "result"]), title="Key results")
    if run.manifest_error:
        sec.text(f"Warning: {run.manifest_error}; the methods section is incomplete.")
    steps = run.steps()
    if steps:
        rows = [{"step": k, "status": (v.get("status") if isinstance(v, dict) else v),
                 "seconds": (v.get("seconds") if isinstance(v, dict) else None),
                 "what happened": _step_summary_text(v)} for k, v in steps.items()]
        sec.table(pd.DataFrame(rows), title="Steps", max_rows=100)
    return sec


def qc_section(run: RunTree, plots: dict[str, list[Path]]) -> Section:
    """Sample QC: per-visit counts, the failed samples and the QC figures."""
    sec = Section("qc", "Quality control of the RNA-seq samples")
    qc = run.table("qc_samples")
    if qc is None:
        return _not_run(sec, run, ("assemble_expression", "expression"), "tables/qc_samples.tsv")
    summary = S.qc_summary(qc)
    sec.text(f"{len(qc)} samples; per visit:")
    sec.table(summary, title="QC by visit", source="tables/qc_samples.tsv")
    failed = S.qc_failures(qc)
    if len(failed):
        sec.table(failed, title=f"Samples that failed QC ({len(failed)})", max_rows=100)
    else:
        sec.text("Every sample passed QC.")
    _add_plots(sec, plots.get("qc", []), run)
    return sec


def ifn_section(run: RunTree, plots: dict[str, list[Path]]) -> Section:
    """IFN scores: distribution by visit, per-patient trajectories, the summary table."""
    sec = Section("ifn", "Type I interferon scores")
    ifn = run.table("ifn_scores")
    if ifn is None:
        return _not_run(sec, run, ("assemble_expression", "expression"), "tables/ifn_scores.tsv")
    if ifn.empty:
        sec.text("The IFN score table is empty.")
        return sec
    summary = S.ifn_by_visit(ifn)
    primary = S.primary_score(ifn)
    n_scores = summary[["gene_set", "method"]].drop_duplicates().shape[0]
    sec.text(f"{n_scores} score(s) (gene set x method) for {ifn['sample_id'].nunique()} samples. "
             f"Primary score: {primary[0]} ({primary[1]}).")
    # drawn in the figure process while the other sections are built (render.build_sections)
    sec.figure(drawing.later(ifn_distribution_figure, ifn, by="gene_set"))
    sec.figure(drawing.later(ifn_trajectory_figure, ifn))
    if ifn["method"].nunique() > 1:
        sec.figure(drawing.later(ifn_distribution_figure, ifn, by="method"))
    if primary is not None:
        changes = S.paired_changes(ifn, *primary)
        if not changes.empty:
            sec.table(changes,
                      title=f"Within-patient change of the primary score ({primary[0]}, {primary[1]})")
    sec.table(S.ifn_wide(summary), title="Median score by visit (and % IFN-positive)", max_rows=100,
              source="tables/ifn_scores.tsv; the IQR is in the ifn-scores artifact")
    if "reference" in ifn:
        refs = sorted({str(x) for x in ifn["reference"].dropna()})
        sec.text(f"Score reference: {', '.join(refs) if refs else 'not recorded'}.")
    coverage = run.table("ifn_gene_coverage")
    if coverage is not None:
        sec.table(coverage, title="Gene coverage of the IFN sets", source="tables/ifn_gene_coverage.tsv")
    _add_plots(sec, plots.get("ifn", []), run)
    return sec


def composition_section(run: RunTree, plots: dict[str, list[Path]]) -> Section:
    """Blood composition: estimates by visit and against dose, adjusted IFN scores, DE sensitivity."""
    from myocit_omics.composition import summary as C

    sec = Section("composition", "Blood composition")
    table = run.table("composition")
    if table is None:
        return _not_run(sec, run, ("composition",), "tables/composition.tsv")
    methods = ", ".join(sorted({str(m) for m in table["method"].dropna()}))
    sec.text(f"{table['cell_type'].nunique()} cell types estimated in {table['sample_id'].nunique()} samples "
             f"by {methods} (marker_btm: mean log2 ratio of the BTM cell-type marker genes against the "
             "frozen "
             "reference samples; nnls: fractions from the signature matrix of study.yaml). Marker scores are "
             "relative (log2 against the reference), not fractions.")
    sec.table(C.composition_by_visit(table), title="Median estimate by visit", max_rows=60,
              source="tables/composition.tsv")
    dose = pd.to_numeric(table.get("prednisone_mg_kg_day", pd.Series(dtype=float)), errors="coerce")
    if dose.notna().any():
        sec.table(C.dose_correlation(table),
                  title="Estimate against the prednisone dose of the visit (Spearman)")
    unadj, adj = run.table("ifn_scores"), run.table("ifn_scores_adjusted")
    if adj is not None and unadj is not None and not unadj.empty:
        primary = S.primary_score(unadj)
        if primary is not None:
            how = str(adj["adjustment"].iloc[0]) if "adjustment" in adj and len(adj) else "not recorded"
            sec.heading("Composition-adjusted IFN scores")
            sec.text(f"Method: {how}. The adjusted scores are written beside the unadjusted ones "
                     "(tables/ifn_scores_adjusted.tsv), never in their place.")
            if how.startswith("per-gene residuals") and "pooled:" in how:
                sec.text("Caveat: the coefficients were fitted on patient reference samples whose IFN "
                         "activity varies, so a chance correlation of IFN activity with composition among "
                         "them passes into the adjustment; read these scores as a sensitivity analysis, "
                         "not as the endpoint (docs/composition.md).")
            sec.table(C.adjusted_beside(unadj, adj, *primary),
                      title=f"Primary score ({primary[0]}, {primary[1]}) by visit, unadjusted and adjusted")
    sens = run.table("composition_de_sensitivity")
    if sens is not None:
        sec.heading("DE sensitivity model with composition covariates")
        sec.table(sens,
                  title="IFN-gene calls (padj < 0.05) of each contrast that survive composition covariates",
                  source="tables/composition_de_sensitivity.tsv")
    coverage = run.table("composition_marker_coverage")
    if coverage is not None:
        sec.table(coverage.drop(columns=["missing_genes", "unexpressed_genes"], errors="ignore"),
                  title="Marker lists used", source="tables/composition_marker_coverage.tsv")
    partial = run.table("linking_partial")
    if partial is not None:
        sec.text("The partial Spearman of IFN change against clinical change, given the change in prednisone "
                 "dose and in composition, is in the linking section (tables/linking_partial.tsv).")
    _add_plots(sec, plots.get("composition", []), run)
    return sec


def cytokine_section(run: RunTree, plots: dict[str, list[Path]]) -> Section:
    """Cytokines: per-analyte medians by visit, censoring, plate QC flags."""
    sec = Section("cytokines", "Cytokines")
    by_visit = run.table("cytokines_by_visit")
    plate_qc = run.table("cytokine_qc")
    if by_visit is None and plate_qc is None:
        return _not_run(sec, run, ("cytokines",), "cytokine tables")
    if by_visit is not None and not by_visit.empty:
        df = by_visit.assign(value=pd.to_numeric(by_visit["value"], errors="coerce"))
        censored = df["flag"].fillna("").astype(str).str.strip().str.lower().isin(["<lloq", ">uloq"]) \
            if "flag" in df else pd.Series(False, index=df.index)
        df = df.assign(_censored=censored)
        rows = []
        for analyte, g in df.groupby("analyte", sort=True):
            row: dict[str, Any] = {"analyte": analyte}
            if "unit" in g:
                row["unit"] = ", ".join(sorted({str(u) for u in g["unit"].dropna()}))
            for v in sorted_visits(g["visit"]):
                gv = g[g["visit"].astype(str) == v]
                row[f"{v} median"] = gv["value"].median()
                row[f"{v} n"] = int(gv["value"].notna().sum())
            row["censored"] = int(g["_censored"].sum())
            rows.append(row)
        sec.text(f"{df['analyte'].nunique()} analytes, {df['patient_id'].nunique()} patients.")
        sec.table(pd.DataFrame(rows), title="Median value by visit", max_rows=100,
                  source="tables/cytokines_by_visit.tsv")
    if plate_qc is not None:
        flags = plate_qc["flag"].fillna("").astype(str).str.strip() if "flag" in plate_qc else None
        if flags is not None:
            flagged = plate_qc[~flags.str.lower().isin(["", "ok", "pass"])]
            sec.text(f"Plate QC: {len(plate_qc)} plate x analyte fits, {len(flagged)} flagged.")
            if len(flagged):
                sec.table(flagged, title="Flagged plate x analyte fits", source="tables/cytokine_qc.tsv")
        else:
            sec.table(plate_qc, title="Plate QC", source="tables/cytokine_qc.tsv")
    _add_plots(sec, plots.get("cytokines", []), run)
    return sec


def _drop_empty_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Leave out the columns that are NA in every row (e.g. ``log2_fc_shrunk`` without shrinkage)."""
    empty = [c for c in df.columns if df[c].isna().all()] if len(df) else []
    return df.drop(columns=empty)


def de_section(run: RunTree, plots: dict[str, list[Path]]) -> Section:
    """Paired DE and GSEA per contrast: counts, top genes, top pathways, volcano plots.

    GSEA gets one dot plot over the contrasts (drawn from the tables); the per-set enrichment plots
    of ``plots/gsea/`` are folded away per contrast.
    """
    sec = Section("de", "Differential expression and gene-set enrichment")
    de = run.tables_in("de")
    gsea = run.tables_in("gsea")
    if not de and not gsea:
        return _not_run(sec, run, ("assemble_expression", "expression", "de"), "tables/de/ or tables/gsea/")
    contrasts = list(dict.fromkeys([*de, *gsea]))
    de_tables = {c: read_results_table(p) for c, p in de.items()}
    gsea_tables = {c: read_results_table(p) for c, p in gsea.items()}
    counts = [{"contrast": c, **S.de_counts(de_tables[c])} for c in contrasts if c in de_tables]
    if counts:
        sec.table(pd.DataFrame(counts), title="Genes by contrast (significant: padj < 0.05)")
    if gsea_tables:
        sec.figure(drawing.later(gsea_nes_figure, gsea_tables, ifn_sets=tuple(IFN_SETS)))
    base = run.root / "plots"
    de_plots = plots.get("de", [])
    enrichment = [p for p in de_plots if p.relative_to(base).as_posix().startswith("gsea/")]
    others = [p for p in de_plots if p not in enrichment]
    for c in contrasts:
        sec.heading(f"Contrast {c}")
        if c in de_tables:
            sec.table(_drop_empty_columns(S.de_top(de_tables[c], 15)), title="Top genes by adjusted p-value",
                      source=f"tables/de/{c}.tsv")
        else:
            sec.text("No DE table for this contrast.")
        if c in gsea_tables:
            sec.table(_drop_empty_columns(S.gsea_top(gsea_tables[c], 15)), title="Top gene sets by FDR",
                      source=f"tables/gsea/{c}.tsv")
        else:
            sec.text("No GSEA table for this contrast.")
        mine = [p for p in enrichment if p.name.startswith(f"{c}_")
                and not any(p.name.startswith(f"{o}_") and len(o) > len(c) for o in contrasts)]
        sec.folded(f"Enrichment plots of {c} ({len(mine)}: IFN sets and top sets)",
                   [embed_file(p, root=run.root) for p in mine])
        enrichment = [p for p in enrichment if p not in mine]
    _add_plots(sec, others, run)
    sec.folded(f"Other enrichment plots ({len(enrichment)})",
               [embed_file(p, root=run.root) for p in enrichment])
    return sec


def clinical_section(run: RunTree, plots: dict[str, list[Path]]) -> Section:
    """Clinical response (TIS, PRINTO) and PK exposure."""
    sec = Section("clinical", "Clinical response")
    outcomes = run.table("clinical_outcomes")
    response = run.table("response_w24")
    pk = run.table("pk_exposure")
    if outcomes is None and response is None and pk is None:
        return _not_run(sec, run, ("clinical",), "clinical tables")
    if outcomes is not None:
        counts = S.response_counts(outcomes)
        if not counts.empty:
            sec.table(counts, title="Patients by response category (ACR/EULAR TIS) and visit")
    per_patient = S.clinical_response(response_w24=response, outcomes=outcomes)
    if not per_patient.empty:
        src = "tables/response_w24.tsv" if response is not None else "tables/clinical_outcomes.tsv"
        sec.table(per_patient, title="Response per patient", max_rows=100, source=src)
    if pk is not None:
        sec.table(pk, title="Baricitinib exposure per patient", max_rows=100, source="tables/pk_exposure.tsv")
    _add_plots(sec, plots.get("clinical", []), run)
    return sec


def linking_section(run: RunTree, plots: dict[str, list[Path]]) -> Section:
    """Linking statistics: every ``tables/linking_*.tsv``, sorted by p-value."""
    sec = Section("linking", "Linking biomarkers to clinical response")
    tables = run.tables_matching("linking_*")
    if not tables:
        return _not_run(sec, run, ("linking",), "tables/linking_*.tsv")
    for name, path in tables.items():
        df = read_results_table(path)
        if "p_value" in df:
            df = df.assign(_p=pd.to_numeric(df["p_value"], errors="coerce")).sort_values(
                "_p", na_position="last", kind="stable").drop(columns="_p")
        sec.table(df, title=name.removeprefix("linking_").replace("_", " "), max_rows=25,
                  source=f"tables/{name}.tsv")
    _add_plots(sec, plots.get("linking", []), run)
    return sec


def _records_table(value: Any) -> pd.DataFrame | None:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return pd.DataFrame([{k: (json.dumps(v) if isinstance(v, dict | list) else v)
                              for k, v in item.items()} for item in value])
    if isinstance(value, dict) and value and all(not isinstance(v, dict | list) for v in value.values()):
        return pd.DataFrame({"name": list(value), "value": [str(v) for v in value.values()]})
    return None


def methods_section(run: RunTree, plots: dict[str, list[Path]]) -> Section:
    """Methods: software versions, parameters, gene sets, reference, input batches, seed, timings."""
    sec = Section("methods", "Methods and provenance")
    m = run.manifest
    if run.manifest_error:
        sec.text(f"Warning: {run.manifest_error}. What follows is only what the tables show.")
    software = m.get("software")
    sec.heading("Software")
    if isinstance(software, dict) and software:
        sec.table(pd.DataFrame({"software": list(software), "version": [str(v) for v in software.values()]}),
                  max_rows=100)
    else:
        sec.text("Software versions are not recorded in run_manifest.json.")
    sec.heading("Reference")
    used = find_key(run.steps(), "reference")
    ifn = run.table("ifn_scores")
    if isinstance(used, dict):
        sec.table(pd.DataFrame({"field": list(used), "value": [
            json.dumps(v, default=str) if isinstance(v, dict | list) else str(v) for v in used.values()]}),
            title="Reference used (recorded by the analysis step)", max_rows=100)
    elif used is not None:
        sec.text(f"Reference used (recorded by the analysis step): {used}")
    if ifn is not None and "reference" in ifn:
        refs = sorted({str(x) for x in ifn["reference"].dropna()})
        sec.text(f"Reference of the IFN scores (tables/ifn_scores.tsv): {', '.join(refs) or 'NA'}")
    configured = find_key(m.get("parameters") or {}, "reference")
    if configured is not None:
        sec.text("Configured reference (study.yaml and run parameters): "
                 f"{json.dumps(configured, default=str)}")
    if used is None and configured is None and (ifn is None or "reference" not in ifn):
        sec.text("No reference is recorded for this run.")
    sec.heading("Gene sets")
    gene_sets = m.get("gene_sets") or find_key(run.steps(), "gene_sets")
    table = _records_table(gene_sets)
    if table is not None:
        sec.table(table, title="Gene-set provenance (name, file, checksum)", max_rows=200)
    elif gene_sets:
        sec.pre(json.dumps(gene_sets, indent=2, default=str))
    else:
        sec.text("Gene-set provenance is not recorded in run_manifest.json.")
    if ifn is not None:
        sec.text("Gene sets scored: " + ", ".join(dict.fromkeys(str(g) for g in ifn["gene_set"])) + ".")
    sec.heading("Input batches")
    inputs = m.get("inputs")
    if isinstance(inputs, list) and inputs:
        rows = []
        for item in inputs:
            if not isinstance(item, dict):
                continue
            files = item.get("files") or {}
            described = "; ".join(
                f"{role}: {f.get('name', '?')} (sha256 {str(f.get('sha256', '?'))[:12]})"
                if isinstance(f, dict) else f"{role}: {f}"
                for role, f in (files.items() if isinstance(files, dict) else [])
            )
            rows.append({"kind": item.get("kind"), "name": item.get("name"),
                         "batch id": str(item.get("batch_id", ""))[:16], "files": described})
        sec.table(pd.DataFrame(rows), max_rows=200)
    else:
        sec.text("No input batches are recorded in run_manifest.json.")
    sec.heading("Parameters")
    sec.text(f"Seed: {m.get('seed', 'not recorded')}.")
    params = m.get("parameters")
    if params:
        sec.pre(json.dumps(params, indent=2, sort_keys=True, default=str))
    else:
        sec.text("No parameters are recorded in run_manifest.json.")
    steps = run.steps()
    if steps:
        sec.heading("Timings")
        sec.table(pd.DataFrame([{"step": k, "seconds": v.get("seconds") if isinstance(v, dict) else None}
                                for k, v in steps.items()]), max_rows=100)
    return sec


def other_section(run: RunTree, plots: dict[str, list[Path]]) -> Section | None:
    """Figures whose path names no section (None when there are none)."""
    if not plots.get("other"):
        return None
    sec = Section("other", "Other figures")
    _add_plots(sec, plots["other"], run)
    return sec


#: Ids and titles of the sections every report has ("other" only when some figure needs it).
SECTION_TITLES = {
    "summary": "Study summary", "qc": "Quality control of the RNA-seq samples",
    "ifn": "Type I interferon scores", "composition": "Blood composition", "cytokines": "Cytokines",
    "de": "Differential expression and gene-set enrichment", "clinical": "Clinical response",
    "linking": "Linking biomarkers to clinical response", "methods": "Methods and provenance",
    "other": "Other figures",
}

#: The section builders, in report order, by section id.
SECTIONS: tuple[tuple[str, Callable[[RunTree, dict[str, list[Path]]], Section | None]], ...] = (
    ("summary", study_section), ("qc", qc_section), ("ifn", ifn_section),
    ("composition", composition_section), ("cytokines", cytokine_section),
    ("de", de_section), ("clinical", clinical_section), ("linking", linking_section),
    ("methods", methods_section), ("other", other_section),
)
