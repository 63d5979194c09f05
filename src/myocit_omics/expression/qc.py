"""Sample QC of whole-blood RNA-seq: depth, complexity, PCA outliers, sex check, sample swaps.

Every check returns a column of the QC table (contract: ``tables/qc_samples.tsv``); the
exclusion rule (:class:`QcRule`, ``expression.qc`` in study.yaml) decides which failed checks
take a sample out of the downstream steps, and every reason is written in ``qc_reason``.
Nothing is removed silently: flagged samples stay in the AnnData with ``qc_pass`` False.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.errors import InputError

#: Checks that can exclude a sample (names used in ``expression.qc.exclude_on``).
CHECKS = ("library_size", "detected_genes", "top_share", "pca_outlier", "sex", "swap")

#: Y-chromosome genes of the sex check (expressed in male blood, silent in female blood).
CHRY_GENES = ("RPS4Y1", "DDX3Y", "UTY", "KDM5D")

QC_COLUMNS = [
    "sample_id",
    "patient_id",
    "visit",
    "seq_batch",
    "library_size",
    "detected_genes",
    "top_share",
    "pca_outlier",
    "sex_recorded",
    "sex_predicted",
    "sex_mismatch",
    "swap_suspect",
    "qc_pass",
    "qc_reason",
]


@dataclass(frozen=True)
class QcRule:
    """QC thresholds and the exclusion rule (``expression.qc`` in study.yaml).

    Attributes
    ----------
    min_library_size
        Absolute floor of the library size (reads counted).
    nmads
        A sample more than this many MADs below the median (log scale) fails library size or
        detected genes.
    top_share_nmads
        A sample more than this many MADs above the median fails the top-gene share (wider: in
        whole blood the globin genes alone make the share vary a lot).
    top_n
        The top-gene share is the share of counts in a sample's ``top_n`` genes.
    pca_genes, pca_comps, pca_z
        PCA on log-CPM of the ``pca_genes`` most variable genes; a sample is an outlier when its
        robust z on any of the first ``pca_comps`` components exceeds ``pca_z``.
    sex_min_gap
        |mean log-CPM of chrY genes - log-CPM of XIST| below this leaves the sex undetermined.
    swap_min_log_cpm
        The swap check compares samples on the genes whose mean log2 CPM exceeds this.
    exclude_on
        The checks whose failure excludes a sample (any of :data:`CHECKS`).
    """

    min_library_size: float = 5e6
    nmads: float = 3.0
    top_share_nmads: float = 5.0
    top_n: int = 50
    pca_genes: int = 2000
    pca_comps: int = 3
    pca_z: float = 5.0
    sex_min_gap: float = 2.0
    swap_min_log_cpm: float = 3.0
    exclude_on: tuple[str, ...] = ("library_size", "sex", "swap")

    @classmethod
    def from_config(cls, section: dict[str, Any] | None, *, file: str = "study.yaml") -> QcRule:
        """Build the rule from ``expression.qc``; refuse unknown keys and unknown checks."""
        section = dict(section or {})
        names = {f.name for f in fields(cls)}
        for key in section:
            if key not in names:
                raise InputError(
                    "unknown key in expression.qc",
                    file=file,
                    column="expression.qc",
                    value=key,
                    expected=f"one of {sorted(names)}",
                    rule="config.qc",
                )
        if "exclude_on" in section:
            ex = section["exclude_on"]
            ex = [ex] if isinstance(ex, str) else list(ex or [])
            for name in ex:
                if name not in CHECKS:
                    raise InputError(
                        "unknown QC check in expression.qc.exclude_on",
                        file=file,
                        column="expression.qc.exclude_on",
                        value=name,
                        expected=f"any of {', '.join(CHECKS)}",
                        rule="config.qc",
                    )
            section["exclude_on"] = tuple(ex)
        return cls(**section)

    def describe(self) -> str:
        """Return the exclusion rule in words, for the manifest."""
        return (
            "exclude a sample failing: "
            + (", ".join(self.exclude_on) or "nothing")
            + f" (library size < {self.min_library_size:,.0f} or > {self.nmads:g} MADs low)"
        )


def library_metrics(counts: np.ndarray, *, top_n: int = 50) -> pd.DataFrame:
    """Library size, number of detected genes and share of counts in the ``top_n`` genes (samples x genes)."""
    counts = np.asarray(counts, dtype=float)
    lib = counts.sum(axis=1)
    detected = (counts > 0).sum(axis=1)
    k = min(top_n, counts.shape[1])
    top = -np.partition(-counts, k - 1, axis=1)[:, :k].sum(axis=1) if k else np.zeros(len(lib))
    share = np.divide(top, lib, out=np.full(len(lib), np.nan), where=lib > 0)
    return pd.DataFrame({"library_size": lib, "detected_genes": detected, "top_share": share})


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD); 0 where the MAD is 0."""
    v = np.asarray(values, dtype=float)
    med = np.nanmedian(v)
    mad = 1.4826 * np.nanmedian(np.abs(v - med))
    if not np.isfinite(mad) or mad == 0:
        return np.zeros_like(v)
    return (v - med) / mad


