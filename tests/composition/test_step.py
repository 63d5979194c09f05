"""The composition step's parameters, its off switch, and the survival count of IFN-gene DE calls."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from myocit_omics.analysis import StepSkipped, step_composition
from myocit_omics.composition.pipeline import composition_params
from myocit_omics.composition.sensitivity import _survival
from myocit_omics.config import default_study_config
from myocit_omics.errors import InputError
from myocit_omics.results import ResultsTree, write_tsv


def test_off_switch_skips_the_step_with_its_reason():
    config = default_study_config().model_copy(update={"composition": {"enabled": False}})
    with pytest.raises(StepSkipped, match=r"composition\.enabled is false"):
        step_composition(SimpleNamespace(config=config))


def test_defaults_and_unknown_keys():
    params = composition_params(default_study_config())
    assert (
        params["enabled"]
        and params["adjust_for"] == ["neutrophil", "monocyte"]
        and params["signature"] is None
    )
    config = default_study_config().model_copy(
        update={"composition": {"adjust_for": "monocyte", "sigature": "x"}}
    )
    with pytest.raises(InputError, match="unknown composition parameter"):
        composition_params(config)


def test_adjustment_method_and_form_are_checked():
    params = composition_params(default_study_config())
    assert params["adjust_method"] == "auto" and params["signature_form"] == "exact"
    for section, message in (
        ({"adjust_method": "lasso"}, "unknown composition adjustment method"),
        ({"adjust_method": "signature"}, "needs a signature matrix"),
        ({"signature": "s.tsv", "signature_form": "second_order"}, "unknown form"),
    ):
        config = default_study_config().model_copy(update={"composition": section})
        with pytest.raises(InputError, match=message):
            composition_params(config)


def _de(genes, padj, lfc):
    return pd.DataFrame(
        {"gene_id": [f"ENSG{i}" for i in range(len(genes))], "gene_name": genes, "padj": padj, "log2_fc": lfc}
    )


def test_a_call_survives_with_padj_below_005_and_the_same_sign(tmp_path):
    tree = ResultsTree(tmp_path / "run")
    genes = ["IFI27", "ISG15", "RSAD2", "IFIT1", "ACTB"]
    write_tsv(_de(genes, [0.001, 0.01, 0.02, 0.3, 0.0001], [-2, -1, -1, -0.2, 1]), tree.table("de/W4_vs_W0"))
    sens = _de(genes, [0.001, 0.2, 0.01, 0.01, 0.0001], [-1.5, -0.5, 0.4, -0.3, 1])
    row = _survival("W4_vs_W0", "~ design", sens, tree, {"IFI27", "ISG15", "RSAD2", "IFIT1"}, ["monocyte"])
    # IFI27 survives; ISG15 loses significance; RSAD2 flips sign; IFIT1 was no call; ACTB is no ISG
    assert (row["n_ifn_calls"], row["n_surviving"], row["n_ifn_calls_sensitivity"]) == (3, 1, 3)
    assert np.isclose(row["share_surviving"], 1 / 3, atol=1e-4) and row["n_ifn_genes_tested"] == 4
    missing = _survival("W24_vs_W0", "~ design", sens, tree, {"IFI27"}, ["monocyte"])
    assert missing["n_ifn_calls"] is None and "DE step not run" in missing["note"]


def _tree_with_manifest(tmp_path, steps):
    import json

    root = tmp_path / "run"
    (root / "tables").mkdir(parents=True)
    (root / "run_manifest.json").write_text(json.dumps({"run_id": "run", "status": "ok", "steps": steps}))
    return root


def test_a_skipped_step_shows_as_not_run_in_the_report_and_the_artifact(tmp_path):
    from myocit_omics.report.artifacts import build_artifacts
    from myocit_omics.report.render import build_sections
    from myocit_omics.report.tree import open_run

    reason = "composition.enabled is false in study.yaml"
    steps = {"composition": {"status": "skipped", "seconds": 0.0, "error": reason}}
    root = _tree_with_manifest(tmp_path, steps)
    section = next(s for s in build_sections(open_run(root)) if s.id == "composition")
    assert section.status == "not run" and reason in section.reason
    spec = next(a for a in build_artifacts(root, run_id="run") if a.key == "blood-composition")
    assert spec.content == [{"status": "not run", "reason": f"step skipped: {reason}"}]


def test_a_run_made_before_the_step_existed_gets_no_composition_artifact(tmp_path):
    from myocit_omics.report.artifacts import build_artifacts

    root = _tree_with_manifest(tmp_path, {"expression": {"status": "ok", "seconds": 1.0}})
    assert "blood-composition" not in {a.key for a in build_artifacts(root, run_id="run")}


def _choice(sig_types, sig_genes, method="auto"):
    from myocit_omics.composition.pipeline import _adjustment
    from myocit_omics.composition.signature import Signature

    rng = np.random.default_rng(1)
    genes = [f"ISG{i}" for i in range(10)] + [f"G{i}" for i in range(40)]
    ref_frame = pd.DataFrame(rng.normal(6, 1, size=(8, 50)), columns=genes, index=[f"S{i}" for i in range(8)])
    ref_wide = pd.DataFrame(
        rng.normal(0, 0.3, size=(8, 2)), columns=["neutrophil", "monocyte"], index=ref_frame.index
    )
    sig = Signature(
        pd.DataFrame(
            rng.uniform(1, 100, size=(len(sig_types), len(sig_genes))), index=sig_types, columns=sig_genes
        ),
        "sig.tsv",
    )
    params = {"adjust_method": method, "signature_form": "exact", "adjust_for": ["neutrophil", "monocyte"]}
    ref = SimpleNamespace(sample_ids=list(ref_frame.index), label="pooled:W0")
    return _adjustment(params, sig, genes[:10], ref_frame, ref_wide, ref, genes, genes)


def test_auto_uses_the_signature_only_when_it_covers_the_ifn_genes_and_names_scored_cell_types():
    genes = [f"ISG{i}" for i in range(10)] + [f"G{i}" for i in range(40)]
    _, text, notes = _choice(["neutrophil", "monocyte", "other"], genes)
    assert text.startswith("composition effect from the signature sig.tsv (exact mixture form)") and not notes
    assert "(other: shares closed to 1)" in text and "10 of 10 IFN-set genes adjusted" in text
    _, text, notes = _choice(["Neutrophils", "Monocytes"], genes)
    assert text.startswith("per-gene residuals") and "has a marker score" in notes[0]
    _, text, notes = _choice(["neutrophil", "monocyte"], genes[5:])
    assert text.startswith("per-gene residuals") and "holds 5 of the 10 expressed IFN-set genes" in notes[0]
    assert any("patient reference samples" in n for n in notes)
    _, text, _ = _choice(["neutrophil", "monocyte"], genes[5:], method="signature")
    assert "5 of 10 IFN-set genes adjusted" in text
