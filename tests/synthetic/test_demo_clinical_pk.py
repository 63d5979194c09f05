"""Study configuration, manifests, patients, clinical core set and PK hand-ins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from myocit_omics.config import load_study_config

CORE_SET = [
    "patient_id",
    "visit",
    "cmas",
    "mmt8",
    "physician_global",
    "parent_global",
    "chaq",
    "ck",
    "aldolase",
    "ldh",
    "alt",
    "ast",
    "das_skin",
    "das_muscle",
    "das_total",
    "mdaat_extramuscular",
    "chq_phs",
    "chq_pss",
    "prednisone_mg_kg_day",
]
RANGES = {
    "cmas": (0, 52),
    "mmt8": (0, 80),
    "physician_global": (0, 10),
    "parent_global": (0, 10),
    "chaq": (0, 3),
    "das_skin": (0, 9),
    "das_muscle": (0, 11),
    "das_total": (0, 20),
    "mdaat_extramuscular": (0, 60),
}
ROLES = {
    "rnaseq": {"counts", "sample_sheet"},
    "cytokine": {"export", "plate_map"},
    "clinical": {"patients", "core_set"},
    "pk": {"pk"},
}


def test_study_yaml_is_a_valid_study_config(demo: Path) -> None:
    cfg = load_study_config(demo / "study.yaml")
    assert cfg.patients == [f"MYO-{i:02d}" for i in range(1, 17)]
    assert cfg.omics_visits == ["W0", "W4", "W24"]
    assert cfg.reference.kind == "pooled_visit" and cfg.reference.visit == "W0"
    assert [c.id for c in cfg.contrasts] == ["W4_vs_W0", "W24_vs_W0"]
    assert set(cfg.clinical["enzyme_uln"]) == {"ck", "aldolase", "ldh", "alt", "ast"}


def test_every_batch_has_a_manifest_naming_its_files(demo: Path) -> None:
    batches = sorted(p for p in (demo / "batches").iterdir() if p.is_dir())
    assert len(batches) == 7
    for folder in batches:
        manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
        assert manifest["schema"] == "myocit-batch/1"
        assert manifest["name"] == folder.name
        assert set(manifest["files"]) == ROLES[manifest["kind"]]
        listed = set(manifest["files"].values()) | {"manifest.yaml"}
        assert listed == {p.name for p in folder.iterdir()}, folder.name
    assert not list((demo / "truth").glob("manifest.yaml"))


def test_patients_follow_the_protocol(demo: Path) -> None:
    p = pd.read_csv(demo / "batches" / "clinical-coreset" / "patients.csv")
    assert list(p.columns) == [
        "patient_id",
        "sex",
        "age_years",
        "weight_kg",
        "msa_group",
        "baricitinib_dose_mg",
    ]
    assert len(p) == 16 and p.patient_id.is_unique
    assert set(p.sex) == {"F", "M"}
    assert p.age_years.between(3, 18).all()
    assert set(p.msa_group) <= {"anti-TIF1g", "anti-NXP2", "anti-MDA5", "other"}
    assert (p.baricitinib_dose_mg == np.where(p.age_years >= 6, 4, 2)).all()
    assert set(p.baricitinib_dose_mg) == {2, 4}
    # weight grows with age, within plausible paediatric bounds
    assert p.weight_kg.between(10, 110).all()
    assert p.age_years.corr(p.weight_kg, method="spearman") > 0.6


def test_core_set_columns_ranges_and_missing_cells(demo: Path, truth: dict) -> None:
    core = pd.read_csv(demo / "batches" / "clinical-coreset" / "core_set.csv")
    assert list(core.columns) == CORE_SET
    assert len(core) == 16 * 5
    assert set(core.visit) == {"W0", "W4", "W8", "W12", "W24"}
    for col, (lo, hi) in RANGES.items():
        values = core[col].dropna()
        assert values.between(lo, hi).all(), col
    assert (core.das_total == core.das_skin + core.das_muscle).all()
    empty = {
        (r.patient_id, r.visit, c) for r in core.itertuples() for c in CORE_SET if pd.isna(getattr(r, c))
    }
    recorded = {(r.patient_id, r.visit, r.column) for r in truth["missing"].itertuples()}
    assert empty == recorded and 3 <= len(empty) <= 10
    w0 = core[core.visit == "W0"]
    assert ((w0.mmt8 < 74) | (w0.cmas < 45)).all(), "inclusion: MMT8 < 74 and/or CMAS < 45"
    # prednisone tapers
    pred = core.pivot(index="patient_id", columns="visit", values="prednisone_mg_kg_day")
    assert (pred["W0"] >= pred["W4"]).all() and (pred["W12"] >= pred["W24"]).all()
    assert (pred["W24"] < pred["W0"]).all()


def _tis(base: pd.Series, fu: pd.Series) -> float:
    """A TIS-like score: absolute change over the scale range, bands of ACR/EULAR 2016 (no enzymes)."""

    def points(change: float, cuts: tuple, pts: tuple) -> float:
        return max([p for c, p in zip(cuts, pts, strict=True) if change > c], default=0.0)

    return (
        points(10 * (base.physician_global - fu.physician_global), (5, 15, 25, 40), (7.5, 15, 17.5, 20))
        + points(10 * (base.parent_global - fu.parent_global), (5, 15, 25, 40), (2.5, 5, 7.5, 10))
        + points(100 * (fu.cmas - base.cmas) / 52, (2, 10, 20, 30), (10, 20, 27.5, 32.5))
        + points(100 * (base.chaq - fu.chaq) / 3, (5, 15, 25, 40), (5, 7.5, 7.5, 10))
        + points(
            100 * (base.mdaat_extramuscular - fu.mdaat_extramuscular) / 60,
            (5, 15, 25, 40),
            (7.5, 12.5, 15, 20),
        )
    )


def test_some_responders_reach_major_improvement_and_inactive_disease(demo: Path, truth: dict) -> None:
    core = pd.read_csv(demo / "batches" / "clinical-coreset" / "core_set.csv").set_index(
        ["patient_id", "visit"]
    )
    responder = truth["patients"].set_index("patient_id")["responder"]
    tis = {p: _tis(core.loc[(p, "W0")], core.loc[(p, "W24")]) for p in responder.index}
    inactive = {
        p: sum(
            [
                core.at[(p, "W24"), "ck"] <= 150,
                core.at[(p, "W24"), "cmas"] >= 48,
                core.at[(p, "W24"), "mmt8"] >= 78,
                core.at[(p, "W24"), "physician_global"] <= 0.2,
            ]
        )
        >= 3
        for p in responder.index
    }
    major = [p for p, t in tis.items() if t >= 70]
    assert sum(responder[p] for p in major) >= 4
    assert not any(inactive[p] for p in responder.index if not responder[p])
    assert sum(inactive.values()) >= 3
    non = [tis[p] for p in responder.index if not responder[p]]
    assert np.median(non) < 45
    assert any(responder[p] and tis[p] < 70 for p in responder.index), "not every responder is major"


def test_pk_concentrations_decline_with_time_since_dose(demo: Path) -> None:
    pk = pd.read_csv(demo / "batches" / "pk-baricitinib" / "pk.csv", dtype={"concentration_ng_ml": str})
    assert list(pk.columns) == [
        "sample_id",
        "patient_id",
        "visit",
        "dose_mg",
        "time_since_dose_h",
        "concentration_ng_ml",
        "lloq_ng_ml",
    ]
    assert set(pk.visit) == {"W4", "W8", "W12", "W24"} and len(pk) == 64
    blq = pk.concentration_ng_ml == "BLQ"
    assert blq.any()
    conc = pd.to_numeric(pk.concentration_ng_ml.where(~blq))
    assert (conc.dropna() >= pk.lloq_ng_ml[~blq]).all()
    # after absorption (> 2 h), dose-normalised concentration falls with time since the dose
    late = ~blq & (pk.time_since_dose_h > 2)
    rho = pk.time_since_dose_h[late].corr(conc[late] / pk.dose_mg[late], method="spearman")
    assert rho < -0.6
    assert pk.time_since_dose_h[blq].min() > pk.time_since_dose_h[~blq].median()


def test_pk_follows_the_recorded_one_compartment_model(truth: dict) -> None:
    t = truth["pk"]
    k = t.cl_l_h / t.v_l
    ka, f, tau = t.ka_per_h, t.bioavailability, 24.0
    c = (
        f
        * t.dose_mg
        * 1000
        * ka
        / (t.v_l * (ka - k))
        * (
            np.exp(-k * t.time_since_dose_h) / (1 - np.exp(-k * tau))
            - np.exp(-ka * t.time_since_dose_h) / (1 - np.exp(-ka * tau))
        )
    )
    assert np.allclose(c, t.concentration_true_ng_ml, rtol=1e-3, atol=1e-3)
    # allometric clearance: heavier children clear more (CL ~ WT^0.75 with 25 % IIV)
    per = t.groupby("patient_id")[["weight_kg", "cl_l_h"]].first()
    assert per.weight_kg.corr(per.cl_l_h, method="spearman") > 0.3
