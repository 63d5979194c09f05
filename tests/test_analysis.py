"""The library step runner: run parameters and the responder table handed to DE."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from myocit_omics.analysis import parse_contrast, resolve_overrides, responder_table
from myocit_omics.config import default_study_config
from myocit_omics.errors import InputError
from myocit_omics.results import ResultsTree, write_tsv


def _ctx(tmp_path, de=None):
    config = default_study_config().model_copy(update={"de": de or {}})
    return SimpleNamespace(config=config, tree=ResultsTree(tmp_path / "run"))


def test_responder_table_follows_the_definition_and_keeps_unknowns_unknown(tmp_path):
    ctx = _ctx(tmp_path)
    write_tsv(pd.DataFrame({
        "patient_id": ["MYO-01", "MYO-02", "MYO-03", "MYO-04", "MYO-05"],
        "tis_w24": [80, 50, 35, 10, None],
        "response_w24": ["major", "moderate", "minimal", "none", None],
    }), ctx.tree.table("response_w24"))
    table = responder_table(ctx).set_index("patient_id")["responder"]
    assert table.to_dict() == {"MYO-01": True, "MYO-02": True, "MYO-03": True, "MYO-04": False,
                               "MYO-05": None}
    ctx = _ctx(tmp_path, de={"responder_definition": "major"})
    table = responder_table(ctx).set_index("patient_id")["responder"]
    assert table.to_dict() == {"MYO-01": True, "MYO-02": False, "MYO-03": False, "MYO-04": False,
                               "MYO-05": None}


def test_responder_table_absent_or_switched_off(tmp_path):
    assert responder_table(_ctx(tmp_path)) is None
    ctx = _ctx(tmp_path, de={"interaction": "none"})
    write_tsv(pd.DataFrame({"patient_id": ["MYO-01"], "response_w24": ["major"]}),
              ctx.tree.table("response_w24"))
    assert responder_table(ctx) is None
    ctx = _ctx(tmp_path, de={"responder_definition": "huge"})
    with pytest.raises(InputError, match=r"unknown responder definition.*'huge'"):
        responder_table(ctx)


def test_run_parameters_are_checked_against_the_study(tmp_path):
    config = default_study_config()
    new, visits = resolve_overrides(config, visits=["W0", "W24"], reference="healthy_control",
                                    contrasts=["visit:W24:W0"])
    assert visits == ["W0", "W24"]
    assert new.reference.kind == "healthy_control"
    assert [(c.id, c.target, c.reference) for c in new.contrasts] == [("W24_vs_W0", "W24", "W0")]
    assert config.reference.kind == "pooled_visit"  # the study's own configuration is untouched
    with pytest.raises(InputError, match="unknown visit"):
        resolve_overrides(config, visits=["W3"])
    with pytest.raises(InputError, match="unknown reference"):
        resolve_overrides(config, reference="pooled:W3")
    with pytest.raises(InputError, match="gene-set file not found"):
        resolve_overrides(config, gene_sets=[str(tmp_path / "missing.gmt")])
    assert parse_contrast("W4_vs_W0", config).target == "W4"
    with pytest.raises(InputError, match="unknown contrast"):
        parse_contrast("W4-W0", config)
