"""Summary tables shared by the report and the dashboard artifacts, checked against the raw tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from myocit_omics.report import summaries as S
from myocit_omics.report.artifacts import KEY_PATTERN, ArtifactSpec, build_artifacts, contrast_keys
from myocit_omics.report.tree import read_results_table, slugify, sorted_visits


def test_visits_sort_in_protocol_order():
    assert sorted_visits(["W24", "UNS-2", "W4", "W0", "W12", "UNS-10", np.nan]) == [
        "W0", "W4", "W12", "W24", "UNS-2", "UNS-10"]


@pytest.mark.parametrize(("raw", "slug"), [("W24_vs_W0", "w24-vs-w0"), ("visit:W4:W0", "visit-w4-w0"),
                                           ("__A..b__", "a-b"), ("***", "x")])
def test_slugify_gives_valid_keys(raw, slug):
    assert slugify(raw) == slug
    assert KEY_PATTERN.fullmatch(f"de-top-{slugify(raw)}")


def test_colliding_contrast_slugs_get_distinct_keys():
    keys = contrast_keys(["W4_vs_W0", "W4-vs-W0", "w4.vs.w0"], "de-top")
    assert len(set(keys.values())) == 3
    assert all(KEY_PATTERN.fullmatch(k) for k in keys.values())


def test_invalid_key_is_refused():
    with pytest.raises(ValueError, match="lowercase"):
        ArtifactSpec("QC_Summary", "table", [], "x")


def test_qc_summary_counts_match_the_table(run_tree):
    qc = read_results_table(run_tree() / "tables" / "qc_samples.tsv")
    out = S.qc_summary(qc).set_index("visit")
    failed_visit = qc.loc[~qc["qc_pass"], "visit"].iloc[0]
    assert out.loc["all", "samples"] == len(qc)
    assert out.loc["all", "failed"] == 1 and out.loc[failed_visit, "failed"] == 1
    assert out.loc[failed_visit, "pca_outliers"] == 1
    for v in ("W0", "W4", "W24"):
        assert out.loc[v, "median_library_size"] == qc.loc[qc["visit"] == v, "library_size"].median()
    assert list(out.index) == ["W0", "W4", "W24", "all"]


def test_ifn_by_visit_leaves_out_failed_and_missing_scores(run_tree):
    ifn = read_results_table(run_tree() / "tables" / "ifn_scores.tsv")
    out = S.ifn_by_visit(ifn)
    row = out[(out.gene_set == "RICE_2013_6_ISG") & (out.method == "ssgsea") & (out.visit == "W0")].iloc[0]
    raw = ifn[(ifn.gene_set == "RICE_2013_6_ISG") & (ifn.method == "ssgsea") & (ifn.visit == "W0")]
    kept = raw[raw["qc_pass"]]
    scores = kept["score"].dropna()
    assert row["n"] == len(scores)
    assert row["median"] == pytest.approx(np.median(scores))
    assert row["excluded_qc"] == int((~raw["qc_pass"]).sum())
    assert row["positive"] == int(kept["positive"].sum())


def test_wide_ifn_table_has_one_row_per_score(run_tree):
    ifn = read_results_table(run_tree() / "tables" / "ifn_scores.tsv")
    long = S.ifn_by_visit(ifn)
    wide = S.ifn_wide(long)
    assert len(wide) == ifn[["gene_set", "method"]].drop_duplicates().shape[0]
    row = wide[(wide.gene_set == "FENG_2006_5_GENE") & (wide.method == "ssgsea")].iloc[0]
    for v in ("W0", "W4", "W24"):
        expected = long[(long.gene_set == "FENG_2006_5_GENE") & (long.method == "ssgsea") & (long.visit == v)]
        assert row[f"{v} median"] == expected["median"].iloc[0]


def test_paired_changes_are_within_patient(run_tree):
    ifn = read_results_table(run_tree() / "tables" / "ifn_scores.tsv")
    out = S.paired_changes(ifn, "FENG_2006_5_GENE", "median_zscore").set_index("visit")
    sub = ifn[(ifn.gene_set == "FENG_2006_5_GENE") & (ifn.method == "median_zscore") & ifn.qc_pass]
    wide = sub.pivot(index="patient_id", columns="visit", values="score")
    delta = (wide["W24"] - wide["W0"]).dropna()
    assert out.loc["W24", "n_pairs"] == len(delta)
    assert out.loc["W24", "median_change"] == pytest.approx(delta.median())
    assert out.loc["W24", "median_change"] < 0        # the fixture's scores fall from W0 to W24


def test_markdown_names_the_primary_score_and_changes(run_tree):
    ifn = read_results_table(run_tree() / "tables" / "ifn_scores.tsv")
    md = S.ifn_markdown(ifn, run_id="r1")
    assert "RICE_2013_6_ISG" in md and "median_zscore" in md
    assert "| W0 |" in md and "W24 vs W0" in md
    assert "left out" in md                           # QC-failed scores are said to be excluded


def test_de_top_orders_by_padj_with_missing_last(run_tree):
    de = read_results_table(run_tree() / "tables" / "de" / "W4_vs_W0.tsv")
    top = S.de_top(de, 80)
    padj = top["padj"].to_numpy()
    finite = padj[~np.isnan(padj)]
    assert (np.diff(finite) >= 0).all() and np.isnan(padj[-1])
    assert len(S.de_top(de, 5)) == 5


def test_records_are_json_safe():
    df = pd.DataFrame({"a": [1.0, np.nan, np.inf], "b": [True, False, None], "c": ["x", None, "z"]})
    rec = S.to_records(df)
    assert rec[1]["a"] is None and rec[2]["a"] is None and rec[0]["a"] == 1.0
    json.dumps(rec, allow_nan=False)


def test_fmt_number():
    assert S.fmt_number(float("nan")) == "NA"
    assert S.fmt_number(3.0) == "3"
    assert S.fmt_number(1.23456e-6) == "1.23e-06"
    assert S.fmt_number(0.123456) == "0.1235"
    assert not math.isnan(float(S.fmt_number(2.5)))


def test_artifacts_cover_every_key_and_stay_small(run_tree):
    root = run_tree()
    specs = build_artifacts(root, run_id="r1", top_n=7)
    keys = [s.key for s in specs]
    assert keys == ["qc-summary", "ifn-scores", "ifn-summary", "clinical-response", "de-top-w4-vs-w0",
                    "gsea-top-w4-vs-w0", "report-link"]
    by_key = {s.key: s for s in specs}
    assert len(by_key["de-top-w4-vs-w0"].content) == 7 and len(by_key["gsea-top-w4-vs-w0"].content) == 7
    assert by_key["report-link"].content == (root / "report.html").resolve().as_uri()
    assert by_key["report-link"].content.startswith("file://")
    assert len(by_key["clinical-response"].content) == 6          # one row per patient (response_w24)
    for s in specs:
        json.dumps(s.content, allow_nan=False)                     # NaN safe
        assert "r1" in s.description


def test_artifacts_of_a_partial_run_say_not_run(run_tree):
    root = run_tree(parts=("manifest",), skipped={"clinical": "no clinical batch has been accepted",
                                                  "expression": "needs assemble_expression"})
    by_key = {s.key: s for s in build_artifacts(root, run_id="r2")}
    assert set(by_key) == {"qc-summary", "ifn-scores", "ifn-summary", "clinical-response", "report-link"}
    assert by_key["clinical-response"].content == [
        {"status": "not run", "reason": "step skipped: no clinical batch has been accepted"}]
    assert "needs assemble_expression" in by_key["ifn-summary"].content
    assert by_key["qc-summary"].content[0]["status"] == "not run"


def test_an_unreadable_table_costs_only_its_artifact(run_tree):
    root = run_tree()
    (root / "tables" / "de" / "W4_vs_W0.tsv").write_bytes(b"\xff\xfe\x00garbage\x00")
    keys = [s.key for s in build_artifacts(root, run_id="r3")]
    assert "de-top-w4-vs-w0" not in keys
    assert {"qc-summary", "ifn-scores", "gsea-top-w4-vs-w0", "report-link"} <= set(keys)


def test_top_n_must_be_positive(run_tree):
    with pytest.raises(ValueError, match="top_n"):
        build_artifacts(run_tree(), run_id="r", top_n=0)
