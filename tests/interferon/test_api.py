"""Public score_ifn API: real IFN-stimulated cells (../shared), coverage, thresholds, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myocit_omics.errors import InputError
from myocit_omics.genesets import GeneSet, ifn_gene_sets
from myocit_omics.interferon.api import OUTPUT_COLUMNS, score_ifn, score_ifn_detailed
from myocit_omics.interferon.reference import positive_threshold

#: Modules of IFN-alpha genes themselves (IFNA*, hormone genes), not of genes IFN induces:
#: they are not expected to respond in stimulated epithelial cells.
NOT_ISG_MODULES = {"interferon alpha response (I) (M158.0)", "interferon alpha response (II) (M158.1)"}


@pytest.fixture
def lee(shared):
    counts = pd.read_csv(
        shared("fixtures", "rnaseq", "lee2021_saec_gse161664_counts.tsv.gz"), sep="\t", index_col=0
    )
    meta = pd.read_csv(shared("fixtures", "rnaseq", "lee2021_saec_gse161664_samples.csv"))
    sheet = pd.DataFrame(
        {
            "sample_id": meta["sample"],
            "patient_id": meta["stimulus"],
            "visit": "W0",
            "role": np.where(meta["stimulus"] == "Control", "healthy_control", "patient"),
        }
    )
    result = score_ifn_detailed(counts, sheet, reference="healthy_control")
    return result, meta.set_index("sample")["stimulus"]


def test_lee2021_every_method_separates_type_i_ifn_from_controls(lee):
    result, stimulus = lee
    scores = result.scores.join(stimulus.rename("stimulus"), on="sample_id")
    checked = 0
    for (gene_set, method), g in scores.groupby(["gene_set", "method"]):
        if gene_set in NOT_ISG_MODULES:
            continue
        control = g.loc[g["stimulus"] == "Control", "score"]
        for stim in ("IFNa", "IFNb"):
            treated = g.loc[g["stimulus"] == stim, "score"]
            assert treated.min() > control.max(), (gene_set, method, stim)  # AUC = 1
            checked += 1
    assert checked == 8 * 4 * 2  # 8 ISG sets x 4 methods x IFNa/IFNb


def test_lee2021_siglec1_is_reported_unexpressed(lee):
    result, _ = lee
    cov = result.coverage.set_index("gene_set")
    rice = cov.loc["RICE_2013_6_ISG"]
    assert rice["unexpressed_genes"] == "SIGLEC1"
    assert rice["missing_genes"] == "" or pd.isna(rice["missing_genes"])
    assert (rice["n_genes_set"], rice["n_used"]) == (6, 5)
    assert set(result.scores.loc[result.scores["gene_set"] == "RICE_2013_6_ISG", "n_genes"]) == {5}


def test_output_columns_and_positive_calls(small_matrix):
    counts, sheet, act = small_matrix
    out = score_ifn(counts, sheet, reference="healthy_control", methods=["median_fc", "mean_z"])
    assert list(out.columns) == OUTPUT_COLUMNS
    assert set(out["reference"]) == {"healthy_control"}
    rice = out[out["gene_set"] == "RICE_2013_6_ISG"]
    for _, g in rice.groupby("method"):
        g = g.set_index("sample_id")
        ctrl = sheet.loc[sheet["role"] == "healthy_control", "sample_id"]
        thr = positive_threshold(g.loc[ctrl, "score"].to_numpy())
        assert (g["positive"] == (g["score"] > thr)).all()
        assert g.loc[act[act > 1.5].index, "positive"].all()


def test_too_few_genes_refuses_the_set_and_says_so(small_matrix):
    counts, sheet, _ = small_matrix
    sets = {
        "tiny": GeneSet("tiny", ("IFI27", "NOT_A_GENE"), "", "test", ""),
        "rice": ifn_gene_sets()["RICE_2013_6_ISG"],
    }
    res = score_ifn_detailed(counts, sheet, reference="healthy_control", gene_sets=sets, min_genes=2)
    cov = res.coverage.set_index("gene_set")
    assert cov.at["tiny", "status"].startswith("refused")
    assert cov.at["tiny", "missing_genes"] == "NOT_A_GENE"
    assert "tiny" not in set(res.scores["gene_set"]) and res.refused == ["tiny"]
    with pytest.raises(InputError) as err:
        score_ifn(counts, sheet, reference="healthy_control", gene_sets={"tiny": sets["tiny"]}, min_genes=2)
    assert "too few" in str(err.value)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda c, s: (c, s.assign(role="patient")), "reference samples"),
        (lambda c, s: (c.assign(EXTRA=1), s), "EXTRA"),
        (lambda c, s: (c.drop(columns="S03"), s), "S03"),
        (lambda c, s: (c.assign(S01=-c["S01"]), s), "negative"),
        (lambda c, s: (c, pd.concat([s, s.iloc[[0]]])), "twice"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_message(small_matrix, change, needle):
    counts, sheet, _ = small_matrix
    c, s = change(counts.copy(), sheet.copy())
    with pytest.raises(InputError) as err:
        score_ifn(c, s, reference="healthy_control")
    assert needle in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"reference": "controls"}, "pooled:<visit>"), ({"methods": ["gsva"]}, "median_fc")],
)
def test_unknown_reference_or_method_lists_the_valid_ones(small_matrix, kwargs, needle):
    counts, sheet, _ = small_matrix
    with pytest.raises(InputError) as err:
        score_ifn(counts, sheet, **{"reference": "healthy_control", **kwargs})
    assert needle in str(err.value)
