"""Mixed model of an IFN score over visits with prednisone dose."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from myocit_omics.linking.mixed import ifn_mixed_model


def simulate(n_patients=24, seed=5):
    rng = np.random.default_rng(seed)
    effects = {"W0": 0.0, "W4": -1.5, "W24": -2.5}
    rows = []
    for i in range(n_patients):
        u = rng.normal(0, 1.0)
        for visit, eff in effects.items():
            dose = rng.uniform(0.2, 2.0)
            rows.append({"patient_id": f"P{i:02d}", "visit": visit, "prednisone_mg_kg_day": dose,
                         "score": 5 + u + eff + 0.8 * dose + rng.normal(0, 0.3)})
    return pd.DataFrame(rows)


def test_recovers_planted_effects():
    rows = {r["term"]: r for r in ifn_mixed_model(simulate())}
    assert set(rows) == {"visit W4 vs W0", "visit W24 vs W0", "prednisone_mg_kg_day"}
    for term, truth in (("visit W4 vs W0", -1.5), ("visit W24 vs W0", -2.5), ("prednisone_mg_kg_day", 0.8)):
        assert rows[term]["ci_low"] < truth < rows[term]["ci_high"]
        assert abs(rows[term]["estimate"] - truth) < 0.3
        assert rows[term]["n"] == 72 and rows[term]["p_value"] < 0.01


def test_missing_dose_and_single_visit_patients_are_counted_not_fatal():
    df = simulate(n_patients=10)
    df.loc[0, "prednisone_mg_kg_day"] = np.nan
    single = pd.DataFrame([{"patient_id": "SOLO", "visit": "W0", "prednisone_mg_kg_day": 1.0, "score": 6.0}])
    rows = ifn_mixed_model(pd.concat([df, single], ignore_index=True))
    assert rows[0]["n"] == 30  # 10 x 3 - 1 without dose + 1 single-visit patient
    assert "11 patients" in rows[0]["note"] and "1 observation(s) without score or dose" in rows[0]["note"]


def test_model_without_dose():
    rows = {r["term"]: r for r in ifn_mixed_model(simulate(), dose=None)}
    assert set(rows) == {"visit W4 vs W0", "visit W24 vs W0"}
    # dose is independent of visit here: E[0.8 * dose] is the same at every visit, so the visit
    # effects are still the planted -1.5 and -2.5
    assert rows["visit W24 vs W0"]["ci_low"] < -2.5 < rows["visit W24 vs W0"]["ci_high"]
    assert "no dose" in rows["visit W24 vs W0"]["method"]


def test_dose_set_by_visit_is_flagged_as_confounded():
    df = simulate(n_patients=10)
    df["prednisone_mg_kg_day"] = df["visit"].map({"W0": 2.0, "W4": 1.5, "W24": 0.25})
    df.loc[0, "prednisone_mg_kg_day"] = 1.9  # one small deviation keeps the model estimable
    rows = ifn_mixed_model(df)
    assert "visit and dose effects are confounded" in rows[0]["note"]
    assert "confounded" not in ifn_mixed_model(simulate(n_patients=10))[0]["note"]


def test_too_little_data_gives_a_marked_na_row():
    df = simulate(n_patients=2)
    rows = ifn_mixed_model(df)
    assert len(rows) == 1 and math.isnan(rows[0]["estimate"]) and "needs >= 3 patients" in rows[0]["note"]
