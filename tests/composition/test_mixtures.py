"""Marker scores and NNLS on in-silico mixtures of real single-cell profiles with known fractions."""

from __future__ import annotations

import pandas as pd
from scipy.stats import spearmanr

from myocit_omics.composition.estimate import estimate_composition
from myocit_omics.composition.markers import MIN_MARKER_GENES, marker_sets
from myocit_omics.composition.signature import Signature


def test_both_methods_track_the_true_fractions_of_every_cell_type_with_a_marker_list(mixtures):
    counts, truth = mixtures["counts"], mixtures["truth"]
    sheet = pd.DataFrame({"sample_id": counts.columns})
    result = estimate_composition(
        counts, sheet, signature=Signature(mixtures["signature"], "pbmc68k signature")
    )
    est = result.estimates
    # the cell types present in the mixtures that have a usable marker list
    usable = set(
        result.marker_coverage.loc[result.marker_coverage["n_used"] >= MIN_MARKER_GENES, "cell_type"]
    )
    present = [t for t in truth.columns if t in marker_sets() and t in usable]
    assert sorted(present) == ["b_cell", "monocyte", "nk_cell", "t_cell"]
    for method in ("marker_btm", "nnls"):
        wide = est[est["method"] == method].pivot(index="sample_id", columns="cell_type", values="estimate")
        rho = {t: spearmanr(wide[t], truth.loc[wide.index, t])[0] for t in present}
        assert min(rho.values()) >= 0.8, (method, rho)
    nnls = est[est["method"] == "nnls"].groupby("sample_id")["estimate"].sum()
    assert ((nnls - 1).abs() < 1e-5).all()  # estimates are written to 6 decimals
    assert (result.nnls_fit["relative_residual"] < 0.5).all()
    assert result.signature_coverage.iloc[0]["coverage"] == 1.0


def test_a_later_mixture_changes_no_earlier_estimate_against_a_fixed_reference(mixtures):
    counts = mixtures["counts"]
    sheet = pd.DataFrame(
        {"sample_id": counts.columns, "visit": ["W0"] * 10 + ["W4"] * (counts.shape[1] - 10)}
    )
    first = estimate_composition(counts.iloc[:, :20], sheet.iloc[:20], reference="pooled:W0").estimates
    both = estimate_composition(counts, sheet, reference="pooled:W0").estimates
    merged = first.merge(both, on=["sample_id", "cell_type", "method"], suffixes=("_first", "_both"))
    assert len(merged) == len(first)
    assert (merged["estimate_first"] - merged["estimate_both"]).abs().max() < 1e-9
