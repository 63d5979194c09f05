"""The composition step of the trial analysis.

Entry point::

    run_composition(tree, *, config, home) -> dict

Reads ``anndata/expression.h5ad`` (after the expression step) and the frozen expression
reference it names, and writes:

``tables/composition.tsv``
    sample_id, patient_id, visit, cell_type, method, estimate, qc_pass, prednisone_mg_kg_day.
``tables/composition_marker_coverage.tsv``, ``composition_signature_coverage.tsv``,
``composition_nnls_fit.tsv``
    Genes of each marker list used, missing or unexpressed; the signature's gene coverage;
    the NNLS relative residual per sample.
``tables/ifn_scores_adjusted.tsv``
    The IFN scores on composition-adjusted expression (:mod:`myocit_omics.composition.adjust`),
    beside ``ifn_scores.tsv`` (never replacing it), with the method in column ``adjustment``;
    ``tables/composition_adjustment.tsv`` holds the frozen per-gene weights (signature method)
    or coefficients (regression method).
``tables/composition_de_sensitivity.tsv``
    Per contrast: IFN-gene calls (padj < 0.05) of the DE step, and how many survive a paired
    model with the composition estimates as covariates (full results in
    ``tables/composition_de/<contrast>.tsv``).
``plots/composition/*.png``
    By visit, per patient, against the prednisone dose.

Parameters (``composition`` section of study.yaml, all optional): ``enabled`` (default true;
false skips the step), ``signature`` (a signature matrix TSV, relative to the study home),
``adjust_for`` (cell types of the regression adjustment and the DE sensitivity model, default
neutrophil and monocyte), ``adjust_method`` (``auto``: from the signature when it covers the IFN
genes, else regression; ``signature``; ``regression``), ``signature_form`` (``exact`` or
``first_order``),
``de_sensitivity`` (default true), ``plots`` (default true).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from myocit_omics import drawing, progress
from myocit_omics.composition import plots
from myocit_omics.composition.adjust import (
    DEFAULT_ADJUST_FOR,
    MIN_SIGNATURE_IFN_COVERAGE,
    SIGNATURE_FORMS,
    fit_adjustment,
    fit_signature_adjustment,
)
from myocit_omics.composition.estimate import nnls_table
from myocit_omics.composition.markers import (
    MARKER_METHOD,
    marker_coverage,
    marker_scores,
    marker_sets,
    to_long,
)
from myocit_omics.composition.signature import Signature, match_genes, nnls_fractions, read_signature
from myocit_omics.config import StudyConfig
from myocit_omics.errors import InputError
from myocit_omics.expression.normalise import ExpressionReference, find_references, normalised_log
from myocit_omics.genesets import ifn_genes
from myocit_omics.interferon.reference import ScoreReference
from myocit_omics.interferon.scoring import DEFAULT_MIN_GENES, score_matrix
from myocit_omics.results import ResultsTree, write_tsv

log = logging.getLogger(__name__)

KNOWN_KEYS = {
    "enabled",
    "signature",
    "adjust_for",
    "adjust_method",
    "signature_form",
    "de_sensitivity",
    "plots",
}
ADJUST_METHODS = ("auto", "signature", "regression")
COMPOSITION_COLUMNS = [
    "sample_id",
    "patient_id",
    "visit",
    "cell_type",
    "method",
    "estimate",
    "qc_pass",
    "prednisone_mg_kg_day",
]


def composition_params(config: StudyConfig) -> dict[str, Any]:
    """Return the ``composition`` section with defaults; unknown keys are refused."""
    section = dict(getattr(config, "composition", None) or {})
    unknown = sorted(set(section) - KNOWN_KEYS)
    if unknown:
        raise InputError(
            "unknown composition parameter",
            file="study.yaml",
            column="composition",
            value=unknown,
            expected=f"some of {sorted(KNOWN_KEYS)}",
            rule="config.composition",
        )
    adjust = section.get("adjust_for", list(DEFAULT_ADJUST_FOR))
    method = str(section.get("adjust_method", "auto"))
    if method not in ADJUST_METHODS:
        raise InputError(
            "unknown composition adjustment method",
            file="study.yaml",
            column="composition.adjust_method",
            value=method,
            expected=f"one of {list(ADJUST_METHODS)}",
            rule="config.composition",
        )
    if method == "signature" and not section.get("signature"):
        raise InputError(
            "the signature adjustment needs a signature matrix",
            file="study.yaml",
            column="composition.adjust_method",
            value=method,
            expected="composition.signature naming a signature matrix TSV, or adjust_method auto/regression",
            rule="config.composition",
        )
    form = str(section.get("signature_form", "exact"))
    if form not in SIGNATURE_FORMS:
        raise InputError(
            "unknown form of the signature adjustment",
            file="study.yaml",
            column="composition.signature_form",
            value=form,
            expected=f"one of {list(SIGNATURE_FORMS)}",
            rule="config.composition",
        )
    return {
        "adjust_method": method,
        "signature_form": form,
        "enabled": bool(section.get("enabled", True)),
        "signature": section.get("signature"),
        "adjust_for": [adjust] if isinstance(adjust, str) else list(adjust),
        "de_sensitivity": bool(section.get("de_sensitivity", True)),
        "plots": bool(section.get("plots", True)),
    }


def _frozen_reference(adata: ad.AnnData, home: Path, file: str) -> ExpressionReference:
    uns = adata.uns.get("reference") or {}
    version = uns.get("version")
    found = find_references(home / "references")
    if version is None or int(version) not in found:
        raise InputError(
            "the frozen expression reference of the expression step is not found",
            file=file,
            column="uns.reference.version",
            value=version,
            expected=f"one of {sorted(found) or 'none'} in {home / 'references'}",
            rule="composition.reference",
        )
    return ExpressionReference.load(found[int(version)])


def _dose(tree: ResultsTree) -> pd.DataFrame | None:
    path = tree.table("clinical_outcomes")
    if not path.is_file():
        return None
    df = pd.read_csv(path, sep="\t", na_values=["NA"], keep_default_na=False, dtype={"patient_id": str})
    if "prednisone_mg_kg_day" not in df:
        return None
    return df[["patient_id", "visit", "prednisone_mg_kg_day"]].drop_duplicates(["patient_id", "visit"])


def _signature_by_symbol(signature: Signature, gene_ids: list[str], symbols: list[str]) -> pd.DataFrame:
    """Return the signature matrix with its genes named as the expression names them (symbols)."""
    pos, matched, _ = match_genes(signature, gene_ids, symbols)
    out = signature.matrix[matched].copy()
    out.columns = [symbols[p] for p in pos]
    return out.loc[:, ~out.columns.duplicated()]


def _adjustment(params, signature, set_genes, ref_frame, ref_wide, score_ref, gene_ids, symbols):
    """Choose and fit the adjustment; return it, the method text and warnings."""
    n_ref, label = len(score_ref.sample_ids), score_ref.label
    expressed = [g for g in set_genes if g in ref_frame.columns]
    notes: list[str] = []
    if signature is not None and params["adjust_method"] != "regression":
        sig = _signature_by_symbol(signature, gene_ids, symbols)
        covered = [g for g in expressed if g in sig.columns]
        share = len(covered) / len(expressed) if expressed else 0.0
        named = [c for c in signature.cell_types if c in ref_wide.columns]
        if params["adjust_method"] == "auto" and not named:
            notes.append(
                f"no cell type of the signature matrix ({', '.join(signature.cell_types)}) has a marker "
                f"score (named as {', '.join(ref_wide.columns)}): composition adjustment by regression "
                "instead"
            )
        elif params["adjust_method"] == "signature" or share >= MIN_SIGNATURE_IFN_COVERAGE:
            # the reference mixture: NNLS over the signature genes outside the IFN sets, so that the
            # reference patients' IFN activity cannot move the fractions
            other = [g for g in sig.columns if g in ref_frame.columns and g not in set(set_genes)]
            lin = np.expm1(ref_frame[other].to_numpy() * np.log(2.0))
            frac, _ = nnls_fractions(lin, sig[other].to_numpy())
            fractions = pd.DataFrame(frac, index=ref_frame.index, columns=sig.index)
            adjustment = fit_signature_adjustment(
                sig, fractions, expressed, list(ref_wide.columns), form=params["signature_form"]
            )
            scored = [c for c, s in zip(adjustment.cell_types, adjustment.scored, strict=True) if s]
            unscored = [c for c, s in zip(adjustment.cell_types, adjustment.scored, strict=True) if not s]
            mix = ", ".join(
                f"{c} {f:.3f}"
                for c, f in zip(adjustment.cell_types, adjustment.reference_fractions, strict=True)
            )
            form = params["signature_form"]
            text = (
                f"composition effect from the signature {Path(signature.source).name} ({form} mixture form) "
                f"on the marker scores of {', '.join(scored)}"
                + (f" ({', '.join(unscored)}: shares closed to 1)" if unscored else "")
                + f"; weights at the reference mixture, mean NNLS fractions of the {n_ref} reference samples "
                f"({label}): {mix}; {len(adjustment.genes)} of {len(expressed)} IFN-set genes adjusted"
            )
            return adjustment, text, notes
        else:
            notes.append(
                f"the signature matrix holds {len(covered)} of the {len(expressed)} expressed IFN-set "
                f"genes (< {MIN_SIGNATURE_IFN_COVERAGE:.0%}): composition adjustment by regression instead"
            )
    adjustment = fit_adjustment(ref_frame, ref_wide, set_genes, params["adjust_for"])
    text = (
        f"per-gene residuals on the {', '.join(params['adjust_for'])} marker scores, coefficients "
        f"frozen on the {n_ref} reference samples ({label})"
    )
    if not label.startswith("healthy"):
        notes.append(
            f"composition adjustment fitted on patient reference samples ({label}) whose IFN "
            "activity varies: a chance correlation of IFN activity with composition among them passes into "
            "the coefficients, so the adjusted scores can track IFN activity worse than the unadjusted ones "
            "(docs/composition.md); a signature matrix or a healthy-control reference avoids this"
        )
    return adjustment, text, notes


def _figures(table: pd.DataFrame, tree: ResultsTree) -> dict[str, str]:
    """Hand the composition figures to the figure process; return their paths by key."""
    makers = {"by_visit": plots.by_visit_figure, "per_patient": plots.per_patient_figure}
    if table["prednisone_mg_kg_day"].notna().any():
        makers["against_prednisone"] = plots.dose_figure
    keys = {"against_prednisone": "plot_dose"}
    return {keys.get(name, f"plot_{name}"): str(drawing.figure(tree.plot(f"composition/{name}"), make, table,
                                                               MARKER_METHOD))
            for name, make in makers.items()}


def run_composition(tree: ResultsTree, *, config: StudyConfig, home: str | Path) -> dict[str, Any]:
    """Composition estimates, adjusted IFN scores, DE sensitivity; tables, figures (module docstring).

    Returns
    -------
    dict
        ``summary``, ``paths``, ``cell_types``, ``methods``, ``adjust_for``, ``warnings`` and
        the DE sensitivity counts.
    """
    from myocit_omics.expression.pipeline import IFN_SCORE_COLUMNS, _gene_names, _gene_sets, _score_reference

    params = composition_params(config)
    home = Path(home)
    path = tree.anndata("expression")
    if not path.is_file():
        raise InputError(
            "expression AnnData not found",
            file=str(path),
            expected="the expression step's output",
            rule="composition.input",
        )
    adata = ad.read_h5ad(path)
    obs = adata.obs.copy()
    obs.index = obs.index.astype(str)
    counts = adata.layers["counts"]
    counts = np.asarray(counts.toarray() if hasattr(counts, "toarray") else counts, dtype=float)
    gene_ids = [str(g) for g in adata.var_names]
    symbols = _gene_names(adata)
    ref = _frozen_reference(adata, home, str(path))
    score_ref, upos = _score_reference(ref)
    gpos = pd.Index(gene_ids).get_indexer(ref.gene_ids)
    sf = obs["size_factor"].to_numpy(dtype=float)
    logn = normalised_log(counts[:, gpos], sf)[:, upos]
    frame = pd.DataFrame(logn, index=obs.index, columns=score_ref.genes)
    ref_frame = pd.DataFrame(score_ref.log, index=score_ref.sample_ids, columns=score_ref.genes)
    ref_mean = pd.Series(score_ref.mean_log, index=score_ref.genes)
    warnings: list[str] = []
    paths: dict[str, str] = {}

    # 1. marker scores against the frozen reference (and NNLS with the user's signature)
    progress.report(0.0, "marker scores against the frozen reference")
    sets = marker_sets()
    wide = marker_scores(frame, ref_mean, sets)
    ref_wide = marker_scores(ref_frame, ref_mean, sets)
    coverage = marker_coverage(sets, score_ref.genes, symbols)
    parts = [to_long(wide, MARKER_METHOD)]
    signature = None
    if params["signature"]:
        sig_path = Path(params["signature"])
        sig_path = sig_path if sig_path.is_absolute() else home / sig_path
        signature = read_signature(sig_path)
        long, fit, sig_cov = nnls_table(counts, list(obs.index), gene_ids, symbols, signature)
        parts.append(long)
        paths["composition_nnls_fit"] = str(write_tsv(fit, tree.table("composition_nnls_fit")))
        paths["composition_signature_coverage"] = str(
            write_tsv(sig_cov, tree.table("composition_signature_coverage"))
        )
    table = pd.concat(parts, ignore_index=True)
    table = table.join(obs[["patient_id", "visit"]].astype(str), on="sample_id")
    table["qc_pass"] = table["sample_id"].map(obs["qc_pass"].astype(bool)) if "qc_pass" in obs else True
    dose = _dose(tree)
    if dose is not None:
        table = table.merge(dose, on=["patient_id", "visit"], how="left")
    else:
        table["prednisone_mg_kg_day"] = np.nan
        warnings.append(
            "no prednisone dose: tables/clinical_outcomes.tsv absent or without prednisone_mg_kg_day"
        )
    table = table[COMPOSITION_COLUMNS]
    paths["composition"] = str(write_tsv(table, tree.table("composition")))
    paths["composition_marker_coverage"] = str(write_tsv(coverage, tree.table("composition_marker_coverage")))

    figures = _figures(table, tree) if params["plots"] else {}  # drawn while steps 2 and 3 run

    # 2. composition-adjusted IFN scores beside the unadjusted ones
    progress.report(0.3, "composition-adjusted IFN scores")
    gene_sets = _gene_sets(config, home)
    set_genes = sorted({g for gs in gene_sets.values() for g in gs.genes} | set(ifn_genes()))
    adjustment, method_text, adjust_notes = _adjustment(
        params, signature, set_genes, ref_frame, ref_wide, score_ref, gene_ids, symbols
    )
    warnings.extend(adjust_notes)
    adj_ref = ScoreReference(
        label=score_ref.label,
        sample_ids=list(score_ref.sample_ids),
        genes=score_ref.genes,
        log=adjustment.apply(ref_frame, ref_wide).to_numpy(),
        ssgsea_span=ref.ssgsea_span,
        version=ref.name,
        checksum=ref.checksum,
    )
    methods = config.interferon.get("methods") or None
    kwargs = {"methods": methods} if methods else {}
    result = score_matrix(
        adjustment.apply(frame, wide),
        reference=adj_ref,
        gene_sets=gene_sets,
        min_genes=int(config.interferon.get("min_genes", DEFAULT_MIN_GENES)),
        present_genes=symbols,
        random_state=config.seed % (2**32),
        **kwargs,
    )
    adjusted = result.scores.join(obs[["patient_id", "visit"]].astype(str), on="sample_id")
    adjusted["qc_pass"] = adjusted["sample_id"].map(obs["qc_pass"].astype(bool)) if "qc_pass" in obs else True
    adjusted["adjustment"] = method_text
    paths["ifn_scores_adjusted"] = str(
        write_tsv(adjusted[[*IFN_SCORE_COLUMNS, "adjustment"]], tree.table("ifn_scores_adjusted"))
    )
    paths["composition_adjustment"] = str(write_tsv(adjustment.table(), tree.table("composition_adjustment")))

    # 3. DE sensitivity model with composition covariates
    sensitivity = None
    if params["de_sensitivity"]:
        progress.report(0.5, "DE sensitivity model with composition covariates")
        from myocit_omics.composition.sensitivity import de_sensitivity

        sensitivity, sens_paths, notes = de_sensitivity(
            adata, wide, params["adjust_for"], config=config, tree=tree
        )
        paths.update(sens_paths)
        warnings.extend(notes)

    # 4. figures (handed to the figure process after step 1)
    if params["plots"]:
        progress.report(0.9, "figures")
        paths.update(figures)
    for w in warnings:
        log.warning(w)
    methods_used = sorted(set(table["method"]))
    summary = (
        f"{table['cell_type'].nunique()} cell types by {', '.join(methods_used)} in "
        f"{table['sample_id'].nunique()} samples against {ref.name}; adjusted IFN scores: {method_text}"
    )
    if sensitivity is not None and len(sensitivity):
        summary += "; IFN-gene DE calls surviving composition covariates: " + ", ".join(
            f"{r.contrast} {r.n_surviving}/{r.n_ifn_calls}" for r in sensitivity.itertuples()
        )
    return {
        "summary": summary,
        "paths": paths,
        "cell_types": sorted(set(table["cell_type"])),
        "methods": methods_used,
        "adjust_for": params["adjust_for"],
        "adjustment_method": method_text,
        "marker_lists": "BTM cell-type modules (Li et al. 2014), see gene_sets/README.md",
        "de_sensitivity": [] if sensitivity is None else sensitivity.to_dict("records"),
        "warnings": warnings,
    }
