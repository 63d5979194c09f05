"""PK exposure: the closed-form steady state against superposition, fit recovery, marked gaps."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from myocit_omics.clinical.core_set import read_patients
from myocit_omics.clinical.pk import PkParams, concentration_ss, parse_pk, pk_exposure, read_pk
from myocit_omics.errors import ValidationFailed


def single_dose(t, dose, cl, v, ka):
    ke = cl / v
    return 1000 * dose * ka / (v * (ka - ke)) * (np.exp(-ke * t) - np.exp(-ka * t))


def test_steady_state_equals_the_sum_of_all_past_doses():
    cl, v, ka, tau, dose = 6.0, 50.0, 2.0, 24.0, 4.0
    for t in (0.5, 2.0, 12.0, 24.0, 40.0):  # 40 h: the next dose was missed
        superposed = sum(single_dose(t + k * tau, dose, cl, v, ka) for k in range(400))
        closed = concentration_ss(np.array([t]), np.array([dose]), cl, v, ka, tau)[0]
        assert closed == pytest.approx(superposed)


def simulated_pk(n_patients=10, seed=3):
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for i in range(n_patients):
        pid = f"MYO-{i + 1:02d}"
        cl = 6.0 * math.exp(rng.normal(0, 0.3))
        truth[pid] = cl
        for k, t in enumerate((1.0, 3.0, 8.0, 23.0)):
            c = concentration_ss(np.array([t]), np.array([4.0]), cl, 50.0, 1.5, 24.0)[0]
            c *= math.exp(rng.normal(0, 0.05))
            rows.append({"sample_id": f"PK-{pid}-{k}", "patient_id": pid, "visit": "W4", "dose_mg": "4",
                         "time_since_dose_h": str(t), "concentration_ng_ml": f"{c:.4f}",
                         "lloq_ng_ml": "0.5"})
    return pd.DataFrame(rows), truth


def test_fit_recovers_clearance_and_auc_is_dose_over_cl():
    raw, truth = simulated_pk()
    exposure, pop = pk_exposure(parse_pk(raw))
    assert pop["ok"] and pop["ka"] == pytest.approx(1.5, rel=0.2) and pop["v"] == pytest.approx(50, rel=0.2)
    exposure = exposure.set_index("patient_id")
    for pid, cl in truth.items():
        assert exposure.loc[pid, "cl_f_l_h"] == pytest.approx(cl, rel=0.1)
        # AUC over one interval at steady state = dose / CL: 4 mg / CL L/h = 4000 / CL ng.h/mL
        assert exposure.loc[pid, "auc_model"] == pytest.approx(4000 / exposure.loc[pid, "cl_f_l_h"])


def test_too_few_samples_are_marked_not_modelled():
    raw, _ = simulated_pk(n_patients=1)
    raw = raw.iloc[:2]
    exposure, pop = pk_exposure(parse_pk(raw))
    assert not pop["ok"] and "needs >= 6" in pop["note"]
    row = exposure.iloc[0]
    assert row["method"] == "observed_only" and math.isnan(row["auc_model"])
    assert not math.isnan(row["c_obs_mean"])


def test_blq_substitution_is_a_parameter_and_bad_cells_are_refused():
    raw = pd.DataFrame({"sample_id": ["a", "b"], "patient_id": ["MYO-01"] * 2, "visit": ["W4", "W8"],
                        "dose_mg": ["4", "4"], "time_since_dose_h": ["2", "23"],
                        "concentration_ng_ml": ["10", "BLQ"], "lloq_ng_ml": ["0.5", "0.5"]})
    pk = parse_pk(raw)
    half = pk_exposure(pk)[0].iloc[0]
    assert half["c_obs_mean"] == pytest.approx((10 + 0.25) / 2)
    excl = pk_exposure(pk, params=PkParams(blq_substitution="exclude"))[0].iloc[0]
    assert excl["c_obs_mean"] == 10.0
    raw.loc[1, "concentration_ng_ml"] = "ten"
    with pytest.raises(ValidationFailed, match=r"row 3, column 'concentration_ng_ml'.*a number or BLQ"):
        parse_pk(raw)


def test_demo_exposure_tracks_the_planted_clearance(demo_root):
    root = demo_root
    pk = read_pk(root / "batches" / "pk-baricitinib" / "pk.csv")
    patients = read_patients(root / "batches" / "clinical-coreset" / "patients.csv")
    exposure, _pop = pk_exposure(pk, patients=patients)
    truth = pd.read_csv(root / "truth" / "pk_true.tsv", sep="\t").groupby("patient_id").first()
    cl_f = truth["cl_l_h"] / truth["bioavailability"]
    m = exposure.set_index("patient_id").join(cl_f.rename("cl_f_true"))
    assert m["auc_model"].notna().all()
    rel_err = (m["cl_f_l_h"] / m["cl_f_true"] - 1).abs()
    assert rel_err.median() < 0.2
    assert m["cl_f_l_h"].corr(m["cl_f_true"], method="spearman") > 0.7
