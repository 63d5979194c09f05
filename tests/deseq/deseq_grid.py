"""The DESeq2 agreement grid (``tests/golden/deseq2_grid``): load a case, fit it, compare results.

Each case holds R DESeq2's design matrix (columns named as R's ``resultsNames``), its results per
contrast and its dispersions. Real-data cases rebuild their counts from ``../shared`` with the
grid's own ``make_inputs.py`` (never committed); simulated cases read their committed counts.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr

GRID = Path(__file__).resolve().parents[1] / "golden" / "deseq2_grid"
CASES = pd.read_csv(GRID / "cases.tsv", sep="\t").set_index("case")


@cache
def _make_inputs():
    spec = importlib.util.spec_from_file_location("deseq2_grid_make_inputs", GRID / "make_inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def _built(shared_root: Path) -> dict:
    return _make_inputs().build_all(shared_root / "fixtures" / "rnaseq")


def is_real(case: str) -> bool:
    """Whether the case's counts come from ../shared (rebuilt, not committed)."""
    return case in _make_inputs().REAL_CASES


@dataclass
class Case:
    """One grid case: counts (samples x genes, rounded), R's design matrix, contrasts and R's results."""

    name: str
    counts: pd.DataFrame
    samples: pd.DataFrame
    design: pd.DataFrame
    contrasts: dict[str, np.ndarray]
    r_results: dict[str, pd.DataFrame]
    r_genes: pd.DataFrame
    r_fit: pd.Series

    @property
    def df(self) -> int:
        """Residual degrees of freedom."""
        return self.design.shape[0] - self.design.shape[1]


def load_case(name: str, shared_root: Path | None = None) -> Case:
    """Load a grid case (``shared_root``: the ../shared folder, needed for the real-data cases)."""
    folder = GRID / name
    if is_real(name):
        if shared_root is None:
            msg = f"case {name} needs the shared fixtures"
            raise FileNotFoundError(msg)
        counts, _samples, _spec = _built(shared_root)[name]
    else:
        counts = pd.read_csv(folder / "counts.tsv.gz", sep="\t", index_col=0)
    samples = pd.read_csv(folder / "samples.csv", index_col=0)
    counts = counts[samples.index].T
    # as the R script does: round() (halves to even, as numpy)
    counts = pd.DataFrame(
        np.round(counts.to_numpy(dtype=float)).astype(np.int64), index=counts.index, columns=counts.columns
    )
    design = pd.read_csv(folder / "r_design.tsv.gz", sep="\t", index_col=0).loc[samples.index]
    contrasts = {}
    for spec in CASES.loc[name, "contrasts"].split(";"):
        cid, weights = spec.split("=")
        vec = pd.Series(0.0, index=design.columns)
        for w in weights.split(","):
            coef, value = w.split(":")
            vec[coef] = float(value)
        contrasts[cid] = vec.to_numpy()
    r_results = {cid: pd.read_csv(folder / f"r_{cid}.tsv.gz", sep="\t", index_col=0) for cid in contrasts}
    r_genes = pd.read_csv(folder / "r_genes.tsv.gz", sep="\t", index_col=0)
    r_fit = pd.read_csv(folder / "r_fit.tsv", sep="\t", index_col=0)["value"]
    return Case(name, counts, samples, design, contrasts, r_results, r_genes, r_fit)


def results_of(dds, contrast: np.ndarray) -> pd.DataFrame:
    """Wald results of a numeric contrast on a fitted pydeseq2 data set (R's column names)."""
    from pydeseq2.ds import DeseqStats

    stats = DeseqStats(dds, contrast=contrast, alpha=0.05, quiet=True, inference=dds.inference)
    stats.summary()
    res = stats.results_df
    return pd.DataFrame(
        {
            "base_mean": res["baseMean"],
            "log2_fc": res["log2FoldChange"],
            "lfc_se": res["lfcSE"],
            "p_value": res["pvalue"],
            "padj": res["padj"],
        },
        index=res.index.astype(str),
    )


def compare(ours: pd.DataFrame, ref: pd.DataFrame, base_mean: pd.Series) -> dict[str, float]:
    """Agreement figures of two result tables (same genes): the issue's measures."""
    ref = ref.reindex(ours.index)
    bm = base_mean.reindex(ours.index) >= 10
    lfc = bm & ours["log2_fc"].notna() & ref["log2_fc"].notna()
    both_p = ours["p_value"].notna() & ref["p_value"].notna()
    a, b = ours["padj"] < 0.05, ref["padj"] < 0.05
    union = int((a | b).sum())
    return {
        "calls": int(a.sum()),
        "ref_calls": int(b.sum()),
        "jaccard": float((a & b).sum() / union) if union else 1.0,
        "calls_differ": float((a != b).mean()),
        "max_dlfc": float((ours["log2_fc"] - ref["log2_fc"])[lfc].abs().max()),
        "lfc_pearson": float(pearsonr(ours["log2_fc"][lfc], ref["log2_fc"][lfc]).statistic),
        "p_spearman": float(spearmanr(ours["p_value"][both_p], ref["p_value"][both_p]).statistic),
        "p_na_differ": int((ours["p_value"].isna() != ref["p_value"].isna()).sum()),
    }
