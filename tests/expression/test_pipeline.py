"""The expression step end to end on a small seeded cohort: outputs, frozen reference, no drift."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from myocit_omics.config import Reference, StudyConfig
from myocit_omics.errors import InputError
from myocit_omics.expression.pipeline import IFN_SCORE_COLUMNS, run_expression
from myocit_omics.expression.qc import QC_COLUMNS
from myocit_omics.results import ResultsTree

FAULTS = {"low_depth": "RNA-MYO-03-W4", "swap": ("RNA-MYO-01-W24", "RNA-MYO-02-W24"), "drop": "RNA-MYO-05-W4"}


def _config(*, plots: bool = False, **kwargs) -> StudyConfig:
    expression = {"plots": plots, **kwargs.pop("expression", {})}
    return StudyConfig(study="TEST", expression=expression, **kwargs)


@pytest.fixture(scope="module")
def faulty(cohort_factory, tmp_path_factory):
    c = cohort_factory(**FAULTS)
    d = tmp_path_factory.mktemp("faulty")
    out = run_expression(
        c.write(d / "assembled.h5ad"),
        config=_config(plots=True),
        tree=ResultsTree(d / "results" / "r1"),
        home=d / "home",
    )
    return c, d, out


def test_outputs_follow_the_contract(faulty):
    c, d, out = faulty
    tables = d / "results" / "r1" / "tables"
    qc = pd.read_csv(tables / "qc_samples.tsv", sep="\t")
    assert list(qc.columns[: len(QC_COLUMNS)]) == QC_COLUMNS
    assert len(qc) == len(c.samples)  # every sample listed, failed ones too
    scores = pd.read_csv(tables / "ifn_scores.tsv", sep="\t")
    assert list(scores.columns) == IFN_SCORE_COLUMNS
    assert set(scores["method"]) == {"median_fc", "mean_z", "ssgsea", "score_genes"}
    assert set(scores["reference"]) == {"pooled:W0"}
    cov = pd.read_csv(tables / "ifn_gene_coverage.tsv", sep="\t")
    assert (cov["status"] == "ok").all()
    for name in (
        "qc_metrics",
        "qc_pca_batch",
        "qc_pca_visit",
        "qc_sex_check",
        "ifn_scores_by_visit",
        "ifn_trajectories",
    ):
        assert (d / "results" / "r1" / "plots" / f"{name}.png").stat().st_size > 1000
    a = ad.read_h5ad(out["paths"]["anndata"])
    assert {"counts", "log_cpm", "vst"} <= set(a.layers)
    assert "ifn_rice6_median_fc" in a.obs and "size_factor" in a.obs and "qc_pass" in a.obs
    assert a.uns["reference"]["checksum_sha256"] == out["reference"]["checksum_sha256"]
    assert set(a.obs["qc_sex_predicted"]) <= {"F", "M", "NA"}
    assert a.obs["qc_pass"].sum() == out["n_qc_pass"] == len(c.samples) - 3


def test_faults_are_excluded_with_reasons(faulty):
    _, _, out = faulty
    assert set(out["excluded_samples"]) == {FAULTS["low_depth"], *FAULTS["swap"]}
    assert "library_size" in out["excluded_samples"][FAULTS["low_depth"]]
    assert out["missing_samples"] == ["MYO-05 W4"]
    assert out["reference"]["created_this_run"] is True
    assert FAULTS["low_depth"] not in out["reference"]["ifn_reference_samples"]


def test_scores_track_latent_ifn_activity(faulty):
    c, d, _ = faulty
    s = pd.read_csv(d / "results" / "r1" / "tables" / "ifn_scores.tsv", sep="\t")
    s = s[s["qc_pass"] & (s["gene_set"] == "RICE_2013_6_ISG")]
    for method, g in s.groupby("method"):
        rho = spearmanr(g["score"], c.ifn_activity.reindex(g["sample_id"]).to_numpy())[0]
        assert rho >= 0.9, (method, rho)


def test_new_batch_changes_nothing_for_earlier_samples(cohort_factory, tmp_path):
    c = cohort_factory(seed=11)
    first = list(c.samples.index[c.samples["seq_batch"] == "seq1"])
    home = tmp_path / "home"
    out1 = run_expression(
        c.write(tmp_path / "a1.h5ad", first), config=_config(), home=home, tree=ResultsTree(tmp_path / "r1")
    )
    out2 = run_expression(
        c.write(tmp_path / "a2.h5ad"), config=_config(), home=home, tree=ResultsTree(tmp_path / "r2")
    )
    assert out1["reference"]["created_this_run"] and not out2["reference"]["created_this_run"]
    assert out1["reference"]["checksum_sha256"] == out2["reference"]["checksum_sha256"]
    a1, a2 = ad.read_h5ad(out1["paths"]["anndata"]), ad.read_h5ad(out2["paths"]["anndata"])
    a2 = a2[first]
    np.testing.assert_allclose(a2.obs["size_factor"], a1.obs["size_factor"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(a2.layers["vst"], a1.layers["vst"], rtol=0, atol=1e-9)
    s1 = pd.read_csv(out1["paths"]["ifn_scores"], sep="\t").set_index(["sample_id", "gene_set", "method"])
    s2 = pd.read_csv(out2["paths"]["ifn_scores"], sep="\t").set_index(["sample_id", "gene_set", "method"])
    s2 = s2.loc[s1.index]
    assert len(s1) == len(first) * 10 * 4
    np.testing.assert_allclose(s2["score"], s1["score"], rtol=0, atol=1e-9)
    assert (s2["positive"] == s1["positive"]).all()


def test_plain_cohort_normalisation_would_drift(cohort_factory):
    """Control for the test above: GSVA's own (cohort) normalisation does move earlier scores."""
    from myocit_omics.interferon.methods import ssgsea_raw, ssgsea_span

    c = cohort_factory(seed=11)
    x = np.log2(c.counts.T.to_numpy() + 1.0)
    cols = [np.arange(1500, 1520), np.arange(1520, 1530)]
    raw = ssgsea_raw(x, cols)
    first = (c.samples["seq_batch"] == "seq1").to_numpy()
    assert abs(ssgsea_span(raw[first]) - ssgsea_span(raw)) > 1e-6


