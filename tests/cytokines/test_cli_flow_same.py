"""``myocit cytokines`` and the trial flow's cytokine step give the same numbers on the demo batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from myocit_omics.analysis import step_cytokines
from myocit_omics.cli import main
from myocit_omics.config import load_study_config
from myocit_omics.results import ResultsTree

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
BATCHES = ("cytokine-luminex-plate1", "cytokine-luminex-plate2", "cytokine-simoa-ifna")
TABLES = {
    "cytokines_long": ["plate_id", "well", "sample_id", "analyte"],
    "cytokines_by_visit": ["patient_id", "visit", "analyte"],
    "cytokine_qc": ["plate_id", "analyte"],
    "cytokine_standards": ["plate_id", "analyte", "expected"],
    "cytokine_bridging": ["analyte", "plate_id"],
    "cytokine_agreement": ["plate_id", "analyte"],
}

pytestmark = pytest.mark.skipif(
    not (DEMO / "batches" / BATCHES[0]).is_dir(), reason="data/demo not generated"
)


@dataclass
class _Batch:
    files: dict
    manifest: dict
    batch_id: str
    name: str


class _Context:
    """What step_cytokines reads of the flow's AnalysisContext: the accepted batches, config, tree."""

    def __init__(self, batches, config, tree):
        self._batches, self.config, self.tree = batches, config, tree

    def batches(self, kind: str):
        return self._batches if kind == "cytokine" else []


def _batches() -> list[_Batch]:
    out = []
    for name in BATCHES:
        folder = DEMO / "batches" / name
        m = yaml.safe_load((folder / "manifest.yaml").read_text(encoding="utf-8"))
        out.append(_Batch({k: folder / v for k, v in m["files"].items()}, m, name, name))
    return out


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / "tables" / f"{name}.tsv", sep="\t", keep_default_na=False, na_values=[""])


@pytest.mark.slow
def test_cli_and_flow_step_write_the_same_numbers(tmp_path, capsys):
    batches = _batches()
    cfg = load_study_config(DEMO / "study.yaml")
    cfg = cfg.model_copy(update={"cytokines": {**(cfg.cytokines or {}), "plots": False}})
    flow_tree = ResultsTree(tmp_path / "flow")
    out = step_cytokines(_Context(batches, cfg, flow_tree))
    assert out["n_values"] > 1000

    argv = ["cytokines", *[str(b.files["export"]) for b in batches]]
    for b in batches:
        argv += ["--plate-map", str(b.files["plate_map"])]
    argv += ["--config", str(DEMO / "study.yaml"), "--no-plots", "--out", str(tmp_path / "cli")]
    assert main(argv) == 0
    capsys.readouterr()

    for name, keys in TABLES.items():
        a, b = _read(tmp_path / "flow", name), _read(tmp_path / "cli", name)
        assert list(a.columns) == list(b.columns), name
        assert len(a) == len(b), name
        a, b = a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True)
        for col in a.columns:
            if pd.api.types.is_numeric_dtype(a[col]):
                np.testing.assert_allclose(
                    a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-12, err_msg=f"{name}.{col}"
                )
            else:
                assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), f"{name}.{col}"
    # the comparison is not empty: concentrations from fitted curves, bridged, substituted
    long = _read(tmp_path / "cli", "cytokines_long")
    assert (long["flag"] == "ok").sum() > 500
    assert _read(tmp_path / "cli", "cytokine_bridging")["status"].eq("bridged").any()
