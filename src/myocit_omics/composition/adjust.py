"""Composition-adjusted IFN scores: per-gene residuals on composition estimates, frozen on the reference.

Method. For every gene of the scored IFN sets, a least-squares line is fitted on the frozen
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