def pca_outliers(
    log_cpm: np.ndarray, *, n_genes: int = 2000, n_comps: int = 3, z: float = 5.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of the most variable genes and robust outlier calls.

    The PCA is scanpy's ``sc.pp.pca`` on a dense matrix, done as scanpy does it (scikit-learn's
    ``PCA`` with the same solver and random state; coordinates as float32), without importing
    scanpy (2-2.5 s on the analysis' critical path). ``tests/expression/test_qc.py`` checks the
    two give the same numbers.

    Returns
    -------
    tuple
        (sample x components coordinates, explained variance ratio, outlier flags).
    """
    from sklearn.decomposition import PCA
    from sklearn.utils import check_random_state

    x = np.asarray(log_cpm, dtype=float)
    var = x.var(axis=0)
    top = np.argsort(-var, kind="stable")[: min(n_genes, x.shape[1])]
    n_pcs = max(1, min(10, x.shape[0] - 1, len(top) - 1))
    data = x[:, top].copy()
    solver = "arpack" if n_pcs < min(data.shape) - 1 else "full"
    pca = PCA(n_components=n_pcs, svd_solver=solver, random_state=check_random_state(seed))
    pcs = pca.fit_transform(data).astype(np.float32)
    k = min(n_comps, pcs.shape[1])
    rz = np.column_stack([robust_z(pcs[:, j]) for j in range(k)])
    return pcs, np.asarray(pca.explained_variance_ratio_), (np.abs(rz) > z).any(axis=1)


def sex_check(log_cpm: pd.DataFrame, recorded: pd.Series, *, min_gap: float = 2.0) -> pd.DataFrame:
    """Predict sex from XIST against chrY genes and compare with the recorded sex.

    Parameters
    ----------
    log_cpm
        Samples x genes, columns gene symbols.
    recorded
        Recorded sex per sample (``F``/``M``; anything else counts as unknown).
    min_gap
        Smallest |chrY - XIST| (log2 CPM) for a call.

    Returns
    -------
    pandas.DataFrame
        sex_score (mean chrY log-CPM minus XIST log-CPM; positive = male), sex_predicted
        (``F``, ``M`` or NA when undetermined or the genes are absent), sex_mismatch.
    """
    chry = [g for g in CHRY_GENES if g in log_cpm.columns]
    out = pd.DataFrame(index=log_cpm.index)
    if "XIST" not in log_cpm.columns or not chry:
        out["sex_score"] = np.nan
        out["sex_predicted"] = pd.NA
        out["sex_mismatch"] = False
        return out
    score = log_cpm[chry].mean(axis=1) - log_cpm["XIST"]
    pred = pd.Series(pd.NA, index=log_cpm.index, dtype=object)
    pred[score >= min_gap] = "M"
    pred[score <= -min_gap] = "F"
    rec = recorded.reindex(log_cpm.index).astype(object)
    known = rec.isin(["F", "M"]) & pred.notna()
    out["sex_score"] = score
    out["sex_predicted"] = pred
    out["sex_mismatch"] = known & (rec != pred)
    return out


def swap_check(log_cpm: np.ndarray, samples: pd.DataFrame) -> pd.DataFrame:
    """Flag samples that resemble another patient more than their own.

    Visit and sequencing-batch effects are removed gene by gene (least squares on their dummies)
    and samples are compared by Pearson correlation of the residuals over all the given genes
    (many well-expressed genes carry the patient's own expression fingerprint). For each sample,
    ``own_r`` is its mean correlation with its patient's other samples and ``best_other_r`` the
    highest mean correlation with another patient's samples. The sample with the largest excess
    ``best_other_r - own_r > 0`` is flagged and leaves the comparison set, and the comparison is
    repeated until no sample is in excess: so the partner of a swapped sample, whose own mean is
    dragged down by the swapped one, is not flagged as well.

    Parameters
    ----------
    log_cpm
        Samples x genes (expressed genes).
    samples
        ``patient_id`` and, when present, ``visit`` and ``seq_batch``, in the rows' order.

    Returns
    -------
    pandas.DataFrame
        own_r (NA for a patient's only sample), best_other_patient, best_other_r, swap_suspect.
    """
    x = np.asarray(log_cpm, dtype=float)
    design = [np.ones((x.shape[0], 1))]
    for col in ("visit", "seq_batch"):
        if col in samples and samples[col].nunique() > 1:
            design.append(pd.get_dummies(samples[col].astype(str), drop_first=True).to_numpy(dtype=float))
    d = np.hstack(design)
    beta, *_ = np.linalg.lstsq(d, x, rcond=None)
    r = np.corrcoef(x - d @ beta)
    pid = samples["patient_id"].astype(str).to_numpy()
    n = len(pid)
    own_r = np.full(n, np.nan)
    best_r = np.full(n, np.nan)
    best_p: list[str | None] = [None] * n
    suspect = np.zeros(n, dtype=bool)
    active = np.ones(n, dtype=bool)
    while True:
        excess = np.full(n, -np.inf)
        for i in np.flatnonzero(active):
            pool = active & (np.arange(n) != i)
            own = pool & (pid == pid[i])
            own_r[i] = float(r[i, own].mean()) if own.any() else np.nan
            best_p[i], best_r[i] = None, np.nan
            for p in np.unique(pid[pool & (pid != pid[i])]):
                val = float(r[i, pool & (pid == p)].mean())
                if best_p[i] is None or val > best_r[i]:
                    best_p[i], best_r[i] = str(p), val
            if own.any() and best_p[i] is not None:
                excess[i] = best_r[i] - own_r[i]
        k = int(np.argmax(excess))
        if not excess[k] > 0:
            break
        suspect[k] = True
        active[k] = False
    return pd.DataFrame(
        {"own_r": own_r, "best_other_patient": best_p, "best_other_r": best_r, "swap_suspect": suspect},
        index=samples.index,
    )


def missing_visits(samples: pd.DataFrame, expected_visits: list[str]) -> pd.DataFrame:
    """Patients (role patient) without a sample at an expected visit: patient_id, visit."""
    role = samples["role"].astype(str) if "role" in samples else pd.Series("patient", index=samples.index)
    pts = samples[role != "healthy_control"]
    have = set(zip(pts["patient_id"].astype(str), pts["visit"].astype(str), strict=True))
    rows = [
        {"patient_id": p, "visit": v, "problem": "no RNA-seq sample for this patient and visit"}
        for p in sorted(pts["patient_id"].astype(str).unique())
        for v in expected_visits
        if (p, v) not in have
    ]
    return pd.DataFrame(rows, columns=["patient_id", "visit", "problem"])


@dataclass
class QcResult:
    """The QC table (:data:`QC_COLUMNS` plus detail columns), PCA coordinates and missing visits."""

    table: pd.DataFrame
    pcs: np.ndarray
    variance_ratio: np.ndarray
    missing: pd.DataFrame
    rule: QcRule
    detail: dict[str, Any] = field(default_factory=dict)


def run_qc(
    counts: np.ndarray,
    samples: pd.DataFrame,
    gene_names: list[str],
    *,
    rule: QcRule,
    expected_visits: list[str] | None = None,
    seed: int = 0,
) -> QcResult:
    """Run every QC check and apply the exclusion rule.

    Parameters
    ----------
    counts
        Samples x genes raw counts.
    samples
        Indexed by sample_id: patient_id, visit, sex, role, seq_batch (rows in ``counts`` order).
    gene_names
        Symbol of each gene (column).
    rule
        Thresholds and exclusion rule.
    expected_visits
        Visits every patient should have (the missing ones are reported).
    seed
        Of the PCA.

    Returns
    -------
    QcResult
        With ``table`` in the contract's column order plus ``sex_score``, ``own_r``,
        ``best_other_patient``, ``best_other_r``.
    """
    from myocit_omics.expression.normalise import log_cpm as _log_cpm

    counts = np.asarray(counts, dtype=float)
    metrics = library_metrics(counts, top_n=rule.top_n)
    metrics.index = samples.index
    lcpm = _log_cpm(counts)
    lib_z = robust_z(np.log10(np.maximum(metrics["library_size"].to_numpy(), 1)))
    det_z = robust_z(metrics["detected_genes"].to_numpy(dtype=float))
    top_z = robust_z(metrics["top_share"].to_numpy(dtype=float))
    fail_lib = (metrics["library_size"].to_numpy() < rule.min_library_size) | (lib_z < -rule.nmads)
    fail_det = det_z < -rule.nmads
    fail_top = top_z > rule.top_share_nmads

    expressed = (lcpm > 1).mean(axis=0) >= 0.5
    if expressed.sum() < 2:
        raise InputError(
            "fewer than 2 genes are expressed (log2 CPM > 1 in half the samples)",
            file="count matrix",
            value=int(expressed.sum()),
            expected="a whole-transcriptome matrix",
            rule="qc.expressed",
        )
    ok_depth = ~fail_lib
    pcs, ratio, pca_out = pca_outliers(
        lcpm[:, expressed], n_genes=rule.pca_genes, n_comps=rule.pca_comps, z=rule.pca_z, seed=seed
    )
    symbols = pd.Index(gene_names)
    sex_cols = [g for g in ("XIST", *CHRY_GENES) if g in set(gene_names)]
    sex_frame = pd.DataFrame(
        {
            g: lcpm[:, symbols.get_loc(g) if symbols.is_unique else int(np.flatnonzero(symbols == g)[0])]
            for g in sex_cols
        },
        index=samples.index,
    )
    sex = sex_check(
        sex_frame, samples["sex"] if "sex" in samples else pd.Series(dtype=object), min_gap=rule.sex_min_gap
    )
    # The swap check compares samples of adequate depth only; a low-depth sample is judged on its own.
    swap = pd.DataFrame(
        {"own_r": np.nan, "best_other_patient": None, "best_other_r": np.nan, "swap_suspect": False},
        index=samples.index,
    )
    if "patient_id" in samples and ok_depth.sum() >= 3:
        sub = samples[ok_depth]
        sub_lcpm = lcpm[ok_depth]
        genes = sub_lcpm.mean(axis=0) > rule.swap_min_log_cpm
        if genes.sum() >= 2:
            swap.loc[sub.index] = swap_check(sub_lcpm[:, genes], sub)
    swap["swap_suspect"] = swap["swap_suspect"].astype(bool)

    failed = {
        "library_size": fail_lib,
        "detected_genes": fail_det,
        "top_share": fail_top,
        "pca_outlier": pca_out,
        "sex": sex["sex_mismatch"].to_numpy(dtype=bool),
        "swap": swap["swap_suspect"].to_numpy(dtype=bool),
    }
    reasons = []
    median_lib = np.median(metrics["library_size"])
    for i in range(len(samples)):
        parts = []
        lib = metrics["library_size"].iat[i]
        recorded = samples["sex"].iat[i] if "sex" in samples else "NA"
        texts = {
            "library_size": f"library size {lib:,.0f} (< {rule.min_library_size:,.0f} or > {rule.nmads:g} "
            f"MADs below the median {median_lib:,.0f})",
            "detected_genes": f"{metrics['detected_genes'].iat[i]} detected genes "
            f"(> {rule.nmads:g} MADs low)",
            "top_share": f"top-{rule.top_n} gene share {metrics['top_share'].iat[i]:.3f} "
            f"(> {rule.top_share_nmads:g} MADs high)",
            "pca_outlier": f"PCA outlier (robust z > {rule.pca_z:g} on PC1-{rule.pca_comps})",
            "sex": f"sex recorded {recorded}, predicted {sex['sex_predicted'].iat[i]} "
            f"(chrY - XIST = {sex['sex_score'].iat[i]:.1f} log2 CPM)",
            "swap": f"resembles {swap['best_other_patient'].iat[i]} (r = {swap['best_other_r'].iat[i]:.2f}) "
            f"more than its own patient's samples (r = {swap['own_r'].iat[i]:.2f})",
        }
        for check in CHECKS:
            if failed[check][i]:
                tag = "excluded" if check in rule.exclude_on else "flag only"
                parts.append(f"{check}: {texts[check]} [{tag}]")
        reasons.append("; ".join(parts))
    exclude = np.zeros(len(samples), dtype=bool)
    for check in rule.exclude_on:
        exclude |= failed[check]
    table = pd.DataFrame(
        {
            "sample_id": samples.index.astype(str),
            "patient_id": samples.get("patient_id", pd.Series(pd.NA, index=samples.index)).to_numpy(),
            "visit": samples.get("visit", pd.Series(pd.NA, index=samples.index)).to_numpy(),
            "seq_batch": samples.get("seq_batch", pd.Series(pd.NA, index=samples.index)).to_numpy(),
            "library_size": metrics["library_size"].to_numpy().astype(np.int64),
            "detected_genes": metrics["detected_genes"].to_numpy(),
            "top_share": metrics["top_share"].round(6).to_numpy(),
            "pca_outlier": pca_out,
            "sex_recorded": samples.get("sex", pd.Series(pd.NA, index=samples.index)).to_numpy(),
            "sex_predicted": sex["sex_predicted"].to_numpy(),
            "sex_mismatch": sex["sex_mismatch"].to_numpy(dtype=bool),
            "swap_suspect": swap["swap_suspect"].to_numpy(dtype=bool),
            "qc_pass": ~exclude,
            "qc_reason": reasons,
            "sex_score": sex["sex_score"].round(4).to_numpy(),
            "own_r": swap["own_r"].astype(float).round(4).to_numpy(),
            "best_other_patient": swap["best_other_patient"].to_numpy(),
            "best_other_r": swap["best_other_r"].astype(float).round(4).to_numpy(),
        }
    )
    missing = (
        missing_visits(samples, expected_visits)
        if expected_visits and "visit" in samples and "patient_id" in samples
        else pd.DataFrame(columns=["patient_id", "visit", "problem"])
    )
    return QcResult(
        table=table,
        pcs=pcs,
        variance_ratio=ratio,
        missing=missing,
        rule=rule,
        detail={"n_expressed_genes": int(expressed.sum())},
    )
