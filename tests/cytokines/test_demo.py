"""The demo study's cytokine batches: read, fitted, bridged, compared with the generator's truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from myocit_omics.config import load_study_config
from myocit_omics.cytokines.pipeline import params_from_config, run_cytokines
from myocit_omics.io.cytokine import read_export
from myocit_omics.results import ResultsTree

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
BATCHES = ("cytokine-luminex-plate1", "cytokine-luminex-plate2", "cytokine-simoa-ifna")

pytestmark = pytest.mark.skipif(
    not (DEMO / "batches" / BATCHES[0]).is_dir(), reason="data/demo not generated"
)


@dataclass
class Batch:
    files: dict
    manifest: dict
    batch_id: str
    name: str


def _batches() -> list[Batch]:
    out = []
    for name in BATCHES:
        folder = DEMO / "batches" / name
        m = yaml.safe_load((folder / "manifest.yaml").read_text(encoding="utf-8"))
        out.append(Batch({k: folder / v for k, v in m["files"].items()}, m, name, name))
    return out


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    cfg = load_study_config(DEMO / "study.yaml")
    cfg = cfg.model_copy(update={"cytokines": {**cfg.cytokines, "plots": False}})
    tree = ResultsTree(tmp_path_factory.mktemp("demo") / "run")
    out = run_cytokines(_batches(), config=cfg, tree=tree)
    tables = {
        n: pd.read_csv(tree.table(n), sep="\t")
        for n in ("cytokines_long", "cytokines_by_visit", "cytokine_qc", "cytokine_bridging")
    }
    truth = pd.read_csv(DEMO / "truth" / "cytokines_true.tsv", sep="\t")
    plates = json.loads((DEMO / "truth" / "luminex_plates.json").read_text(encoding="utf-8"))
    return out, tables, truth, plates


def test_demo_xponent_plates_read_as_xponent():
    for b in _batches()[:2]:
        exp = read_export(b.files["export"], platform=b.manifest["platform"])
        assert exp.fmt == "xponent-csv"
        assert {
            "Median",
            "Net MFI",
            "Count",
            "Result",
            "Dilution Factor",
            "Standard Expected Concentration",
            "Units",
        } <= set(exp.blocks)
        assert not [p for p in exp.problems if p.severity == "error"]
        assert (exp.values["role"] == "standard").any()


@pytest.mark.slow
def test_demo_every_luminex_curve_fits(demo_run):
    _, t, _, plates = demo_run
    qc = t["cytokine_qc"]
    lx = qc[qc["plate_id"].str.startswith("MYOCIT-LX")]
    n_analytes = len(plates["plates"][0]["standards"])
    assert len(lx) == 2 * n_analytes
    assert not lx["flag"].str.contains("fit_failed|standards_invalid").any()
    assert (lx["r2"] > 0.98).all()


def _quantifiable(truth_conc: pd.Series, qc: pd.DataFrame, plate: pd.Series, analyte: pd.Series) -> pd.Series:
    """True concentration inside the plate's quantifiable range (LLOQ-ULOQ of our fit x the 1:2 dilution)."""
    dil = 2.0  # every demo serum sample is diluted 1:2 (plate map)
    keys = list(zip(plate, analyte, strict=True))
    lloq = np.array([qc.loc[k, "lloq"] * dil for k in keys])
    uloq = np.array([qc.loc[k, "uloq"] * dil for k in keys])
    return pd.Series(
        (truth_conc.to_numpy() >= lloq) & (truth_conc.to_numpy() <= uloq), index=truth_conc.index
    )


@pytest.mark.slow
def test_demo_back_calculated_concentrations_match_truth(demo_run):
    _, t, truth, plates = demo_run
    long = t["cytokines_long"]
    qc = t["cytokine_qc"].set_index(["plate_id", "analyte"])
    offset = {p["plate_id"]: p["offset"] for p in plates["plates"]}
    m = long[long["plate_id"].isin(offset)].merge(
        truth[["sample_id", "analyte", "concentration"]], on=["sample_id", "analyte"]
    )
    # what the plate measured: truth times the planted plate offset (1 on plate 1), before bridging
    m["expected"] = m["concentration"] * [
        offset[p][a] for p, a in zip(m["plate_id"], m["analyte"], strict=True)
    ]
    per_sample = m.groupby(["plate_id", "sample_id", "analyte"]).agg(
        value=("value", lambda s: float(np.exp(np.log(s).mean()))),
        expected=("expected", "first"),
    )
    idx = per_sample.index.to_frame(index=False)
    inside = _quantifiable(
        per_sample["expected"].reset_index(drop=True), qc, idx["plate_id"], idx["analyte"]
    ).to_numpy()
    assert inside.sum() > 500
    err = (per_sample["value"] / per_sample["expected"] - 1).abs()[inside]
    # every sample whose true concentration lies in the quantifiable range is back-calculated
    # (geometric mean of its duplicate wells) within 10 % of it
    assert err.notna().all()
    assert (err < 0.10).all(), err[err >= 0.10].sort_values()


