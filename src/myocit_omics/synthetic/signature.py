"""The demo's sorted-cell signature: per-cell-type expression consistent with the generator's loadings.

A lab adjusting whole-blood IFN scores for composition brings sorted-cell profiles. The
generator is log-linear in the cell-type shifts ``d_c`` (log2)::

    log2 mu_g = log2 base_g + sum_c L_gc d_c + (IFN, steroid, patient, batch terms)

and a mixture of cell types is not: its bulk level is ``sum_c f_c S_gc``. The profiles ``S`` are
built so that the mixture is the generator's tangent at the mean W0 composition (the demo's
reference), i.e. the mixture's first-order log2 response of gene ``g`` to the cell-type shifts is
``L_gc``, as planted. With ``f`` the transcript shares at that composition
(``RnaseqParameters.signature_shares``, including ``other``: the cells the generator does not
move, whose share absorbs the change of the others so that the shares sum to 1) and
``s_g = sum_c L_gc``::

    w_gc = L_gc + (1 - s_g) f_c     (modelled cell types)
    w_g,other = (1 - s_g) f_other
    S_gc = w_gc * B_g / f_c         (B_g: bulk counts per million at the mean W0 composition)

``w_gc`` is the share of gene g's transcripts that comes from cell type c; ``sum_c w_gc = 1`` and
``sum_c f_c S_gc = B_g``. A gene with no loading (``s_g = 0``) is expressed alike in every cell
type, so it anchors the normalisation as in the generator; an ISG with monocyte loading 0.45 has
``w_g,monocyte = 0.45 + 0.55 f_monocyte``. First order: with the shares held to sum 1, the
shift of ``other`` is ``-sum_c f_c d_c / f_other`` and gene g moves by
``sum_c (w_gc - w_g,other f_c / f_other) d_c = sum_c L_gc d_c``. A gene whose loadings sum to more
than 1 (a few markers: a mixture cannot move a gene more than its cell type) gets
``w_gc = L_gc / s_g`` and no ``other`` share. Negative loadings (rare followers) count as 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from myocit_omics.synthetic.params import RnaseqParameters

OTHER = "other"


def blood_signature(
    genes: pd.DataFrame, loadings: pd.DataFrame, samples: pd.DataFrame, params: RnaseqParameters
) -> pd.DataFrame:
    """Return the demo signature: cell types x genes, counts per million of sorted cells.

    Parameters
    ----------
    genes
        The gene truth of :class:`~myocit_omics.synthetic.rnaseq.RnaseqStudy` (``gene_name``,
        ``kind``, ``base_mean_20m``).
    loadings
        Genes x cell types, the generator's cell-type loadings (index gene_name).
    samples
        The sequenced samples (``visit``, ``prednisone_mg_kg_day``): the mean W0 dose sets the
        composition the mixture is matched at.
    params
        RNA-seq parameters (steroid shifts per mg/kg/day, ``signature_shares``).

    Returns
    -------
    pandas.DataFrame
        Cell types (rows, the generator's then ``other``) x named genes (not the synthetic or
        sex genes), linear scale, IFN activity at baseline.
    """
    shares = dict(params.signature_shares)
    celltypes = list(loadings.columns)
    f = np.array([shares[c] for c in celltypes])
    f_other = shares[OTHER]
    dose = float(samples.loc[samples["visit"] == "W0", "prednisone_mg_kg_day"].mean())
    per_mgkg = {"neutrophil": params.neutrophil_per_mgkg, "monocyte": params.monocyte_per_mgkg}
    per_mgkg.update({c: params.lymphocyte_per_mgkg for c in ("t_cell", "b_cell", "nk_cell")})
    shift_w0 = np.array([per_mgkg.get(c, 0.0) * dose for c in celltypes])

    keep = ~genes["kind"].isin(["synthetic", "sex_x", "sex_y"]).to_numpy()
    names = genes["gene_name"].to_numpy()[keep]
    load = np.clip(loadings.loc[names].to_numpy(dtype=float), 0.0, None)
    base = genes["base_mean_20m"].to_numpy(dtype=float)[keep] * 2.0 ** (load @ shift_w0)
    bulk = base / genes["base_mean_20m"].sum() * 1e6
    s = load.sum(axis=1)
    rest = np.clip(1.0 - s, 0.0, None)
    w = np.where(s[:, None] > 1.0, load / np.maximum(s, 1.0)[:, None], load + rest[:, None] * f[None, :])
    w_other = np.where(s > 1.0, 0.0, rest * f_other)
    profiles = np.column_stack([w / f[None, :], w_other / f_other]) * bulk[:, None]
    return pd.DataFrame(profiles.T, index=[*celltypes, OTHER], columns=names)
