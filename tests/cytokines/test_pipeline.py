"""run_cytokines end to end on two synthetic plates with bridges, and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from myocit_omics.cli import main
from myocit_omics.config import default_study_config
from myocit_omics.cytokines.pipeline import BY_VISIT_COLUMNS, LONG_COLUMNS, params_from_config, run_cytokines
from myocit_omics.cytokines.qc import QC_COLUMNS
from myocit_omics.errors import ValidationFailed
from myocit_omics.results import ResultsTree


@dataclass
class Batch:
    files: dict
    manifest: dict = field(default_factory=lambda: {"kind": "cytokine", "platform": "xponent"})
    batch_id: str = "abc"
    name: str = "cytokine-luminex"


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=True)


@pytest.fixture
def run(bridged_pair, tmp_path):
    def go(substitution="lloq_half", factor=1.7, plots=False):
        data = bridged_pair(factor=factor)
        files = {"export": data["plates"][0], "export_2": data["plates"][1], "plate_map": data["plate_map"]}
        cfg = default_study_config().model_copy(
            update={"cytokines": {"substitution": substitution, "plots": plots}}
        )
        tree = ResultsTree(tmp_path / f"run-{substitution}")
        out = run_cytokines([Batch(files)], config=cfg, tree=tree)
        return data, tree, out

    return go


def test_run_writes_contract_tables_anndata_and_plots(run):
    data, tree, out = run(plots=True)
    long = _read(tree.table("cytokines_long"))
    by_visit = _read(tree.table("cytokines_by_visit"))
    qc = _read(tree.table("cytokine_qc"))
    assert tuple(long.columns) == LONG_COLUMNS
    assert tuple(by_visit.columns) == BY_VISIT_COLUMNS
    assert tuple(qc.columns) == QC_COLUMNS
    # every well x analyte of both exports is there: nothing dropped
    n_wells = sum(len(t.wells) for t in data["truth"])
    assert len(long) == n_wells * 3
    assert set(long["plate_id"]) == {"P1", "P2"}  # plate-map ids, matched to the exports in order
    assert (by_visit["substitution"] == "lloq_half").all()
    assert out["substitution"] == "lloq_half" and out["parameters"]["recovery_range"] == [70.0, 130.0]
    adata = ad.read_h5ad(out["anndata"])
    assert set(adata.layers) == {"concentration", "log2", "flags"}
    assert adata.n_vars == 3
    n_samples = len(data["bridges"]) + len(data["patient"])
    assert adata.n_obs == n_samples
    assert set(adata.uns["flag_codes"]) >= {"ok", "below_lloq", "above_uloq", "missing"}
    np.testing.assert_allclose(np.log2(adata.layers["concentration"]), adata.layers["log2"], equal_nan=True)
    assert len(out["plots"]) == 3  # two plates of curves, one bridging figure
    for p in out["plots"]:
        assert Path(p).stat().st_size > 1000


def test_back_calculated_concentrations_match_truth(run):
    data, tree, _ = run(factor=1.0)
    long = _read(tree.table("cytokines_long"))
    qc = _read(tree.table("cytokine_qc")).set_index(["plate_id", "analyte"])
    t1 = data["truth"][0]
    p1 = long[(long["plate_id"] == "P1") & (long["flag"] == "ok")]
    errs = []
    for rec in p1.itertuples():
        if (rec.well, rec.analyte) in t1.conc:
            errs.append(rec.value / t1.conc[(rec.well, rec.analyte)] - 1)
    errs = np.abs(errs)
    assert len(errs) > 100
    assert np.median(errs) < 0.05
    assert np.mean(errs < 0.10) > 0.85
    assert (qc["r2"] > 0.99).all()


def test_planted_plate_offset_is_removed_by_bridging(run):
    data, tree, out = run(factor=1.7)
    bridging = _read(tree.table("cytokine_bridging"))
    assert (bridging["status"] == "bridged").all()
    np.testing.assert_allclose(bridging["adjustment_log2"], -np.log2(1.7), atol=0.12)
    assert (bridging["bridge_cv_after"] < bridging["bridge_cv_before"]).all()
    # on the bridge samples: after bridging the two plates agree (AnnData averages them) and
    # non-bridge samples of plate 2 agree with their truth
    adata = ad.read_h5ad(out["anndata"])
    t2 = data["truth"][1]
    own2 = [s for s in data["patient"] if s.startswith("B-")]
    ratios = []
    for j, a in enumerate(adata.var_names):
        for s in own2:
            wells = [w for w, (name, _) in t2.wells.items() if name == s]
            truth = t2.conc[(wells[0], a)]
            flag = adata.layers["flags"][adata.obs_names.get_loc(s), j]
            if flag == adata.uns["flag_codes"]["ok"]:
                ratios.append(adata.layers["concentration"][adata.obs_names.get_loc(s), j] / truth)
    assert abs(np.median(np.log2(ratios))) < 0.1


def test_censored_rule_leaves_censored_values_missing(run):
    _, tree, _ = run(substitution="censored")
    by_visit = _read(tree.table("cytokines_by_visit"))
    cens = by_visit[by_visit["flag"].isin(["below_lloq", "above_uloq"])]
    assert (by_visit["substitution"] == "censored").all()
    assert len(cens) > 0 and cens["value"].isna().all()


def test_lloq_half_substitutes_below_lloq(run):
    _, tree, _ = run(substitution="lloq_half")
    by_visit = _read(tree.table("cytokines_by_visit"))
    qc = _read(tree.table("cytokine_qc"))
    below = by_visit[by_visit["flag"] == "below_lloq"]
    assert len(below) > 0 and below["value"].notna().all()
    # LLOQ/2 times a dilution of 2 and a bridging adjustment of at most ~1.7x: below the plate LLOQ x 2
    for rec in below.itertuples():
        assert rec.value <= qc.loc[qc["analyte"] == rec.analyte, "lloq"].max() * 2 * 1.8


def test_bad_config_is_refused(bridged_pair, tmp_path):
    data = bridged_pair()
    cfg = default_study_config().model_copy(update={"cytokines": {"substitution": "zero", "colour": 1}})
    with pytest.raises(ValidationFailed) as err:
        run_cytokines(
            [Batch({"export": data["plates"][0], "plate_map": data["plate_map"]})],
            config=cfg,
            tree=ResultsTree(tmp_path / "r"),
        )
    text = str(err.value)
    assert "cytokines.substitution" in text and "lloq_sqrt2" in text and "cytokines.colour" in text


def test_standard_precision_rule_is_a_checked_parameter():
    assert params_from_config({}).standard_max_cv_pct is None
    assert params_from_config({"standard_max_cv_pct": 20}).standard_max_cv_pct == 20.0
    assert params_from_config({"standard_max_cv_pct": None}).standard_max_cv_pct is None
    for bad in (0, -5, "twenty", [20]):
        with pytest.raises(ValidationFailed) as err:
            params_from_config({"standard_max_cv_pct": bad})
        assert "cytokines.standard_max_cv_pct" in str(err.value)


def test_cli_writes_long_and_qc_tables(plate, tmp_path, capsys):
    path, _ = plate(n_analytes=2, n_wells=40)
    out = tmp_path / "out"
    code = main(["cytokines", str(path), "--out", str(out), "--no-plots", "--substitution", "lloq_sqrt2"])
    assert code == 0
    long = _read(out / "tables" / "cytokines_long.tsv")
    assert tuple(long.columns) == LONG_COLUMNS
    assert len(long) == 40 * 2
    assert (out / "tables" / "cytokine_qc.tsv").is_file()
    assert "80 values" in capsys.readouterr().out


def test_cli_bad_input_exit_code_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,here\n", encoding="utf-8")
    assert main(["cytokines", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "cannot tell which instrument" in capsys.readouterr().err
