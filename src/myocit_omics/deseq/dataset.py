"""``FastDeseqDataSet``: pydeseq2's ``DeseqDataSet`` with its one per-gene Python loop vectorised.

pydeseq2 0.5.4's ``_fit_parametric_dispersion_trend`` screens genes for an infinite or missing
covariate with a ``.loc`` lookup per gene (about 1 s per 20,000 genes, twice per fit when the
VST is asked for). This subclass does the same screen with one mask and otherwise runs
pydeseq2's algorithm step by step (same gamma-GLM calls through the inference object, same
outlier rule, same fallback to a mean trend with the same warning).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pydeseq2.dds import DeseqDataSet


class FastDeseqDataSet(DeseqDataSet):
    """A :class:`pydeseq2.dds.DeseqDataSet` whose parametric trend fit is vectorised."""

    def _fit_parametric_dispersion_trend(self, vst: bool = False) -> None:
        disp_param_name = "vst_genewise_dispersions" if vst else "genewise_dispersions"
        if disp_param_name not in self.var:
            self.fit_genewise_dispersions(vst)
        targets = pd.Series(
            self.var.loc[self.non_zero_genes, disp_param_name].copy(), index=self.non_zero_genes
        )
        covariates = pd.Series(
            1 / self.var.loc[self.non_zero_genes, "_normed_means"], index=self.non_zero_genes
        )
        usable = np.isfinite(covariates.to_numpy(dtype=float))
        targets, covariates = targets[usable], covariates[usable]

        old_coeffs: np.ndarray | pd.Series = pd.Series([0.1, 0.1])
        coeffs: np.ndarray | pd.Series = pd.Series([1.0, 1.0])
        while (coeffs > 1e-10).all() and (np.log(np.abs(coeffs / old_coeffs)) ** 2).sum() >= 1e-6:
            old_coeffs = coeffs
            coeffs, predictions, converged = self.inference.dispersion_trend_gamma_glm(covariates, targets)
            if not converged or (coeffs <= 1e-10).any():
                warnings.warn(
                    "The dispersion trend curve fitting did not converge. "
                    "Switching to a mean-based dispersion trend.",
                    UserWarning,
                    stacklevel=2,
                )
                self._fit_mean_dispersion_trend(vst)
                return
            pred_ratios = targets.to_numpy(dtype=float) / np.asarray(predictions, dtype=float)
            keep = ~((pred_ratios < 1e-4) | (pred_ratios >= 15))
            targets, covariates = targets[keep], covariates[keep]

        if vst:
            self.uns["vst_trend_coeffs"] = pd.Series(coeffs, index=["a0", "a1"])
        else:
            self.uns["trend_coeffs"] = pd.Series(coeffs, index=["a0", "a1"])
            self.var["fitted_dispersions"] = np.full(self.n_vars, np.nan)
            self.uns["disp_function_type"] = "parametric"
            self.var.loc[self.var["non_zero"], "fitted_dispersions"] = self.disp_function(
                self.var.loc[self.var["non_zero"], "_normed_means"]
            )
