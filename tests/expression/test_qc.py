"""Sample QC: each planted fault is found, the exclusion rule is applied and recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myocit_omics.errors import InputError
from myocit_omics.expression.qc import (
    QcRule,
    library_metrics,
    missing_visits,
    run_qc,
    sex_check,
    swap_check,
)


def test_library_metrics_by_hand():
    counts = np.array([[10, 0, 5, 5], [1, 1, 1, 1]])
    m = library_metrics(counts, top_n=2)
    assert m["library_size"].tolist() == [20, 4]
    assert m["detected_genes"].tolist() == [3, 4]
    assert m["top_share"].tolist() == pytest.approx([15 / 20, 2 / 4])


def test_sex_check_calls_and_mismatch():
    lcpm = pd.DataFrame(
        {"XIST": [8.0, -4.0, 8.0, 0.0], "RPS4Y1": [-5.0, 7.0, -5.0, 0.5], "DDX3Y": [-5.0, 6.0, -5.0, 0.5]},
        index=list("abcd"),
    )
    out = sex_check(lcpm, pd.Series({"a": "F", "b": "M", "c": "M", "d": "F"}))
    assert out["sex_predicted"].tolist()[:3] == ["F", "M", "F"]
    assert pd.isna(out.at["d", "sex_predicted"])  # gap below 2: undetermined, never a mismatch
    assert out["sex_mismatch"].tolist() == [False, False, True, False]


def test_sex_check_without_sex_genes_is_not_assessed():
    out = sex_check(pd.DataFrame({"ACTB": [1.0, 2.0]}, index=["a", "b"]), pd.Series({"a": "F", "b": "M"}))
    assert not out["sex_mismatch"].any()
    assert out["sex_predicted"].isna().all()


def test_swap_check_flags_both_swapped_samples_only():
    rng = np.random.default_rng(3)
    finger = {p: rng.normal(0, 1, 400) for p in "ABCD"}
    rows, data = [], []
    for p in "ABCD":
        for v in ("W0", "W4", "W24"):
            rows.append({"patient_id": p, "visit": v})
            data.append(finger[p] + rng.normal(0, 0.7, 400) + (v == "W24") * 2.0)
    samples = pd.DataFrame(rows, index=[f"{r['patient_id']}-{r['visit']}" for r in rows])
    x = np.array(data)
    i, j = samples.index.get_loc("A-W24"), samples.index.get_loc("B-W24")
    x[[i, j]] = x[[j, i]]
    out = swap_check(x, samples)
    assert set(out.index[out["swap_suspect"]]) == {"A-W24", "B-W24"}
    assert out.at["A-W24", "best_other_patient"] == "B"


def test_missing_visits_reports_each_gap():
    s = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "visit": ["W0", "W24", "W0"], "role": "patient"})
    out = missing_visits(s, ["W0", "W4", "W24"])
    assert set(zip(out["patient_id"], out["visit"], strict=True)) == {
        ("P1", "W4"),
        ("P2", "W4"),
        ("P2", "W24"),
    }


def test_run_qc_finds_planted_faults(cohort_factory):
    c = cohort_factory(
        low_depth="RNA-MYO-03-W4", swap=("RNA-MYO-01-W24", "RNA-MYO-02-W24"), drop="RNA-MYO-05-W4"
    )
    x = c.counts.T.loc[c.samples.index].to_numpy()
    q = run_qc(x, c.samples, list(c.gene_names), rule=QcRule(), expected_visits=["W0", "W4", "W24"])
    t = q.table.set_index("sample_id")
    assert set(t.index[~t["qc_pass"]]) == {"RNA-MYO-03-W4", "RNA-MYO-01-W24", "RNA-MYO-02-W24"}
    assert "library_size" in t.at["RNA-MYO-03-W4", "qc_reason"]
    assert t.loc[["RNA-MYO-01-W24", "RNA-MYO-02-W24"], "sex_mismatch"].all()
    assert t.loc[["RNA-MYO-01-W24", "RNA-MYO-02-W24"], "swap_suspect"].all()
    assert q.missing[["patient_id", "visit"]].values.tolist() == [["MYO-05", "W4"]]
    # every failing sample says why; passing samples with a flag say "flag only"
    for reason, ok in zip(t["qc_reason"], t["qc_pass"], strict=True):
        assert ok or "[excluded]" in reason


def test_exclusion_rule_is_configurable(cohort_factory):
    c = cohort_factory(low_depth="RNA-MYO-03-W4")
    x = c.counts.T.loc[c.samples.index].to_numpy()
    rule = QcRule.from_config({"exclude_on": ["sex"]})
    t = run_qc(x, c.samples, list(c.gene_names), rule=rule).table.set_index("sample_id")
    assert t.at["RNA-MYO-03-W4", "qc_pass"]  # low depth now only flagged, and says so
    assert "library_size" in t.at["RNA-MYO-03-W4", "qc_reason"]
    assert "flag only" in t.at["RNA-MYO-03-W4", "qc_reason"]


@pytest.mark.parametrize("section", [{"bogus": 1}, {"exclude_on": ["library_size", "moon_phase"]}])
def test_bad_qc_config_is_refused(section):
    with pytest.raises(InputError) as err:
        QcRule.from_config(section)
    assert "expression.qc" in str(err.value)


@pytest.mark.parametrize(("n_samples", "n_genes"), [(48, 3000), (6, 40), (5, 4)])
def test_the_pca_is_scanpys_without_importing_it(n_samples, n_genes):
    import anndata as ad
    import scanpy as sc

    from myocit_omics.expression.qc import pca_outliers

    rng = np.random.default_rng(n_samples)
    x = rng.normal(5, 2, (n_samples, n_genes)) + rng.normal(0, 3, (n_samples, 1)) * rng.normal(0, 1, n_genes)
    pcs, ratio, _ = pca_outliers(x, n_genes=2000, seed=7)
    # scanpy's own call, as the step made it before
    top = np.argsort(-x.var(axis=0), kind="stable")[: min(2000, n_genes)]
    n_pcs = max(1, min(10, n_samples - 1, len(top) - 1))
    a = ad.AnnData(x[:, top].copy())
    sc.pp.pca(a, n_comps=n_pcs, random_state=7, svd_solver="arpack" if n_pcs < min(a.shape) - 1 else "full")
    assert pcs.dtype == a.obsm["X_pca"].dtype
    np.testing.assert_array_equal(pcs, a.obsm["X_pca"])
    np.testing.assert_array_equal(ratio, a.uns["pca"]["variance_ratio"])