def test_healthy_control_reference(cohort_factory, tmp_path):
    c = cohort_factory(seed=5, healthy_controls=5)
    cfg = _config(reference=Reference(kind="healthy_control", visit=None))
    out = run_expression(
        c.write(tmp_path / "a.h5ad"), config=cfg, home=tmp_path / "h", tree=ResultsTree(tmp_path / "r")
    )
    assert out["reference"]["ifn_reference"] == "healthy_control"
    assert sorted(out["reference"]["ifn_reference_samples"]) == [f"RNA-HC-{i:02d}" for i in range(1, 6)]
    s = pd.read_csv(out["paths"]["ifn_scores"], sep="\t")
    rice = s[(s["gene_set"] == "RICE_2013_6_ISG") & (s["method"] == "median_fc")].set_index("sample_id")
    # patients at W0 are IFN-high against healthy controls
    assert rice.loc[[i for i in rice.index if i.endswith("-W0") and "HC" not in i], "positive"].all()
    assert not any("no healthy controls" in w for w in out["warnings"])


def test_pinned_reference_versions(cohort_factory, tmp_path):
    c = cohort_factory(seed=5)
    path, home = c.write(tmp_path / "a.h5ad"), tmp_path / "h"
    with pytest.raises(InputError) as err:
        run_expression(
            path,
            config=_config(expression={"reference_version": 4}),
            home=home,
            tree=ResultsTree(tmp_path / "r0"),
        )
    assert "reference_version" in str(err.value)
    first = run_expression(path, config=_config(), home=home, tree=ResultsTree(tmp_path / "r1"))
    # pinned v1 (pooled:W0) while the configuration asks for healthy controls: used, and said so
    cfg = _config(
        expression={"reference_version": 1}, reference=Reference(kind="healthy_control", visit=None)
    )
    out = run_expression(path, config=cfg, home=home, tree=ResultsTree(tmp_path / "r2"))
    assert out["reference"]["checksum_sha256"] == first["reference"]["checksum_sha256"]
    assert out["reference"]["ifn_reference"] == "pooled:W0"
    assert any("not the configured healthy_control" in w for w in out["warnings"])


def test_matrix_without_a_reference_gene_is_refused(cohort_factory, tmp_path):
    c = cohort_factory(seed=5)
    run_expression(
        c.write(tmp_path / "a.h5ad"), config=_config(), home=tmp_path / "h", tree=ResultsTree(tmp_path / "r")
    )
    a = c.anndata()
    a = a[:, a.var_names[60:]].copy()  # drops expressed genes that the frozen reference holds
    a.write_h5ad(tmp_path / "b.h5ad")
    with pytest.raises(InputError) as err:
        run_expression(
            tmp_path / "b.h5ad", config=_config(), home=tmp_path / "h", tree=ResultsTree(tmp_path / "r2")
        )
    assert "frozen reference" in str(err.value)


def test_user_gmt_from_the_study_home_and_refused_sets(cohort_factory, tmp_path):
    c = cohort_factory(seed=5)
    home = tmp_path / "h"
    home.mkdir()
    (home / "my_sets.gmt").write_text(
        "MY_ISG\tmine\tIFI27\tISG15\tRSAD2\tIFIT1\tMX1\nTWO_GENES\tmine\tIFI27\tNOT_A_GENE\tSYN00000\n",
        encoding="utf-8",
    )
    cfg = _config(interferon={"gene_sets": ["my_sets.gmt"], "methods": ["mean_z"], "min_genes": 3})
    out = run_expression(
        c.write(tmp_path / "a.h5ad"), config=cfg, home=home, tree=ResultsTree(tmp_path / "r")
    )
    scores = pd.read_csv(out["paths"]["ifn_scores"], sep="\t")
    assert "MY_ISG" in set(scores["gene_set"]) and set(scores["method"]) == {"mean_z"}
    assert "TWO_GENES" not in set(scores["gene_set"])
    assert out["refused_gene_sets"] == ["TWO_GENES"]
    assert any("TWO_GENES" in w and "refused" in w for w in out["warnings"])
    cov = pd.read_csv(out["paths"]["ifn_gene_coverage"], sep="\t").set_index("gene_set")
    assert cov.at["TWO_GENES", "missing_genes"] == "NOT_A_GENE"
    assert cov.at["TWO_GENES", "unexpressed_genes"] == "SYN00000"  # an unexpressed gene of the cohort
    assert any(g["name"] == "MY_ISG" and len(g["sha256"]) == 64 for g in out["gene_sets"])
