"""Composition-adjusted IFN expression, frozen on the reference: from a signature matrix, or regressed.

Two methods (docs/composition.md says when each is used):

* :func:`fit_signature_adjustment` (``signature``, the default when the user's signature matrix
  covers the IFN genes): the composition effect on each gene is computed from the sorted-cell
  profiles, not estimated from patient samples, so IFN activity in the reference cannot pass
  into it.
* :func:`fit_adjustment` (``regression``): per-gene least squares on the reference samples.

Signature method. ``w_gc = f_c S_gc / sum_k f_k S_gk`` is the share of gene g's transcripts
that comes from cell type c in the reference mixture, where ``S`` is the signature and ``f``
the reference samples' mean NNLS fractions (fitted on the signature genes outside the IFN
sets, so that the reference's IFN activity cannot move them). A sample's log2 abundance change
of cell type c against the reference, ``D_c``, is its marker score (a log2 ratio against the
reference means, normalised like the genes, i.e. against the bulk of the transcriptome); the
cell types of the signature without a marker score share one change, set so that the shares
still sum to 1 (``sum_c f_c 2^D_c = 1``). For a mixture the composition effect is then exactly::

    E_g = log2(sum_c w_gc 2^D_c) - log2(sum_c f_c 2^D_c)

(the second term is 0 when the closure applies; it keeps ``E`` free of any constant added to
every ``D``), and the adjusted expression is ``log2 expression - E_g``. ``form="first_order"``
uses ``sum_c (w_gc - f_c) D_c`` (with the linearised closure) instead.

Regression method. For every gene of the scored IFN sets, a least-squares line is fitted on the frozen
reference samples only::

    log2(normalised count + 1)_g = a_g + sum_k b_gk (c_k - mean_ref(c_k)) + e

where ``c_k`` are the sample's marker scores of the chosen cell types (``composition.adjust_for``,
default neutrophils and monocytes). A sample's adjusted expression of gene ``g`` is its log
expression minus ``sum_k b_gk (c_k - mean_ref(c_k))``: what it would be with the reference's
mean composition. The adjusted reference is the reference samples adjusted the same way, and
the IFN sets are scored on the adjusted values by the same methods against it. The
coefficients depend on the frozen reference alone, so a later batch changes no earlier
adjusted score. Genes outside the IFN sets are left as they are.

Caveat (written into the methods): the coefficients are only as good as the reference is
large and varied in composition. Because IFN activity also varies between reference samples,
a chance correlation of IFN activity with a cell type among few reference samples passes into
``b_gk``; with n reference samples the error of ``b_gk`` scales as
``sd(IFN part) / (sd(c_k) * sqrt(n))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from myocit_omics.errors import InputError

DEFAULT_ADJUST_FOR = ("neutrophil", "monocyte")
SIGNATURE_FORMS = ("exact", "first_order")
#: Share of the reference universe's IFN-set genes a signature must hold for the signature method.
MIN_SIGNATURE_IFN_COVERAGE = 0.8


@dataclass(frozen=True)
class FrozenAdjustment:
    """Per-gene coefficients on composition, fitted on the reference samples."""

    cell_types: tuple[str, ...]
    centre: np.ndarray  # reference mean of each covariate
    genes: tuple[str, ...]
    coefficients: np.ndarray  # genes x cell types
    r_squared: np.ndarray

    def table(self) -> pd.DataFrame:
        """One row per gene: gene, coefficient per cell type, r_squared on the reference."""
        df = pd.DataFrame(self.coefficients, columns=[f"coef_{c}" for c in self.cell_types])
        df.insert(0, "gene", list(self.genes))
        df["r_squared_reference"] = self.r_squared
        return df.round(6)

    def apply(self, log: pd.DataFrame, covariates: pd.DataFrame) -> pd.DataFrame:
        """Return an adjusted copy of ``log`` (samples x genes): the frozen composition effect removed."""
        x = covariates.loc[log.index, list(self.cell_types)].to_numpy(dtype=float) - self.centre[None, :]
        out = log.copy()
        cols = [g for g in self.genes if g in out.columns]
        pos = [self.genes.index(g) for g in cols]
        out[cols] = out[cols].to_numpy() - x @ self.coefficients[pos].T
        return out


def fit_adjustment(
    ref_log: pd.DataFrame, ref_covariates: pd.DataFrame, genes: Sequence[str], cell_types: Sequence[str]
) -> FrozenAdjustment:
    """Fit the per-gene coefficients on the reference samples.

    Parameters
    ----------
    ref_log
        Reference samples x genes, log2 normalised expression.
    ref_covariates
        Reference samples x cell types, the marker scores.
    genes
        Genes to adjust (those absent from ``ref_log`` are skipped).
    cell_types
        Covariates.

    Raises
    ------
    InputError
        If a cell type has no estimate, or there are too few reference samples for the covariates.
    """
    missing = [c for c in cell_types if c not in ref_covariates.columns]
    if missing:
        raise InputError(
            "cannot adjust for a cell type that has no composition estimate",
            file="study.yaml",
            column="composition.adjust_for",
            value=missing,
            expected=f"some of {list(ref_covariates.columns)}",
            rule="composition.adjust_for",
        )
    n = len(ref_log)
    if n < len(cell_types) + 3:
        raise InputError(
            "too few reference samples to fit the composition adjustment",
            file="study.yaml",
            column="composition.adjust_for",
            value=n,
            expected=f">= {len(cell_types) + 3} reference samples for {len(cell_types)} covariates",
            rule="composition.adjust_too_few",
        )
    x = ref_covariates.loc[ref_log.index, list(cell_types)].to_numpy(dtype=float)
    centre = x.mean(axis=0)
    design = np.column_stack([np.ones(n), x - centre])
    use = [g for g in dict.fromkeys(genes) if g in ref_log.columns]
    y = ref_log[use].to_numpy(dtype=float)
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ beta
    ss_res = ((y - fitted) ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), np.nan)
    return FrozenAdjustment(
        cell_types=tuple(cell_types),
        centre=centre,
        genes=tuple(use),
        coefficients=beta[1:].T.copy(),
        r_squared=r2,
    )


@dataclass(frozen=True)
class SignatureAdjustment:
    """Composition effect per gene computed from a signature matrix at the reference mixture.

    Attributes
    ----------
    cell_types
        The signature's cell types.
    reference_fractions
        ``f``: the reference samples' mean NNLS fractions (sum 1).
    genes
        Genes adjusted (IFN-set genes present in the signature and the reference).
    weights
        Genes x cell types, ``w_gc``: the share of gene g's transcripts from cell type c.
    scored
        Per cell type, whether its change comes from its marker score (else from the closure).
    form
        ``exact`` or ``first_order``.
    """

    cell_types: tuple[str, ...]
    reference_fractions: np.ndarray
    genes: tuple[str, ...]
    weights: np.ndarray
    scored: tuple[bool, ...]
    form: str = "exact"

    def table(self) -> pd.DataFrame:
        """One row per gene: gene, weight per cell type; the reference fractions as row ``(reference)``."""
        df = pd.DataFrame(self.weights, columns=[f"weight_{c}" for c in self.cell_types])
        df.insert(0, "gene", list(self.genes))
        ref = pd.DataFrame([["(reference fractions)", *self.reference_fractions]], columns=df.columns)
        return pd.concat([ref, df], ignore_index=True).round(6)

    def changes(self, covariates: pd.DataFrame) -> np.ndarray:
        """Return samples x cell types ``D``: marker scores, the unscored types from the closure."""
        f = self.reference_fractions
        scored = np.array(self.scored)
        d = np.zeros((len(covariates), len(self.cell_types)))
        names = [c for c, s in zip(self.cell_types, self.scored, strict=True) if s]
        d[:, scored] = covariates[names].to_numpy(dtype=float)
        rest = f[~scored].sum()
        if rest > 0:
            if self.form == "exact":
                left = 1.0 - (f[scored][None, :] * 2.0 ** d[:, scored]).sum(axis=1)
                # a closure that cannot be met (scored shares alone >= 1) is held at a quarter of the share
                d[:, ~scored] = np.log2(np.maximum(left, 0.25 * rest) / rest)[:, None]
            else:
                d[:, ~scored] = (-(f[scored][None, :] * d[:, scored]).sum(axis=1) / rest)[:, None]
        return d

    def effect(self, covariates: pd.DataFrame) -> np.ndarray:
        """Return samples x genes, the composition effect ``E`` (log2) of each adjusted gene."""
        d = self.changes(covariates)
        f = self.reference_fractions
        if self.form == "exact":
            return np.log2(2.0**d @ self.weights.T) - np.log2(2.0**d @ f)[:, None]
        return d @ self.weights.T - (d @ f)[:, None]

    def apply(self, log: pd.DataFrame, covariates: pd.DataFrame) -> pd.DataFrame:
        """Return an adjusted copy of ``log`` (samples x genes): the composition effect removed."""
        out = log.copy()
        cols = [g for g in self.genes if g in out.columns]
        pos = [self.genes.index(g) for g in cols]
        out[cols] = out[cols].to_numpy() - self.effect(covariates.loc[log.index])[:, pos]
        return out


def fit_signature_adjustment(
    signature: pd.DataFrame,
    reference_fractions: pd.DataFrame,
    genes: Sequence[str],
    marker_types: Sequence[str],
    *,
    form: str = "exact",
) -> SignatureAdjustment:
    """Composition effects from a signature at the reference mixture.

    Parameters
    ----------
    signature
        Cell types x genes, linear scale (:class:`~myocit_omics.composition.signature.Signature`
        ``.matrix``, columns renamed to the expression's gene names).
    reference_fractions
        Reference samples x cell types, NNLS fractions (their mean is the reference mixture).
    genes
        Genes to adjust; those absent from the signature are left out (and stay unadjusted).
    marker_types
        Cell types with a marker score (their change comes from it).
    form
        ``exact`` or ``first_order``.

    Raises
    ------
    InputError
        If the reference mixture is empty or no cell type of the signature has a marker score.
    """
    if form not in SIGNATURE_FORMS:
        raise InputError(
            "unknown form of the signature adjustment",
            file="study.yaml",
            column="composition.signature_form",
            value=form,
            expected=f"one of {list(SIGNATURE_FORMS)}",
            rule="config.composition",
        )
    types = [str(c) for c in signature.index]
    f = reference_fractions[types].to_numpy(dtype=float).mean(axis=0)
    scored = tuple(c in set(marker_types) for c in types)
    if not np.isfinite(f).all() or f.sum() <= 0 or not any(scored):
        raise InputError(
            "the signature cannot be used for the composition adjustment",
            file="study.yaml",
            column="composition.signature",
            value=f"cell types {types}",
            expected=f"reference fractions and at least one cell type of {sorted(marker_types)}",
            rule="composition.signature_adjustment",
        )
    f = f / f.sum()
    use = [g for g in dict.fromkeys(genes) if g in signature.columns]
    s = signature[use].to_numpy(dtype=float).T  # genes x types
    mix = s * f[None, :]
    total = mix.sum(axis=1, keepdims=True)
    # a gene the reference mixture does not express cannot be apportioned: shares as the cells'
    w = np.where(total > 0, mix / np.where(total > 0, total, 1.0), f[None, :])
    return SignatureAdjustment(
        cell_types=tuple(types),
        reference_fractions=f,
        genes=tuple(use),
        weights=w,
        scored=scored,
        form=form,
    )
