"""Whole-blood RNA-seq counts: negative binomial around a latent IFN, steroid and cell-type model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from myocit_omics.composition.markers import marker_sets
from myocit_omics.synthetic.cohort import Cohort, rng_for
from myocit_omics.synthetic.genes import (
    ABUNDANT,
    CELLTYPE_MARKERS,
    SEX_GENE_X,
    STEROID_GENES,
    core_isgs,
    gene_catalogue,
)
from myocit_omics.synthetic.params import OMICS_VISITS, RnaseqParameters

LN2 = float(np.log(2.0))


@dataclass(frozen=True)
class RnaseqStudy:
    """Simulated counts and what produced them.

    Attributes
    ----------
    genes
        Gene catalogue with the per-gene truth (base mean, dispersion, IFN loading, batch offset).
    counts
        Genes x samples (int64; index gene_id; columns sample_id), AFTER the planted faults:
        the swapped samples' columns are exchanged, the missing sample is absent.
    samples
        One row per sequenced sample: sample_id, patient_id, visit, sex (recorded), seq_batch,
        library_size (sum of counts), ifn_activity, prednisone_mg_kg_day, and the cell-type factors.
    faults
        The planted faults: ``low_depth_sample``, ``swapped_samples`` (two sample ids),
        ``missing_sample`` (sample id) and ``missing_patient``.
    celltype_loadings
        Genes x cell types (index gene_name): the log2 change of each gene per log2 change of
        each cell type's share (the sorted-cell signature of the demo is derived from it).
    """

    genes: pd.DataFrame
    counts: pd.DataFrame
    samples: pd.DataFrame
    faults: dict[str, object]
    celltype_loadings: pd.DataFrame | None = None


def rna_sample_id(patient_id: str, visit: str) -> str:
    """Return the RNA sample id, e.g. ``RNA-MYO-01-W0``."""
    return f"RNA-{patient_id}-{visit}"


def _base_log10_means(genes: pd.DataFrame, params: RnaseqParameters, rng: np.random.Generator) -> np.ndarray:
    kind = genes["kind"].to_numpy()
    n = len(genes)
    out = rng.normal(params.log10_mean_mu, params.log10_mean_sd, size=n)
    off = rng.random(n) < params.share_not_expressed
    out = np.where(off & (kind == "synthetic"), rng.normal(-1.5, 0.5, size=n), out)
    out = np.where(kind == "geneset", rng.normal(2.2, 0.8, size=n), out)
    out = np.where(kind == "ifn", rng.normal(params.ifn_log10_mean_mu, params.ifn_log10_mean_sd, size=n), out)
    is_marker = (
        np.char.startswith(kind.astype(str), "marker_") | (kind == "steroid") | (kind == "housekeeping")
    )
    out = np.where(is_marker, rng.normal(2.8, 0.5, size=n), out)
    name_to_pos = {g: i for i, g in enumerate(genes["gene_name"])}
    for g, m in ABUNDANT.items():
        out[name_to_pos[g]] = np.log10(m)
    return out


def simulate_rnaseq(cohort: Cohort, params: RnaseqParameters, seed: int) -> RnaseqStudy:
    """Simulate the two sequencing batches of the demo study.

    Parameters
    ----------
    cohort
        The cohort (sex, latent IFN activity, prednisone per visit).
    params
        RNA-seq parameters.
    seed
        Study seed.

    Returns
    -------
    RnaseqStudy
        Counts, sample table, gene truth and planted faults.
    """
    rng = rng_for(seed, "rnaseq")
    genes = gene_catalogue(params, rng_for(seed, "genes"))
    n_genes = len(genes)
    kind = genes["kind"].to_numpy().astype(str)
    name_to_pos = {g: i for i, g in enumerate(genes["gene_name"])}

    # Base means (count at 20 M reads, IFN activity 0), normalised to sum to 20 M.
    log10m = _base_log10_means(genes, params, rng)
    m20 = 10.0**log10m
    sex_pos = [name_to_pos[SEX_GENE_X]] + [name_to_pos[g] for g, _ in params.chry_means]
    m20[sex_pos] = 0.0
    m20 *= (20e6 - params.xist_mean - sum(m for _, m in params.chry_means)) / m20.sum()
    disp = (params.dispersion_a0 + params.dispersion_a1 / np.maximum(m20, 1.0)) * np.exp(
        rng.normal(0, params.dispersion_scatter_sd, size=n_genes)
    )

    # IFN loadings (log2 fold change per unit of latent activity).
    load = np.zeros(n_genes)
    ifn = kind == "ifn"
    load[ifn] = np.maximum(
        params.min_ifn_loading,
        params.ifn_loading_median * np.exp(rng.normal(0, params.ifn_loading_log_sd, size=int(ifn.sum()))),
    )
    for g in core_isgs():
        load[name_to_pos[g]] = rng.uniform(*params.core_isg_loading)

    # Cell-type loadings; a few other genes follow neutrophils too (broad signature).
    celltypes = [ct for ct, _ in params.celltype_sd]
    ct_load = np.zeros((n_genes, len(celltypes)))
    for j, ct in enumerate(celltypes):
        for g in CELLTYPE_MARKERS[ct]:
            ct_load[name_to_pos[g], j] = rng.uniform(0.8, 1.2)
    followers = (kind == "synthetic") & (rng.random(n_genes) < 0.03)
    ct_load[followers, 0] = rng.normal(0.7, 0.2, size=int(followers.sum()))
    # The BTM-derived marker lists of the composition estimates follow their cell type too, and the
    # ISGs follow monocytes (own random stream: the draws above, and so the faults, are unchanged).
    crng = rng_for(seed, "composition")
    btm = marker_sets()
    for j, ct in enumerate(celltypes):
        listed = [name_to_pos[g] for g in (btm[ct].genes if ct in btm else ()) if g in name_to_pos]
        listed = [i for i in listed if ct_load[i].sum() == 0]
        ct_load[listed, j] = crng.uniform(0.8, 1.2, size=len(listed))
    mono = celltypes.index("monocyte")
    ct_load[ifn, mono] = crng.uniform(*params.isg_monocyte_loading, size=int(ifn.sum()))
    steroid = np.zeros(n_genes)
    for g in STEROID_GENES:
        steroid[name_to_pos[g]] = params.steroid_gene_per_mgkg * rng.uniform(0.8, 1.2)
    batch_offset = rng.normal(0, params.batch_effect_sd, size=n_genes)

    # Samples: every patient at W0, W4, W24; sequencing batches as the lab ran them.
    patients = cohort.patients.set_index("patient_id")
    visits = cohort.visits.set_index(["patient_id", "visit"])
    pids = list(patients.index)
    first_run = set(pids[:12])
    rows = []
    for pid in pids:
        for v in OMICS_VISITS:
            batch = "seq1" if (pid in first_run and v != "W24") else "seq2"
            rows.append(
                {
                    "sample_id": rna_sample_id(pid, v),
                    "patient_id": pid,
                    "visit": v,
                    "sex": patients.at[pid, "sex"],
                    "seq_batch": batch,
                    "ifn_activity": visits.at[(pid, v), "ifn_activity"],
                    "prednisone_mg_kg_day": visits.at[(pid, v), "prednisone_mg_kg_day"],
                }
            )
    samples = pd.DataFrame(rows)

    # Planted faults.
    order = rng.permutation(len(pids[:12]))
    missing_patient = pids[:12][order[0]]
    missing_sample = rna_sample_id(missing_patient, "W4")
    low_candidates = samples[(samples.seq_batch == "seq1") & (samples.patient_id != missing_patient)]
    low_depth = str(low_candidates.sample_id.iloc[int(rng.integers(len(low_candidates)))])
    females = [p for p in pids if patients.at[p, "sex"] == "F" and p != missing_patient]
    males = [p for p in pids if patients.at[p, "sex"] == "M" and p != missing_patient]
    swap = [rna_sample_id(str(rng.choice(females)), "W24"), rna_sample_id(str(rng.choice(males)), "W24")]

    n_s = len(samples)
    pred = samples["prednisone_mg_kg_day"].to_numpy(dtype=float)
    factors = np.column_stack([rng.normal(0, sd, size=n_s) for _, sd in params.celltype_sd])
    factors[:, celltypes.index("neutrophil")] += params.neutrophil_per_mgkg * pred
    for ct in ("t_cell", "b_cell", "nk_cell"):
        factors[:, celltypes.index(ct)] += params.lymphocyte_per_mgkg * pred
    factors[:, celltypes.index("monocyte")] += params.monocyte_per_mgkg * pred
    lib = np.exp(
        rng.uniform(np.log(params.library_size_range[0]), np.log(params.library_size_range[1]), size=n_s)
    )
    lib[samples.index[samples.sample_id == low_depth][0]] = params.low_depth_reads * rng.uniform(0.9, 1.1)
    patient_eff = rng.normal(0, params.patient_effect_sd, size=(n_genes, len(pids)))
    pidx = samples["patient_id"].map({p: i for i, p in enumerate(pids)}).to_numpy()

    ifn_act = samples["ifn_activity"].to_numpy(dtype=float)
    log_mu = (
        np.log(np.maximum(m20, 1e-12))[:, None]
        + LN2 * (load[:, None] * ifn_act[None, :] + ct_load @ factors.T + steroid[:, None] * pred[None, :])
        + patient_eff[:, pidx]
        + batch_offset[:, None] * (samples["seq_batch"].to_numpy() == "seq2")[None, :]
    )
    mu = np.exp(log_mu)
    is_f = samples["sex"].to_numpy() == "F"
    mu[name_to_pos[SEX_GENE_X], :] = np.where(is_f, params.xist_mean, params.off_sex_mean)
    for g, m in params.chry_means:
        mu[name_to_pos[g], :] = np.where(is_f, params.off_sex_mean, m)
    mu *= lib[None, :] / mu.sum(axis=0, keepdims=True)
    shape = 1.0 / disp[:, None]
    lam = rng.gamma(np.broadcast_to(shape, mu.shape), mu / shape)
    counts = rng.poisson(lam).astype(np.int64)

    table = pd.DataFrame(counts, index=genes["gene_id"], columns=samples["sample_id"])
    a, b = swap
    table[[a, b]] = table[[b, a]].to_numpy()
    keep = samples["sample_id"] != missing_sample
    table = table.loc[:, keep.to_numpy()]
    samples = samples[keep].reset_index(drop=True)
    factors = factors[keep.to_numpy()]
    samples["library_size"] = table.sum(axis=0).to_numpy()
    for j, ct in enumerate(celltypes):
        samples[f"{ct}_log2"] = np.round(factors[:, j], 4)
    # log2 shift of the Rice ISGs (mean over the six) that comes from the monocyte share alone
    rice = [name_to_pos[g] for g in ("IFI27", "IFI44L", "IFIT1", "ISG15", "RSAD2", "SIGLEC1")]
    samples["isg_shift_from_monocytes_log2"] = np.round(ct_load[rice, mono].mean() * factors[:, mono], 4)

    genes = genes.assign(
        base_mean_20m=np.round(m20, 4),
        dispersion=np.round(disp, 6),
        ifn_loading=np.round(load, 4),
        steroid_loading=np.round(steroid, 4),
        neutrophil_loading=np.round(ct_load[:, 0], 4),
        monocyte_loading=np.round(ct_load[:, mono], 4),
        seq2_offset_ln=np.round(batch_offset, 4),
    )
    faults = {
        "low_depth_sample": low_depth,
        "swapped_samples": swap,
        "missing_sample": missing_sample,
        "missing_patient": missing_patient,
    }
    loadings = pd.DataFrame(ct_load, index=pd.Index(genes["gene_name"], name="gene_name"), columns=celltypes)
    return RnaseqStudy(genes=genes, counts=table, samples=samples, faults=faults, celltype_loadings=loadings)
