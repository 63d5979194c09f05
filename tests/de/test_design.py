from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myocit_omics.de.contrasts import ContrastSpec
from myocit_omics.de.design import build_design, check_full_rank, parse_formula, select_samples
from myocit_omics.errors import AnalysisError, InputError, ValidationFailed

W4 = ContrastSpec(id="W4_vs_W0", variable="visit", reference="W0", target="W4")
W24 = ContrastSpec(id="W24_vs_W0", variable="visit", reference="W0", target="W24")


def paired_obs(n: int = 4, missing: tuple[tuple[str, str], ...] = ()) -> pd.DataFrame:
    rows = [(f"P{i}", v) for i in range(1, n + 1) for v in ("W0", "W4", "W24") if (f"P{i}", v) not in missing]
    return pd.DataFrame({"patient_id": [p for p, _ in rows], "visit": [v for _, v in rows],
                         "seq_batch": "B1"}, index=[f"{p}-{v}" for p, v in rows])


def test_treatment_coding_matches_the_paired_model():
    obs = paired_obs(3)
    d = build_design(obs, "~ patient + visit", reference_levels={"visit": "W0"})
    assert list(d.matrix.columns) == ["Intercept", "patient_id[T.P2]", "patient_id[T.P3]",
                                      "visit[T.W4]", "visit[T.W24]"]
    # each row: intercept + its own patient indicator + its own visit indicator
    row = d.matrix.loc["P2-W24"]
    assert row.to_dict() == {"Intercept": 1, "patient_id[T.P2]": 1, "patient_id[T.P3]": 0,
                             "visit[T.W4]": 0, "visit[T.W24]": 1}
    vec, coef = d.contrast_vector(W24)
    assert coef == "visit[T.W24]" and vec.sum() == 1
    vec, coef = d.contrast_vector(ContrastSpec(id="x", variable="visit", reference="W4", target="W24"))
    assert coef is None and vec[3] == -1 and vec[4] == 1


def test_formula_aliases_and_unknown_columns():
    assert parse_formula("~ patient + visit + batch", ["patient_id", "visit", "seq_batch"]) == [
        ("patient_id",), ("visit",), ("seq_batch",)]
    with pytest.raises(InputError) as err:
        parse_formula("~ patient + arm", ["patient_id", "visit"])
    assert "arm" in str(err.value) and "['patient_id', 'visit']" in str(err.value)
    with pytest.raises(InputError):
        parse_formula("patient + visit", ["patient_id", "visit"])


def test_missing_design_value_names_the_sample():
    obs = paired_obs(3)
    obs["age"] = 10.0
    obs.loc["P2-W4", "age"] = np.nan
    with pytest.raises(ValidationFailed) as err:
        build_design(obs, "~ patient + visit + age")
    assert "P2-W4" in str(err.value) and "age" in str(err.value)


def test_batch_confounded_with_one_patient_names_patient_and_level():
    obs = paired_obs(4)
    obs.loc[obs["patient_id"] == "P3", "seq_batch"] = "B2"
    d = build_design(obs, "~ patient + visit + batch", reference_levels={"visit": "W0"})
    with pytest.raises(AnalysisError) as err:
        check_full_rank(d, obs, context="contrast W4_vs_W0")
    text = str(err.value)
    assert "rank-deficient" in text and "P3" in text and "seq_batch=B2" in text
    assert "P1" not in text.split("Patients involved:")[1].split(".")[0]


def test_interaction_without_responders_at_a_visit_is_named():
    obs = paired_obs(4)
    obs["responder"] = obs["patient_id"].isin(["P1", "P2"]).astype(str)
    d = build_design(obs, "~ patient + visit + visit:responder",
                     reference_levels={"visit": "W0", "responder": "False"})
    check_full_rank(d, obs, context="ok")  # full rank: responder main effect is absorbed by patient
    assert "visit[T.W4]:responder[T.True]" in d.matrix.columns
    sub = obs[~((obs["responder"] == "True") & (obs["visit"] == "W4"))]
    d2 = build_design(sub, "~ patient + visit + visit:responder",
                      reference_levels={"visit": "W0", "responder": "False"})
    with pytest.raises(AnalysisError) as err:
        check_full_rank(d2, sub, context="interaction")
    assert "visit=W4 and responder=True (no sample has it)" in str(err.value)


def test_no_residual_degrees_of_freedom_is_refused():
    obs = paired_obs(1)
    d = build_design(obs, "~ patient + visit", reference_levels={"visit": "W0"})
    with pytest.raises(AnalysisError, match="no residual degrees of freedom"):
        check_full_rank(d, obs, context="c")


def test_rule_keep_fits_everyone_and_records_unpaired_patients():
    obs = paired_obs(4, missing=(("P2", "W4"),))
    sel = select_samples(obs, W4, rule="keep")
    assert set(sel.samples) == set(obs.index)
    assert sel.unpaired == {"P2": ["W0", "W24"]} and sel.dropped == () and sel.n_pairs == 3


def test_rule_drop_keeps_only_complete_pairs_of_the_two_visits():
    obs = paired_obs(4, missing=(("P2", "W4"),))
    sel = select_samples(obs, W4, rule="drop")
    assert sel.dropped == ("P2",)
    assert all(not s.startswith("P2") and not s.endswith("W24") for s in sel.samples)
    assert len(sel.samples) == 6
    sel24 = select_samples(obs, W24, rule="drop")
    assert sel24.dropped == () and len(sel24.samples) == 8


def test_fewer_than_two_pairs_is_refused_with_the_visits_each_patient_has():
    obs = paired_obs(3, missing=(("P1", "W4"), ("P2", "W4")))
    with pytest.raises(AnalysisError) as err:
        select_samples(obs, W4, rule="keep")
    assert "only 1 patient(s)" in str(err.value) and "P1: W0, W24" in str(err.value)
    with pytest.raises(InputError):
        select_samples(obs, W24, rule="sometimes")  # type: ignore[arg-type]
