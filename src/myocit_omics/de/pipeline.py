"""The paired DE step: ``run_de(adata_path, *, config, tree)`` (docs/contracts.md section 6).

Reads the expression AnnData, keeps the samples that passed QC (and says which were left
out and why), checks every contrast and every design before any fitting, fits pydeseq2
once per design and sample set, and writes per contrast ``tables/de/<id>.tsv``,
``plots/de/<id>_volcano.png`` and ``_ma.png``, ``tables/gsea/<id>.tsv`` and enrichment
plots of the IFN sets and of the ``de.gsea_plots`` top sets (``plots/gsea/<id>_<set label>.png``,
drawn on one reused figure per contrast), with ``de.ora`` also
``tables/ora/<id>.tsv``, plus ``tables/de_design.tsv``
(one row per contrast: design, rule, samples, pairs, unpaired and dropped patients).

Parameters live in the ``de`` section of ``study.yaml`` (see :class:`DEParams`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from myocit_omics import drawing, progress
from myocit_omics.de.contrasts import (
    ContrastSpec,
    check_contrasts,
    contrasts_from_config,
    contrasts_summary,
    interaction_contrasts,
)
from myocit_omics.de.design import (
    RULES,
    Design,
    SampleSelection,
    build_design,
    check_full_rank,
    natural_levels,
    select_samples,
)
from myocit_omics.de.fit import check_counts, contrast_results, fit_model
from myocit_omics.de.gsea import (
    ENGINES,
    enrichment_plots,
    ifn_terms,
    load_gene_sets,
    ranking_from_results,
    run_ora,
    run_prerank,
)
from myocit_omics.de.plots import ma_plot, volcano_plot
from myocit_omics.errors import InputError, Problem, ValidationFailed
from myocit_omics.genesets import IFN_SETS, GeneSet, ifn_genes
from myocit_omics.results import ResultsTree, write_tsv

if TYPE_CHECKING:  # pydantic and yaml, not needed by `myocit de`
    from myocit_omics.config import StudyConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DEParams:
    """Parameters of the DE step (``de:`` in ``study.yaml``).

    Attributes
    ----------
    design
        Design formula; ``patient`` is ``patient_id``, ``batch`` is ``seq_batch``.
    covariates
        Extra terms appended to the design (e.g. ``[seq_batch]``).
    missing_visit_rule
        ``keep`` (default; one model of all visits, patients missing a visit stay for dispersion
        estimation) or ``drop`` (per contrast, only patients with both visits).
    alpha
        FDR level (padj threshold and DESeq2's independent-filtering target).
    shrink
        Add apeGLM-shrunken log2 fold changes (``log2_fc_shrunk``; ``NA`` unless asked, since it
        refits every gene once more per contrast).
    min_total_count
        Genes with fewer reads over all analysed samples are not tested (recorded).
    n_cpus
        Threads of the DESeq2 fits (and of gseapy when it is the engine); 0 (the default) uses
        every CPU of the machine. Results do not depend on it: the genes are cut into the same
        blocks whatever the number of threads.
    gsea
        Run preranked GSEA.
    gsea_permutations, gsea_min_size, gsea_max_size
        Preranked GSEA settings.
    gsea_engine
        ``myocit`` (the project's numpy engine, default) or ``gseapy`` (gseapy prerank).
    gsea_plots
        Enrichment plots drawn per contrast besides the IFN sets' (the sets with the smallest
        p-values); 0 draws only the IFN sets.
    gene_sets
        Extra GMT files (paths) besides the shipped ``gene_sets/``.
    ora
        Also run over-representation analysis (``tables/ora/<id>.tsv``).
    interaction
        Test ``visit x <interaction>`` (e.g. ``responder``) when the column exists or a table is given.
    interaction_level
        The level compared with the reference level of the interaction variable.
    """

    design: str = "~ patient + visit"
    covariates: tuple[str, ...] = ()
    missing_visit_rule: str = "keep"
    alpha: float = 0.05
    shrink: bool = False
    min_total_count: int = 10
    n_cpus: int = 0
    gsea: bool = True
    gsea_permutations: int = 1000
    gsea_min_size: int = 3
    gsea_max_size: int = 1000
    gsea_engine: str = "myocit"
    gsea_plots: int = 3
    gene_sets: tuple[str, ...] = ()
    ora: bool = False
    interaction: str | None = None
    interaction_level: str = "True"

    @property
    def threads(self) -> int:
        """Threads for the fits: ``n_cpus``, or every CPU of the machine when it is 0."""
        return self.n_cpus if self.n_cpus > 0 else max(1, os.cpu_count() or 1)

    @classmethod
    def from_config(cls, section: Mapping[str, Any], *, source: str = "study.yaml") -> DEParams:
        """Read the ``de`` section; unknown keys and wrong types are refused, listing the valid ones.

        Raises
        ------
        ValidationFailed
            One problem per bad key.
        """
        known = {f.name: f for f in fields(cls)}
        problems: list[Problem] = []
        values: dict[str, Any] = {}
        defaults = cls()
        for key, value in dict(section or {}).items():
            if key not in known:
                problems.append(Problem(file=source, column=f"de.{key}", value=key, message="unknown key",
                                        expected=f"one of {sorted(known)}", rule="de.key"))
                continue
            default = getattr(defaults, key)
            if isinstance(default, tuple):
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    problems.append(Problem(file=source, column=f"de.{key}", value=value,
                                            message="expected a list of strings", rule="de.type"))
                    continue
                value = tuple(value)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    problems.append(Problem(file=source, column=f"de.{key}", value=value,
                                            message="expected true or false", rule="de.type"))
                    continue
            elif isinstance(default, (int, float)):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                        isinstance(default, int) and not float(value).is_integer()) or value < 0:
                    problems.append(Problem(file=source, column=f"de.{key}", value=value,
                                            message=f"expected a non-negative {type(default).__name__}",
                                            rule="de.type"))
                    continue
                value = type(default)(value)
            elif value is not None:
                value = str(value)
            values[key] = value
        rule = values.get("missing_visit_rule", defaults.missing_visit_rule)
        if rule not in RULES:
            problems.append(Problem(file=source, column="de.missing_visit_rule", value=rule,
                                    message="unknown missing-visit rule", expected=f"one of {sorted(RULES)}",
                                    rule="de.rule"))
        engine = values.get("gsea_engine", defaults.gsea_engine)
        if engine not in ENGINES:
            problems.append(Problem(file=source, column="de.gsea_engine", value=engine,
                                    message="unknown GSEA engine", expected=f"one of {list(ENGINES)}",
                                    rule="de.type"))
        if not 0 < values.get("alpha", defaults.alpha) < 1:
            problems.append(Problem(file=source, column="de.alpha", value=values.get("alpha"),
                                    message="alpha out of range", expected="0 < alpha < 1", rule="de.type"))
        if problems:
            raise ValidationFailed(problems, context=f"{source} (de section)")
        return cls(**values)

    @property
    def formula(self) -> str:
        """The design formula with the covariates appended."""
        return " + ".join([self.design.strip(), *self.covariates])


@dataclass
class PlannedFit:
    """Contrasts that share one fit (same design, same samples), with the checked design.

    Attributes
    ----------
    formula
        The design formula.
    samples
        Sample ids of the fit.
    contrasts
        The contrasts tested on it.
    design
        The built and rank-checked :class:`~myocit_omics.de.design.Design`.
    selections
        Contrast id -> :class:`~myocit_omics.de.design.SampleSelection` (missing-visit rule).
    """

    formula: str
    samples: tuple[str, ...]
    contrasts: list[ContrastSpec]
    design: Design
    selections: dict[str, SampleSelection]


@dataclass
class ContrastResult:
    """The DE table of one contrast and how it was obtained."""

    contrast: ContrastSpec
    table: pd.DataFrame
    plan: PlannedFit
    engine: str
    notes: list[str]

    @property
    def selection(self) -> SampleSelection:
        """The contrast's sample selection."""
        return self.plan.selections[self.contrast.id]


def plan_fits(
    obs: pd.DataFrame,
    contrasts: Sequence[ContrastSpec],
    *,
    formula: str,
    rule: str,
    reference_levels: Mapping[str, str] | None = None,
    source: str = "samples",
) -> list[PlannedFit]:
    """Apply the missing-visit rule, group contrasts sharing a sample set, build and check each design.

    Nothing is fitted here: a rank-deficient design or a contrast without two pairs fails now.

    Parameters
    ----------
    obs
        The analysed samples.
    contrasts
        The contrasts (their levels must exist: see :func:`~myocit_omics.de.contrasts.check_contrasts`).
    formula
        The design formula.
    rule
        ``keep`` or ``drop`` (:data:`~myocit_omics.de.design.RULES`).
    reference_levels
        Extra reference levels (e.g. of the interaction variable).
    source
        Name of the sample table, for messages.

    Returns
    -------
    list of PlannedFit
    """
    groups: dict[tuple[str, ...], list[ContrastSpec]] = {}
    selections: dict[str, SampleSelection] = {}
    for c in contrasts:
        sel = select_samples(obs, c, rule=rule)  # type: ignore[arg-type]
        selections[c.id] = sel
        groups.setdefault(sel.samples, []).append(c)
    plans = []
    for samples, members in groups.items():
        refs = pd.Series([c.reference for c in members]).value_counts()
        levels = {members[0].variable: str(refs.index[0]), **dict(reference_levels or {})}
        sub = obs.loc[list(samples)]
        design = build_design(sub, formula, reference_levels=levels, source=source)
        check_full_rank(design, sub, context="contrast(s) " + ", ".join(c.id for c in members))
        plans.append(PlannedFit(formula=formula, samples=samples, contrasts=members, design=design,
                                selections={c.id: selections[c.id] for c in members}))
    return plans


def run_fits(
    plans: Sequence[PlannedFit],
    counts: pd.DataFrame,
    *,
    params: DEParams,
    gene_names: pd.Series | None = None,
) -> list[ContrastResult]:
    """Fit each planned design once and test its contrasts.

    Parameters
    ----------
    plans
        From :func:`plan_fits`.
    counts
        Samples x genes raw counts (at least the planned samples).
    params
        DE parameters (alpha, shrinkage, workers).
    gene_names
        Gene symbol by gene id.

    Returns
    -------
    list of ContrastResult
        In plan order, then contrast order.
    """
    out = []
    for plan in plans:
        t0 = time.perf_counter()
        model = fit_model(counts.loc[list(plan.samples)], plan.design, n_cpus=params.threads)
        log.info("fitted %s on %d samples x %d genes in %.1f s", plan.formula, len(plan.samples),
                 counts.shape[1], time.perf_counter() - t0)
        for c in plan.contrasts:
            table, notes = contrast_results(model, c, gene_names=gene_names, alpha=params.alpha,
                                            shrink=params.shrink)
            out.append(ContrastResult(contrast=c, table=table, plan=plan, engine=model.engine,
                                      notes=model.notes + notes if c is plan.contrasts[0] else notes))
    return out


def _bool_column(values: pd.Series, *, file: str, column: str) -> pd.Series:
    """Return a boolean Series from bools or true/false strings; refuse anything else."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(bool)
    mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
    out = {}
    for idx, v in values.items():
        key = str(v).strip().lower()
        if isinstance(v, (bool, np.bool_)):
            out[idx] = bool(v)
        elif key in mapping:
            out[idx] = mapping[key]
        else:
            raise InputError("not a yes/no value", file=file, column=column, value=v,
                             expected=f"true or false (row {idx!r})", rule="de.bool")
    return pd.Series(out, dtype=bool).reindex(values.index)


def read_responders(responders: pd.DataFrame | str | Path, *, variable: str = "responder") -> pd.Series:
    """Read a responder table (patient_id, responder) into a Series of bool by patient.

    Parameters
    ----------
    responders
        A DataFrame or a CSV/TSV file with columns ``patient_id`` and ``variable``.
    variable
        Column name of the status.

    Returns
    -------
    pandas.Series
        Status by patient_id (missing values stay missing).

    Raises
    ------
    InputError
        Missing columns, duplicated patients or values that are not yes/no.
    """
    label = "responders"
    if not isinstance(responders, pd.DataFrame):
        from myocit_omics.io.tables import read_table

        label = Path(responders).name
        responders = read_table(responders, name=label)
    for col in ("patient_id", variable):
        if col not in responders.columns:
            raise InputError("responder table lacks a column", file=label, column=col,
                             expected=f"columns patient_id and {variable}; found {list(responders.columns)}",
                             rule="de.responders")
    pid = responders["patient_id"].astype(str)
    dup = pid[pid.duplicated()]
    if not dup.empty:
        raise InputError("patient listed twice in the responder table", file=label, column="patient_id",
                         row=int(dup.index[0]) + 2, value=dup.iloc[0], expected="one row per patient",
                         rule="de.responders")
    status = responders[variable]
    known = status.notna() & (status.astype(str).str.strip() != "") & (status.astype(str) != "NA")
    out = pd.Series(pd.NA, index=pid.to_numpy(), dtype="boolean")
    out[known.to_numpy()] = _bool_column(status[known], file=label, column=variable).to_numpy()
    return out


def _read_expression(adata_path: str | Path) -> Any:
    import anndata

    path = Path(adata_path)
    if not path.is_file():
        raise InputError("expression AnnData not found", file=str(path), expected="an .h5ad file",
                         rule="de.input")
    adata = anndata.read_h5ad(path)
    problems = []
    for col in ("patient_id", "visit", "qc_pass"):
        if col not in adata.obs.columns:
            problems.append(Problem(file=path.name, column=f"obs.{col}", message="column missing",
                                    expected=f"obs columns patient_id, visit, qc_pass; found "
                                             f"{list(adata.obs.columns)}", rule="de.obs"))
    if "counts" not in adata.layers:
        problems.append(Problem(file=path.name, column="layers", value=list(adata.layers.keys()),
                                message="raw counts layer missing", expected="layers['counts']",
                                rule="de.counts"))
    if problems:
        raise ValidationFailed(problems, context=path.name)
    return adata


def _counts_frame(adata: Any) -> pd.DataFrame:
    x = adata.layers["counts"]
    if hasattr(x, "toarray"):
        x = x.toarray()
    return pd.DataFrame(np.asarray(x), index=adata.obs_names.astype(str), columns=adata.var_names.astype(str))


def select_analysed_samples(
    obs: pd.DataFrame,
    contrasts: Sequence[ContrastSpec],
    *,
    source: str,
    extra_levels: Mapping[str, Sequence[str]] | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Keep the samples that passed QC, are patients and are at a level of some contrast.

    Parameters
    ----------
    obs
        Every sample of the AnnData.
    contrasts
        The contrasts.
    source
        File name, for messages.
    extra_levels
        More levels to keep per variable (the study's omics visits: under rule ``keep`` every
        visit informs the dispersions even if no contrast compares it).

    Returns
    -------
    obs : pandas.DataFrame
        The analysed samples.
    left_out : dict
        Sample id -> why it was left out.
    """
    qc = _bool_column(obs["qc_pass"], file=source, column="obs.qc_pass")
    reason = obs["qc_reason"].astype(str) if "qc_reason" in obs.columns else pd.Series("", index=obs.index)
    role = obs["role"].astype(str) if "role" in obs.columns else pd.Series("patient", index=obs.index)
    variables = {c.variable for c in contrasts}
    wanted = {(c.variable, lv) for c in contrasts for lv in c.visits}
    wanted |= {(v, str(lv)) for v, levels in (extra_levels or {}).items() if v in variables for lv in levels}
    left_out: dict[str, str] = {}
    keep = []
    for sid in obs.index:
        if not qc[sid]:
            text = reason[sid] if reason[sid] not in ("", "nan", "None", "NA") else "no reason given"
            left_out[str(sid)] = f"failed QC (qc_pass false: {text})"
        elif role[sid] not in ("patient", "nan", "None", ""):
            left_out[str(sid)] = f"role {role[sid]!r}: not part of the paired design"
        elif not any((v, str(obs.at[sid, v])) in wanted for v in variables if v in obs.columns):
            vis = ", ".join(f"{v}={obs.at[sid, v]}" for v in sorted(variables) if v in obs.columns)
            left_out[str(sid)] = f"{vis} is neither a level of any contrast nor an omics visit"
        else:
            keep.append(sid)
    return obs.loc[keep], left_out


def _write_gsea(
    res: pd.DataFrame,
    contrast: ContrastSpec,
    *,
    tree: ResultsTree,
    params: DEParams,
    gene_sets: Mapping[str, GeneSet],
    seed: int,
    summary: dict[str, Any],
) -> None:
    paths = summary["paths"]
    ranking, notes = ranking_from_results(res)
    t0 = time.perf_counter()
    table, pre, gnotes = run_prerank(
        ranking, gene_sets, contrast_id=contrast.id, permutations=params.gsea_permutations, seed=seed,
        min_size=params.gsea_min_size, max_size=params.gsea_max_size, threads=params.threads,
        engine=params.gsea_engine)
    log.info("GSEA %s: %d sets in %.2f s (%s engine)", contrast.id, len(table), time.perf_counter() - t0,
             params.gsea_engine)
    summary["warnings"].extend(notes + gnotes)
    paths.append(str(write_tsv(table, tree.table(f"gsea/{contrast.id}")).relative_to(tree.root)))
    if pre is not None:
        t0 = time.perf_counter()
        terms = plotted_terms(table, params.gsea_plots)
        labels = [IFN_SETS[t][1] if t in IFN_SETS else gene_sets[t].label for t in terms]
        plots = [(t, tree.plot(f"gsea/{contrast.id}_{label}"), f"{t} ({contrast.id})")
                 for t, label in zip(terms, labels, strict=True)]
        drawing.call(enrichment_plots, pre.for_plots(terms), plots)
        paths.extend(str(Path(p).relative_to(tree.root)) for _, p, _ in plots)
        log.info("GSEA %s: %d enrichment plots handed over in %.2f s", contrast.id, len(plots),
                 time.perf_counter() - t0)
    summary["top_gene_sets"][contrast.id] = table.sort_values("nes")["gene_set"].head(5).tolist()


def plotted_terms(table: pd.DataFrame, n_top: int) -> list[str]:
    """Return the sets of a GSEA table that get an enrichment plot: the IFN sets, then the top ``n_top``.

    The top sets are those with the smallest p-value (then largest |NES|; the table's order) that
    are not IFN sets.
    """
    ifn = ifn_terms(table)
    top = [t for t in table["gene_set"] if t not in IFN_SETS][:n_top]
    return ifn + top


def _write_contrast(
    res: pd.DataFrame,
    contrast: ContrastSpec,
    *,
    tree: ResultsTree,
    params: DEParams,
    gene_sets: Mapping[str, GeneSet],
    seed: int,
    summary: dict[str, Any],
) -> None:
    paths = summary["paths"]
    paths.append(str(write_tsv(res, tree.table(f"de/{contrast.id}")).relative_to(tree.root)))
    highlight = ifn_genes()
    title = f"{contrast.id} ({contrast.describe()})"
    top_down = [g for g in res.dropna(subset=["padj"]).sort_values("stat")["gene_name"].head(5)]
    volcano, ma = tree.plot(f"de/{contrast.id}_volcano"), tree.plot(f"de/{contrast.id}_ma")
    drawing.call(volcano_plot, res, volcano, title=contrast.id, alpha=params.alpha,
                 highlight=[g for g in highlight if g in top_down])
    drawing.call(ma_plot, res, ma, title=title, alpha=params.alpha)
    paths.extend(str(p.relative_to(tree.root)) for p in (volcano, ma))
    sig = res["padj"] < params.alpha
    summary["n_significant"][contrast.id] = {
        "total": int(sig.sum()), "up": int((sig & (res["log2_fc"] > 0)).sum()),
        "down": int((sig & (res["log2_fc"] < 0)).sum()), "tested": int(res["padj"].notna().sum()),
    }
    summary["top_genes"][contrast.id] = res.dropna(subset=["padj"]).sort_values("padj")["gene_name"].head(
        10).tolist()
    if params.gsea:
        _write_gsea(res, contrast, tree=tree, params=params, gene_sets=gene_sets, seed=seed, summary=summary)
    if params.ora:
        ora, onotes = run_ora(res, gene_sets, contrast_id=contrast.id, padj_cutoff=params.alpha)
        summary["warnings"].extend(onotes)
        paths.append(str(write_tsv(ora, tree.table(f"ora/{contrast.id}")).relative_to(tree.root)))


def run_de(
    adata_path: str | Path,
    *,
    config: StudyConfig,
    tree: ResultsTree,
    responders: pd.DataFrame | str | Path | None = None,
) -> dict[str, Any]:
    """Run paired DE and GSEA for every contrast of the study configuration.

    Parameters
    ----------
    adata_path
        The expression AnnData (obs patient_id, visit, qc_pass[, qc_reason, role, seq_batch];
        var gene_name; ``layers["counts"]``).
    config
        Study configuration: ``contrasts`` and the ``de`` section (:class:`DEParams`).
    tree
        Results tree of the run.
    responders
        Optional responder table (patient_id, responder) for the visit x responder interaction;
        alternatively an obs column named by ``de.interaction``.

    Returns
    -------
    dict
        ``contrasts`` (ids), ``n_significant`` per contrast, ``design``, ``rule`` (name and meaning),
        ``patients_dropped`` and ``unpaired_patients`` per contrast, ``samples_left_out`` (sample ->
        reason), ``n_samples``, ``genes_tested``/``genes_filtered``, ``engine``, ``paths`` and ``warnings``.

    Raises
    ------
    InputError, ValidationFailed
        Bad input or configuration (missing columns, unknown contrast levels, bad parameters).
    AnalysisError
        A rank-deficient design or a contrast with fewer than two pairs, before any fitting.
    """
    t_start = time.perf_counter()
    params = DEParams.from_config(config.de)
    adata = _read_expression(adata_path)
    source = Path(adata_path).name
    obs_all = adata.obs.copy()
    obs_all.index = obs_all.index.astype(str)
    contrasts = contrasts_from_config(config)
    check_contrasts(contrasts, obs_all, source=source)
    obs, left_out = select_analysed_samples(obs_all, contrasts, source=source,
                                            extra_levels={"visit": config.omics_visits})
    check_contrasts(contrasts, obs, source=f"{source} (samples passing QC)")
    counts_all = _counts_frame(adata)
    check_counts(counts_all, source=f"{source} layers['counts']")
    counts = counts_all.loc[obs.index]
    total = counts.sum(axis=0)
    keep_genes = total >= params.min_total_count
    counts = counts.loc[:, keep_genes]
    gene_names = (adata.var["gene_name"].astype(str) if "gene_name" in adata.var.columns
                  else pd.Series(adata.var_names.astype(str), index=adata.var_names.astype(str)))
    gene_names.index = gene_names.index.astype(str)

    formula = params.formula
    plans = plan_fits(obs, contrasts, formula=formula, rule=params.missing_visit_rule, source=source)

    # Interaction (visit x responder): its own design, planned and checked before any fit.
    inter: dict[str, Any] = {}
    ivar = params.interaction or ("responder" if responders is not None else None)
    if ivar is not None:
        inter_obs = obs.copy()
        if responders is not None:
            status = read_responders(responders, variable=ivar)
            inter_obs[ivar] = inter_obs["patient_id"].astype(str).map(status)
        elif ivar not in inter_obs.columns:
            raise InputError("the interaction variable is neither an obs column nor given as a table",
                             file=source, column=ivar, expected="a responder table (patient_id, responder)",
                             rule="de.interaction")
        unknown = inter_obs[ivar].isna()
        no_status = sorted(set(inter_obs.loc[unknown, "patient_id"].astype(str)))
        inter_obs = inter_obs[~unknown].copy()
        inter_obs[ivar] = inter_obs[ivar].astype(str)
        base = plans[0].design.factors[contrasts[0].variable].reference
        icontrasts = interaction_contrasts([c for c in contrasts if c.reference == base],
                                           variable=ivar, level=params.interaction_level)
        check_contrasts(icontrasts, inter_obs, source=f"{source} (interaction)")
        ilevels = natural_levels(inter_obs[ivar])
        iref = next((lv for lv in ilevels if lv != params.interaction_level), params.interaction_level)
        iformula = f"{formula} + {contrasts[0].variable}:{ivar}"
        plans += plan_fits(inter_obs, icontrasts, formula=iformula, rule=params.missing_visit_rule,
                           reference_levels={ivar: iref}, source=f"{source} (interaction)")
        inter = {"variable": ivar, "level": params.interaction_level, "reference_level": iref,
                 "design": iformula, "patients_without_status": no_status}

    n_contrasts = sum(len(p.contrasts) for p in plans)
    progress.report(0.05, f"fitting {len(plans)} DESeq2 model(s) for {n_contrasts} contrast(s) on "
                    f"{counts.shape[0]} samples")
    results = run_fits(plans, counts, params=params, gene_names=gene_names)
    progress.report(0.5, "models fitted; writing contrasts and running GSEA")

    gene_sets, gs_notes = load_gene_sets(params.gene_sets) if params.gsea or params.ora else ({}, [])
    summary: dict[str, Any] = {
        "contrasts": [r.contrast.id for r in results],
        "contrast_definitions": contrasts_summary([r.contrast for r in results]),
        "design": formula,
        "rule": {"name": params.missing_visit_rule, "meaning": RULES[params.missing_visit_rule]},
        "n_significant": {}, "top_genes": {}, "top_gene_sets": {},
        "patients_dropped": {}, "unpaired_patients": {}, "n_samples": {}, "n_pairs": {},
        "samples_left_out": left_out,
        "genes_tested": int(keep_genes.sum()), "genes_filtered": int((~keep_genes).sum()),
        "min_total_count": params.min_total_count,
        "engine": results[0].engine if results else None, "paths": [], "warnings": list(gs_notes),
    }
    if inter:
        summary["interaction"] = inter
    design_rows = []
    for i, r in enumerate(results, start=1):
        c, sel = r.contrast, r.selection
        progress.report(0.5 + 0.5 * (i - 1) / max(len(results), 1), f"contrast {c.id}: tables, plots, GSEA")
        summary["warnings"].extend(r.notes)
        dropped = list(sel.dropped) + (inter.get("patients_without_status", []) if c.interaction else [])
        summary["patients_dropped"][c.id] = dropped
        summary["unpaired_patients"][c.id] = sel.unpaired
        summary["n_samples"][c.id] = len(r.plan.samples)
        summary["n_pairs"][c.id] = sel.n_pairs
        _write_contrast(r.table, c, tree=tree, params=params, gene_sets=gene_sets, seed=config.seed,
                        summary=summary)
        design_rows.append({
            "contrast": c.id, "description": c.describe(), "design": r.plan.formula,
            "coefficients": ";".join(r.plan.design.matrix.columns),
            "rule": params.missing_visit_rule, "n_samples": len(r.plan.samples), "n_pairs": sel.n_pairs,
            "unpaired_patients": ";".join(f"{p}({','.join(v)})" for p, v in sel.unpaired.items()),
            "dropped_patients": ";".join(dropped),
            "n_significant": summary["n_significant"][c.id]["total"],
        })
    design_table = pd.DataFrame(design_rows)
    summary["paths"].insert(0, str(write_tsv(design_table, tree.table("de_design")).relative_to(tree.root)))
    summary["seconds"] = round(time.perf_counter() - t_start, 2)
    return summary
