"""The expression step of the trial analysis: QC, frozen normalisation, VST/log-CPM, IFN scores.

Entry point (docs/contracts.md section 6)::

    run_expression(adata_path, *, config, tree, home) -> dict

Parameters read from study.yaml:

``expression.qc``
    :class:`~myocit_omics.expression.qc.QcRule` (thresholds and ``exclude_on``).
``expression.gene_filter``
    :class:`~myocit_omics.expression.normalise.GeneFilterRule` (used when a reference is created).
``expression.reference_version``
    Pin a frozen reference version (default: the latest one made for the configured reference).
``reference``
    ``kind: pooled_visit, visit: W0`` (MYOCIT) or ``kind: healthy_control``.
``interferon.gene_sets``
    Extra GMT files (relative to the study home) scored besides the shipped IFN sets.
``expression.plots``
    False skips the figures (tables and AnnData are still written).
``interferon.methods``, ``interferon.min_genes``, ``interferon.headline_set``
    Methods, smallest usable gene count, and the set label shown in the figures (``rice6``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from myocit_omics import drawing, progress
from myocit_omics.config import StudyConfig
from myocit_omics.errors import InputError
from myocit_omics.expression import plots
from myocit_omics.expression.normalise import (
    ExpressionReference,
    GeneFilterRule,
    ReferenceExists,
    find_references,
    log_cpm,
    normalised_log,
    size_factors,
)
from myocit_omics.expression.qc import QC_COLUMNS, QcRule, run_qc
from myocit_omics.genesets import IFN_SETS, GeneSet, ifn_gene_sets
from myocit_omics.interferon.api import symbol_universe
from myocit_omics.interferon.methods import METHODS, ssgsea_raw, ssgsea_span
from myocit_omics.interferon.reference import ScoreReference, reference_label, select_reference_samples
from myocit_omics.interferon.scoring import DEFAULT_MIN_GENES, score_matrix
from myocit_omics.results import ResultsTree, write_h5ad, write_tsv

log = logging.getLogger(__name__)

IFN_SCORE_COLUMNS = [
    "sample_id",
    "patient_id",
    "visit",
    "gene_set",
    "method",
    "score",
    "n_genes",
    "reference",
    "positive",
    "qc_pass",
]
REQUIRED_OBS = ("patient_id", "visit")


def _read_adata(path: Path) -> tuple[ad.AnnData, np.ndarray]:
    if not Path(path).is_file():
        raise InputError(
            "assembled expression AnnData not found",
            file=str(path),
            expected="an .h5ad file",
            rule="expression.input",
        )
    adata = ad.read_h5ad(path)
    counts = adata.layers["counts"] if "counts" in adata.layers else adata.X
    counts = counts.toarray() if hasattr(counts, "toarray") else np.asarray(counts)
    counts = np.asarray(counts, dtype=float)
    for col in REQUIRED_OBS:
        if col not in adata.obs:
            raise InputError(
                "the expression AnnData lacks a sample column",
                file=str(path),
                column=f"obs.{col}",
                expected=f"obs columns {', '.join(REQUIRED_OBS)}",
                rule="expression.obs",
            )
    bad = ~np.isfinite(counts) | (counts < 0)
    if bad.any():
        s, g = np.argwhere(bad)[0]
        raise InputError(
            "count is missing, negative or infinite",
            file=str(path),
            row=int(s) + 1,
            column=str(adata.var_names[g]),
            value=counts[s, g],
            expected="a non-negative count",
            rule="expression.counts",
        )
    if adata.n_obs < 3:
        raise InputError(
            "too few samples for expression QC",
            file=str(path),
            value=adata.n_obs,
            expected="at least 3 samples",
            rule="expression.samples",
        )
    return adata, counts


def _gene_names(adata: ad.AnnData) -> list[str]:
    names = (
        adata.var["gene_name"] if "gene_name" in adata.var else pd.Series(index=adata.var_names, dtype=object)
    )
    return [
        str(n) if isinstance(n, str) and n.strip() else str(g)
        for g, n in zip(adata.var_names, names, strict=True)
    ]


def _reference_spec(config: StudyConfig) -> str:
    return reference_label(config.reference.kind, config.reference.visit)


def _gene_sets(config: StudyConfig, home: Path) -> dict[str, GeneSet]:
    extra = config.interferon.get("gene_sets") or []
    extra = [extra] if isinstance(extra, str) else list(extra)
    return ifn_gene_sets([p if Path(p).is_absolute() else home / p for p in extra])


def _score_reference(ref: ExpressionReference) -> tuple[ScoreReference, np.ndarray]:
    """ScoreReference of a frozen expression reference, and the universe positions among its genes."""
    ref_log = normalised_log(ref.counts, ref.size_factors)
    pos = symbol_universe(ref.gene_names, ref_log)
    score_ref = ScoreReference(
        label=ref.reference,
        sample_ids=list(ref.sample_ids),
        genes=[ref.gene_names[i] for i in pos],
        log=ref_log[:, pos],
        ssgsea_span=ref.ssgsea_span,
        version=ref.name,
        checksum=ref.checksum,
    )
    return score_ref, pos


def _vst_module() -> Any:
    try:
        from myocit_omics.deseq import vst
    except ImportError:  # pragma: no cover - VST is delivered by the deseq package
        return None
    return vst


def create_reference(
    counts: np.ndarray,
    samples: pd.DataFrame,
    gene_ids: list[str],
    gene_names: list[str],
    *,
    spec: str,
    rule: GeneFilterRule,
    version: int,
    file: str,
) -> ExpressionReference:
    """Freeze a new expression reference from this run's QC-passed samples.

    The gene filter is applied to the QC-passed samples; the reference samples (per ``spec``)
    give the geometric means, the VST trend and the ssGSEA span (over the shipped IFN sets).
    """
    keep = rule.apply(counts)
    if keep.sum() < 10:
        raise InputError(
            "fewer than 10 genes pass the expression filter",
            file=file,
            value=int(keep.sum()),
            expected=rule.describe(),
            rule="expression.filter",
        )
    ref_ids = select_reference_samples(samples, spec, file=file)
    rows = samples.index.get_indexer(ref_ids)
    ref = ExpressionReference(
        version=version,
        reference=spec,
        sample_ids=ref_ids,
        gene_ids=[g for g, k in zip(gene_ids, keep, strict=True) if k],
        gene_names=[g for g, k in zip(gene_names, keep, strict=True) if k],
        counts=np.rint(counts[np.ix_(rows, np.flatnonzero(keep))]).astype(np.int64),
        gene_filter={**rule.__dict__, "description": rule.describe()},
        n_genes_input=len(gene_ids),
    )
    vst = _vst_module()
    if vst is not None:
        trend = vst.fit_vst_trend(ref.counts, ref.size_factors)
        ref.vst = trend.to_dict()
    score_ref, _ = _score_reference(ref)
    default_sets = {n: gs for n, gs in ifn_gene_sets().items() if n in IFN_SETS}
    cols = [
        np.array([score_ref.gene_index.get_loc(g) for g in gs.genes if g in score_ref.gene_index])
        for gs in default_sets.values()
    ]
    cols = [c for c in cols if len(c) > 0]
    if cols:
        ref.ssgsea_span = ssgsea_span(ssgsea_raw(score_ref.log, cols))
    return ref


def load_or_create_reference(
    home: Path,
    counts: np.ndarray,
    samples: pd.DataFrame,
    gene_ids: list[str],
    gene_names: list[str],
    *,
    config: StudyConfig,
    file: str,
) -> tuple[ExpressionReference, bool]:
    """Load the frozen reference of the study (pinned or latest for the configured kind), or create v1/vN."""
    folder = home / "references"
    spec = _reference_spec(config)
    found = find_references(folder)
    pinned = config.expression.get("reference_version")
    if pinned is not None:
        if int(pinned) not in found:
            raise InputError(
                "pinned frozen reference not found",
                file=str(folder),
                column="expression.reference_version",
                value=pinned,
                expected=f"one of {sorted(found) or 'none yet'}",
                rule="reference.missing",
            )
        return ExpressionReference.load(found[int(pinned)]), False
    for version in sorted(found, reverse=True):
        ref = ExpressionReference.load(found[version])
        if ref.reference == spec:
            return ref, False
    rule = GeneFilterRule.from_config(config.expression.get("gene_filter"))
    ref = create_reference(
        counts,
        samples,
        gene_ids,
        gene_names,
        spec=spec,
        rule=rule,
        version=max(found, default=0) + 1,
        file=file,
    )
    # Lock-free: two runs may get here at once. save() publishes each file exclusively (hard
    # link), so one run writes version N; the other waits for N's JSON (published last), loads
    # it (the arrays' checksum is verified) and reuses it if it is the same kind of reference,
    # else tries N + 1. Nobody reads a half-written file.
    while True:
        try:
            ref.save(folder)
            return ref, True
        except ReferenceExists:
            other = _wait_for_reference(folder, ref.name)
            if other.reference == spec:
                return other, False
            ref.version += 1


def _wait_for_reference(folder: Path, name: str, *, timeout: float = 300.0) -> ExpressionReference:
    """Return the frozen reference ``name`` once its JSON is published (another run is writing it)."""
    import time

    json_path = folder / f"{name}.json"
    deadline = time.monotonic() + timeout
    while not json_path.exists():
        if time.monotonic() > deadline:
            raise InputError(
                "a frozen reference's arrays exist without its JSON (its writer stopped part way)",
                file=str(folder / f"{name}.npz"), expected=f"{json_path.name} next to it",
                rule="reference.incomplete", fix="remove the .npz file if no analysis is running, and rerun",
            )
        time.sleep(0.2)
    return ExpressionReference.load(json_path)


def _h5ad_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _h5ad_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_h5ad_safe(v) for v in value] if value else "none"
    return "NA" if value is None else value


def run_expression(
    adata_path: str | Path, *, config: StudyConfig, tree: ResultsTree, home: str | Path
) -> dict[str, Any]:
    """Run expression QC, frozen normalisation, VST/log-CPM and IFN scores; write tables, plots, AnnData.

    Parameters
    ----------
    adata_path
        The assembled AnnData (samples x genes; obs patient_id, visit, sex, role, seq_batch,
        batch_id; var gene_name; ``layers["counts"]``).
    config
        The study configuration.
    tree
        Results tree of the run.
    home
        Study home (frozen references live in ``<home>/references``).

    Returns
    -------
    dict
        For the manifest: paths written, reference used (name, version, checksum), excluded
        samples with reasons, missing samples, genes kept, refused gene sets, warnings.
    """
    home = Path(home)
    adata_path = Path(adata_path)
    adata, counts = _read_adata(adata_path)
    adata.obs_names = adata.obs_names.astype(str)
    obs = adata.obs.copy()
    if "role" not in obs:
        obs["role"] = "patient"
    gene_ids = [str(g) for g in adata.var_names]
    gene_names = _gene_names(adata)
    warnings: list[str] = []

    # 1. QC and the exclusion rule.
    progress.report(0.0, "QC: library size, detected genes, PCA, sex check, swaps")
    rule = QcRule.from_config(config.expression.get("qc"))
    # a visit is expected of every patient once any sample of it is present (a visit nobody has
    # yet, or one left out of this analysis, is not reported as missing for each patient)
    present = set(obs["visit"].astype(str))
    expected = [v for v in config.omics_visits if v in present]
    qc = run_qc(counts, obs, gene_names, rule=rule, expected_visits=expected, seed=config.seed)
    qc_table = qc.table.set_index("sample_id")
    passed = qc_table["qc_pass"].to_numpy(dtype=bool)
    if passed.sum() < 3:
        raise InputError(
            "fewer than 3 samples pass QC",
            file=str(adata_path),
            value=int(passed.sum()),
            expected="at least 3 QC-passed samples",
            rule="expression.qc_pass",
        )

    # the figures are drawn (in the figure process) while the step goes on
    draw = bool(config.expression.get("plots", True))
    figure_paths: dict[str, str] = {}

    def figure(name: str, make: Any, *args: Any, **kwargs: Any) -> None:
        if draw:
            figure_paths[f"plot_{name}"] = str(drawing.figure(tree.plot(name), make, *args, **kwargs))

    figure("qc_metrics", plots.qc_metrics_figure, qc.table, min_library_size=rule.min_library_size)
    if "seq_batch" in obs:
        figure("qc_pca_batch", plots.pca_figure, qc.pcs, qc.variance_ratio, qc.table, colour_by="seq_batch")
    figure("qc_pca_visit", plots.pca_figure, qc.pcs, qc.variance_ratio, qc.table, colour_by="visit")
    figure("qc_sex_check", plots.sex_check_figure, qc.table)

    # 2. Frozen reference: size factors, gene universe, VST trend, ssGSEA span.
    progress.report(0.3, "normalisation against the frozen reference, VST and log-CPM")
    ref, created = load_or_create_reference(
        home, counts[passed], obs[passed], gene_ids, gene_names, config=config, file=str(adata_path)
    )
    if ref.reference != _reference_spec(config):
        warnings.append(
            f"the pinned frozen reference {ref.name} is {ref.reference}, not the configured "
            f"{_reference_spec(config)}: scores are against {ref.reference}"
        )
    gpos = pd.Index(gene_ids).get_indexer(ref.gene_ids)
    if (gpos < 0).any():
        missing = ref.gene_ids[int(np.flatnonzero(gpos < 0)[0])]
        raise InputError(
            "a gene of the frozen reference is absent from the expression matrix",
            file=str(adata_path),
            column="var",
            value=missing,
            expected=f"all {len(ref.gene_ids)} genes of {ref.name}",
            rule="reference.genes",
            fix="use the same annotation, or pin/create another reference version",
        )
    kept = counts[:, gpos]
    sf = size_factors(kept, ref.log_geomeans, sample_ids=list(adata.obs_names))
    adata.obs["size_factor"] = sf
    adata.layers["counts"] = counts
    adata.layers["log_cpm"] = log_cpm(counts)
    vst = _vst_module()
    if ref.vst is not None and vst is not None:
        trend = vst.VstTrend(**ref.vst)
        adata.layers["vst"] = vst.vst_transform(np.rint(counts), sf, trend)
    else:
        warnings.append("no VST layer: the frozen reference has no VST trend")
    adata.var["expressed"] = np.isin(np.arange(len(gene_ids)), gpos)
    adata.var["gene_name"] = gene_names

    # 3. IFN scores against the frozen score reference (all samples; qc_pass says which to use).
    progress.report(0.55, "IFN scores: every gene set by every method")
    score_ref, upos = _score_reference(ref)
    log_norm = normalised_log(kept, sf)[:, upos]
    sets = _gene_sets(config, home)
    methods = config.interferon.get("methods") or list(METHODS)
    min_genes = int(config.interferon.get("min_genes", DEFAULT_MIN_GENES))
    result = score_matrix(
        pd.DataFrame(log_norm, index=adata.obs_names, columns=score_ref.genes),
        reference=score_ref,
        gene_sets=sets,
        methods=methods,
        min_genes=min_genes,
        present_genes=gene_names,
        random_state=config.seed % (2**32),
    )
    for name in result.refused:
        warnings.append(
            f"gene set {name!r} refused: " + result.coverage.set_index("gene_set").at[name, "status"]
        )
    if config.reference.kind != "healthy_control":
        warnings.append(
            f"IFN reference is {score_ref.label} (patients, no healthy controls): scores are relative "
            "to the cohort baseline and 'positive' means above its mean + 2 SD"
        )
    scores = result.scores.join(obs[["patient_id", "visit"]], on="sample_id")
    scores["qc_pass"] = scores["sample_id"].map(qc_table["qc_pass"])
    headline = str(config.interferon.get("headline_set", "rice6"))
    labels = list(pd.unique(scores["label"]))
    headline = headline if headline in labels else (labels[0] if labels else headline)
    figure("ifn_scores_by_visit", plots.ifn_by_visit_figure, scores, label=headline)
    figure("ifn_trajectories", plots.ifn_trajectories_figure, scores, label=headline)
    wide = result.wide()
    for col in wide.columns:
        adata.obs[col] = wide[col].reindex(adata.obs_names).to_numpy()

    # 4. QC columns into obs; AnnData metadata.
    for col in (
        "library_size",
        "detected_genes",
        "top_share",
        "pca_outlier",
        "sex_predicted",
        "sex_mismatch",
        "swap_suspect",
        "sex_score",
    ):
        values = qc_table[col].reindex(adata.obs_names)
        if values.dtype == object:
            values = values.astype(object).where(values.notna(), "NA").astype(str)
        adata.obs[f"qc_{col}"] = values.to_numpy()
    adata.obs["qc_pass"] = qc_table["qc_pass"].reindex(adata.obs_names).to_numpy(dtype=bool)
    adata.obs["qc_reason"] = qc_table["qc_reason"].reindex(adata.obs_names).astype(str).to_numpy()
    adata.obsm["X_pca"] = qc.pcs
    adata.uns["reference"] = _h5ad_safe({**ref.manifest(), "ifn_reference": score_ref.label})
    adata.uns["qc_rule"] = rule.describe()

    # 5. Write tables, figures and the AnnData.
    progress.report(0.85, "writing tables, figures and the AnnData")
    paths: dict[str, str] = {}
    qc_out = qc.table[QC_COLUMNS + [c for c in qc.table.columns if c not in QC_COLUMNS]]
    paths["qc_samples"] = str(write_tsv(qc_out, tree.table("qc_samples")))
    paths["qc_missing_samples"] = str(write_tsv(qc.missing, tree.table("qc_missing_samples")))
    paths["ifn_scores"] = str(write_tsv(scores[IFN_SCORE_COLUMNS], tree.table("ifn_scores")))
    paths["ifn_gene_coverage"] = str(write_tsv(result.coverage, tree.table("ifn_gene_coverage")))
    paths["ifn_thresholds"] = str(write_tsv(result.thresholds, tree.table("ifn_thresholds")))
    if not draw:
        warnings.append("figures not drawn (expression.plots: false)")
    paths.update(figure_paths)
    paths["anndata"] = str(write_h5ad(adata, tree.anndata("expression")))

    excluded = {sid: qc_table.at[sid, "qc_reason"] for sid in qc_table.index[~qc_table["qc_pass"]]}
    flagged = {
        sid: qc_table.at[sid, "qc_reason"]
        for sid in qc_table.index
        if qc_table.at[sid, "qc_pass"] and qc_table.at[sid, "qc_reason"]
    }
    for w in warnings:
        log.warning(w)
    return {
        "paths": paths,
        "n_samples": int(adata.n_obs),
        "n_qc_pass": int(passed.sum()),
        "excluded_samples": excluded,
        "flagged_samples": flagged,
        "missing_samples": [f"{r.patient_id} {r.visit}" for r in qc.missing.itertuples()],
        "qc_rule": rule.describe(),
        "n_genes_input": len(gene_ids),
        "n_genes_kept": len(ref.gene_ids),
        "gene_filter": ref.gene_filter.get("description"),
        "reference": {
            **ref.manifest(),
            "created_this_run": created,
            "path": str(home / "references" / ref.name),
            "ifn_reference": score_ref.label,
            "ifn_reference_samples": list(score_ref.sample_ids),
        },
        "gene_sets": [
            {"name": gs.name, "label": gs.label, "file": gs.source, "sha256": gs.sha256}
            for gs in sets.values()
        ],
        "methods": list(methods),
        "refused_gene_sets": result.refused,
        "warnings": warnings,
    }
