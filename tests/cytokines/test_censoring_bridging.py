"""Censoring flags, substitution rules, and plate bridging by the median of bridge differences."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from myocit_omics.cytokines.bridging import bridge_plates
from myocit_omics.cytokines.censoring import flag_values, substitute


def _rows(**cols):
    n = len(next(iter(cols.values())))
    base = {
        "value": [np.nan] * n,
        "side": [0] * n,
        "lloq": [np.nan] * n,
        "uloq": [np.nan] * n,
        "instrument_flag": [""] * n,
        "curve": ["fitted"] * n,
        "scale": ["mfi"] * n,
    }
    base.update(cols)
    return pd.DataFrame(base)


def test_flags_with_a_fitted_curve():
    df = _rows(
        value=[0.5, 5.0, 50.0, np.nan, np.nan, np.nan, 7.0],
        side=[0, 0, 0, -1, 1, 0, 0],
        lloq=[1.0] * 7,
        uloq=[20.0] * 7,
        curve=["fitted"] * 6 + ["failed"],
    )
    assert list(flag_values(df)) == [
        "below_lloq",
        "ok",
        "above_uloq",
        "below_lloq",
        "above_uloq",
        "missing",
        "fit_failed",
    ]


def test_flags_from_instrument_values_without_a_curve():
    df = _rows(
        value=[np.nan, np.nan, 3.0, 3.0, 0.2, np.nan, 3.0],
        instrument_flag=["oor_low", "oor_high", "extrapolated", "", "", "missing", "below_detection"],
        lloq=[1.0] * 7,
        uloq=[100.0] * 7,
        curve=["none"] * 7,
        scale=["concentration"] * 7,
    )
    assert list(flag_values(df)) == [
        "instrument_oor",
        "instrument_oor",
        "extrapolated",
        "ok",
        "below_lloq",
        "missing",
        "below_lloq",
    ]


def test_substitution_rules():
    value = np.array([0.2, 5.0, 80.0, np.nan, np.nan, 4.0])
    flag = np.array(
        ["below_lloq", "ok", "above_uloq", "missing", "instrument_oor", "extrapolated"], dtype=object
    )
    lloq = np.full(6, 1.0)
    uloq = np.full(6, 50.0)
    half = substitute(value, flag, lloq, uloq, rule="lloq_half")
    np.testing.assert_allclose(half, [0.5, 5.0, 50.0, np.nan, np.nan, 4.0])
    sq = substitute(value, flag, lloq, uloq, rule="lloq_sqrt2")
    assert sq[0] == pytest.approx(1.0 / math.sqrt(2.0))
    cens = substitute(value, flag, lloq, uloq, rule="censored")
    assert np.isnan(cens[[0, 2, 3, 4]]).all() and cens[1] == 5.0 and cens[5] == 4.0
    # NPX below LOD is kept as measured (OlinkAnalyze convention)
    npx = substitute(
        np.array([-1.0]),
        np.array(["below_lloq"], dtype=object),
        np.array([0.5]),
        np.array([np.nan]),
        rule="lloq_half",
        scale=np.array(["npx"], dtype=object),
    )
    assert npx[0] == -1.0
    with pytest.raises(ValueError, match="lloq_half"):
        substitute(value, flag, lloq, uloq, rule="zero")


def _bridge_frame(offsets, *, n_bridge=8, seed=0, censor=()):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(2, 10, n_bridge)
    rows = []
    for plate, off in offsets.items():
        for k, t in enumerate(truth):
            for _rep in range(2):
                rows.append(
                    {
                        "analyte": "IL6",
                        "plate_id": plate,
                        "sample_id": f"BR{k}",
                        "role": "bridge",
                        "flag": "below_lloq" if (plate, k) in censor else "ok",
                        "log2_value": t + off + rng.normal(0, 0.02),
                        "value": 2 ** (t + off),
                        "scale": "mfi",
                    }
                )
        rows.append(
            {
                "analyte": "IL6",
                "plate_id": plate,
                "sample_id": f"X-{plate}",
                "role": "sample",
                "flag": "ok",
                "log2_value": 5.0 + off,
                "value": 2 ** (5 + off),
                "scale": "mfi",
            }
        )
    return pd.DataFrame(rows), truth


def test_bridging_removes_a_planted_offset():
    df, _ = _bridge_frame({"P1": 0.0, "P2": 0.9, "P3": -0.4})
    out, adj = bridge_plates(df)
    a = adj.set_index("plate_id")["adjustment_log2"]
    assert a["P2"] == pytest.approx(-0.9, abs=0.05)
    assert a["P3"] == pytest.approx(0.4, abs=0.05)
    assert (adj["status"] == "bridged").all() and (adj["reference_plate"] == "P1").all()
    # every value of the plate moves, not only the bridges: the non-bridge sample is back at 5
    x = out[out["role"] == "sample"].set_index("plate_id")["log2_value"]
    assert x["P2"] == pytest.approx(5.0, abs=0.05) and x["P3"] == pytest.approx(5.0, abs=0.05)
    assert adj["bridge_cv_after"].iloc[0] < adj["bridge_cv_before"].iloc[0] / 5


def test_bridging_is_the_median_of_paired_differences():
    df = pd.DataFrame(
        {
            "analyte": "A",
            "role": "bridge",
            "flag": "ok",
            "scale": "mfi",
            "plate_id": ["R"] * 5 + ["O"] * 5,
            "sample_id": [f"b{i}" for i in range(5)] * 2,
            "log2_value": [1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 1.5, 2.0, 10.0, 3.0],
        }
    )
    df["value"] = 2 ** df["log2_value"]
    _, adj = bridge_plates(df)
    # differences ref - other: 1, 0.5, 1, -6, 2 -> median 1 (an outlier bridge does not move it)
    assert adj["adjustment_log2"].iloc[0] == pytest.approx(1.0)
    assert adj["n_pairs"].iloc[0] == 5


def test_censored_bridges_are_not_paired_and_too_few_pairs_do_not_adjust():
    df, _ = _bridge_frame({"P1": 0.0, "P2": 1.0}, n_bridge=4, censor={("P2", 0), ("P2", 1)})
    out, adj = bridge_plates(df, min_pairs=3)
    assert adj["n_pairs"].iloc[0] == 2
    assert adj["adjustment_log2"].iloc[0] == 0.0
    assert adj["status"].iloc[0].startswith("not bridged")
    pd.testing.assert_series_equal(out["log2_value"], df["log2_value"])


def test_reference_plate_parameter():
    df, _ = _bridge_frame({"P1": 0.0, "P2": 0.7})
    _, adj = bridge_plates(df, reference="P2")
    assert list(adj["plate_id"]) == ["P1"]
    assert adj["adjustment_log2"].iloc[0] == pytest.approx(0.7, abs=0.05)