@pytest.mark.slow
def test_demo_planted_plate_offset_removed_by_bridging(demo_run):
    _out, t, truth, plates = demo_run
    br = t["cytokine_bridging"]
    lx = br[br["plate_id"] == "MYOCIT-LX-P2"].set_index("analyte")
    true_off = plates["plates"][1]["offset"]
    qc = t["cytokine_qc"].set_index(["plate_id", "analyte"])
    min_pairs = params_from_config(load_study_config(DEMO / "study.yaml").cytokines).min_bridge_pairs
    # every analyte whose bridge samples are quantifiable (true concentration in range on both
    # plates, for at least min_bridge_pairs of them) is bridged
    bridges = truth[truth["sample_id"].isin(plates["bridge_samples"])]
    for analyte in lx.index:
        b = bridges[bridges["analyte"] == analyte]
        n = len(b)
        on1 = _quantifiable(b["concentration"], qc, pd.Series(["MYOCIT-LX-P1"] * n), b["analyte"])
        on2 = _quantifiable(
            b["concentration"] * true_off[analyte], qc, pd.Series(["MYOCIT-LX-P2"] * n), b["analyte"]
        )
        if int((on1 & on2).sum()) >= min_pairs:
            assert lx.loc[analyte, "status"] == "bridged", (analyte, lx.loc[analyte, "status"])
    bridged = lx[lx["status"] == "bridged"]
    assert len(bridged) > 0
    # the adjustment found on the bridge samples is the planted offset, for every bridged analyte
    planted = np.array([np.log2(true_off[a]) for a in bridged.index])
    found = -bridged["adjustment_log2"].to_numpy()
    assert np.abs(found - planted).max() < 0.1, dict(zip(bridged.index, found - planted, strict=True))
    # measured on the bridge samples: the inter-plate CV falls
    assert (bridged["bridge_cv_after"] < bridged["bridge_cv_before"]).all()
    assert bridged["bridge_cv_before"].median() > 15 > 2 * bridged["bridge_cv_after"].median()
    # analytes with too few quantifiable bridge pairs are left alone and say so
    assert (lx.loc[lx["status"] != "bridged", "adjustment_log2"] == 0).all()


@pytest.mark.slow
def test_demo_by_visit_table_is_unbiased_after_bridging(demo_run):
    _, t, truth, _plates = demo_run
    bv = t["cytokines_by_visit"]
    long = t["cytokines_long"]
    p2_only = set(long.loc[long["plate_id"] == "MYOCIT-LX-P2", "sample_id"]) - set(
        long.loc[long["plate_id"] == "MYOCIT-LX-P1", "sample_id"]
    )
    tr = truth.assign(key=truth["patient_id"] + "|" + truth["visit"])
    tr = tr[tr["sample_id"].isin(p2_only)]
    m = bv.assign(key=bv["patient_id"] + "|" + bv["visit"]).merge(
        tr[["key", "analyte", "concentration"]], on=["key", "analyte"]
    )
    m = m[m["flag"] == "ok"]
    assert len(m) > 100
    log_ratio = np.log2(m["value"] / m["concentration"])
    # unbridged plate-2 values would sit log2(1.45) = 0.54 above the truth
    assert abs(np.median(log_ratio)) < 0.15
    assert (bv["substitution"] == "lloq_half").all()


@pytest.mark.slow
def test_demo_simoa_generic_csv_flags(demo_run):
    _, t, _truth, _ = demo_run
    long = t["cytokines_long"]
    ifn = long[long["analyte"] == "IFN-alpha"]
    raw = pd.read_csv(
        DEMO / "batches" / "cytokine-simoa-ifna" / "simoa_ifna_results.csv", dtype=str, keep_default_na=False
    )
    assert len(ifn) == len(raw)
    below = raw["flag"].isin(["<LLOQ", "below_lloq"]) | raw["value"].str.startswith("<")
    assert (ifn["flag"] == "below_lloq").sum() >= below.sum() > 0
