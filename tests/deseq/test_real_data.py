"""FastInference against stock pydeseq2 on real paired counts (GSE197067, ~ donor + time)."""

import numpy as np
import pandas as pd
import pytest
from pydeseq2.dds import DeseqDataSet
from pydeseq2.default_inference import DefaultInference
from pydeseq2.ds import DeseqStats
from scipy.stats import spearmanr

from myocit_omics.deseq import fit_deseq, fit_vst_trend, vst_transform


@pytest.fixture
def tcell(shared):
    counts = pd.read_csv(
        shared("fixtures", "rnaseq", "gse197067_tcell_activation_counts.csv.gz"), index_col=0
    )
    samples = pd.read_csv(shared("fixtures", "rnaseq", "gse197067_tcell_activation_samples.csv"), index_col=0)
    # paired like the trial: each donor at baseline and twice after activation
    keep = samples["Condition"].isin(["Initiation", "act"]) & samples["Timepoint"].isin([0, 24, 72])
    meta = pd.DataFrame(
        {"donor": samples.loc[keep, "Replicates"], "time": "h" + samples.loc[keep, "Timepoint"].astype(str)}
    )
    assert len(meta) == 12
    counts = counts[meta.index].T
    expressed = counts.columns[counts.sum(axis=0) >= 10]
    genes = np.sort(np.random.default_rng(197067).choice(expressed, 3000, replace=False))
    return counts[genes].astype(np.int64), meta


def test_real_paired_counts_match_stock_pydeseq2(tcell):
    counts, meta = tcell
    stock = DeseqDataSet(
        counts=counts, metadata=meta, design="~donor + time", quiet=True, inference=DefaultInference(n_cpus=1)
    )
    stock.deseq2()
    fast = fit_deseq(counts, meta, "~donor + time", behaviour="pydeseq2")
    n_sig = 0
    for target in ("h24", "h72"):
        res = {}
        for name, dds in (("fast", fast), ("stock", stock)):
            st = DeseqStats(dds, contrast=["time", target, "h0"], quiet=True, inference=dds.inference)
            st.summary()
            res[name] = st.results_df
        a, b = res["fast"], res["stock"]
        bm = (b["baseMean"] >= 10) & a["log2FoldChange"].notna()
        assert (a["log2FoldChange"] - b["log2FoldChange"])[bm].abs().max() < 0.01
        both = a["pvalue"].notna() & b["pvalue"].notna()
        assert spearmanr(a["pvalue"][both], b["pvalue"][both]).statistic >= 0.999
        assert ((a["padj"] < 0.05) != (b["padj"] < 0.05)).mean() <= 0.005
        n_sig += int((b["padj"] < 0.05).sum())
    assert n_sig > 100  # T-cell activation changes many genes: the comparison is not vacuous

    stock.vst(use_design=False)
    sf = stock.obs["size_factors"].to_numpy()
    ours = vst_transform(counts.to_numpy(), sf, fit_vst_trend(counts.to_numpy(), sf))
    assert np.abs(ours - stock.layers["vst_counts"]).max() < 0.01
