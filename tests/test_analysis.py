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


# --------------------------------------------------------------------------- run folders and step records


def test_run_folders_are_claimed_once_renamed_when_final_and_never_replaced(tmp_path):
    from myocit_omics.manifest import RunManifest
    from myocit_omics.results import claim_run_folder, complete_run_folder, find_run_folder, run_state

    results = tmp_path / "results"
    partial = claim_run_folder(results, "r1")
    assert partial == results / "r1.partial" and partial.is_dir()
    with pytest.raises(FileExistsError):
        claim_run_folder(results, "r1")               # the same id again, while it is written
    manifest = RunManifest(run_id="r1", path=ResultsTree(partial).manifest)
    manifest.write()
    assert run_state(partial) == "incomplete"
    assert ResultsTree(partial).run_id == "r1"
    final = complete_run_folder(partial)
    assert final == results / "r1" and not partial.exists()
    assert run_state(final) == "incomplete"           # renamed, but its manifest still says running
    RunManifest.load(final / "run_manifest.json").finish()
    assert run_state(final) == "complete"
    assert find_run_folder(results, "r1") == final
    with pytest.raises(FileExistsError):
        claim_run_folder(results, "r1")               # a finished id is never claimed again
    (results / "r2.partial").mkdir()
    (results / "r2").mkdir()
    with pytest.raises(FileExistsError):
        complete_run_folder(results / "r2.partial")   # never renamed over an existing folder
    assert run_state(results / "r2") == "incomplete"  # no manifest


def test_concurrent_step_records_are_all_kept(tmp_path):
    import threading

    from myocit_omics.manifest import RunManifest, write_step_record

    run = tmp_path / "run.partial"
    manifest = RunManifest(run_id="run", path=ResultsTree(run).manifest)
    manifest.write()
    names = [f"step{i}" for i in range(24)]
    threads = [threading.Thread(target=write_step_record, args=(run, n),
                                kwargs={"status": "ok", "seconds": 0.1, "started": 0.0}) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    manifest.finish()
    import json

    saved = json.loads((run / "run_manifest.json").read_text())
    assert set(saved["steps"]) == set(names)
    assert saved["status"] == "ok" and saved["steps"]["step3"]["started"] == "1970-01-01T00:00:00.000Z"
