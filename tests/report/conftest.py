"""A small, seeded results tree (docs/contracts.md section 5) for the report and artifact tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myocit_omics.results import ResultsTree, save_figure, write_h5ad, write_json, write_tsv

VISITS = ["W0", "W4", "W24"]
PATIENTS = [f"MYO-{i:02d}" for i in range(1, 7)]
ALL_PARTS = ("qc", "ifn", "de", "cytokines", "clinical", "linking", "plots", "anndata", "manifest")


def _png(path: Path, title: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.plot([0, 1, 2], [2, 1, 3])
    ax.set_title(title)
    save_figure(fig, path)


def write_run_tree(root: Path, *, parts: tuple[str, ...] = ALL_PARTS, seed: int = 7,
                   skipped: dict[str, str] | None = None) -> Path:
    """Write a results tree with the chosen parts; the manifest records ``skipped`` steps with reasons."""
    rng = np.random.default_rng(seed)
    tree = ResultsTree(root)
    samples = [(f"RNA-{p}-{v}", p, v) for p in PATIENTS for v in VISITS]
    if "qc" in parts:
        qc = pd.DataFrame({
            "sample_id": [s for s, _, _ in samples], "patient_id": [p for _, p, _ in samples],
            "visit": [v for _, _, v in samples], "seq_batch": "seq1",
            "library_size": rng.integers(8_000_000, 30_000_000, len(samples)),
            "detected_genes": rng.integers(12_000, 16_000, len(samples)),
            "top_share": rng.uniform(0.05, 0.2, len(samples)),
            "pca_outlier": False, "sex_recorded": "F", "sex_predicted": "F", "sex_mismatch": False,
            "swap_suspect": False, "qc_pass": True, "qc_reason": "",
        })
        qc.loc[3, ["qc_pass", "qc_reason", "pca_outlier"]] = [False, "PCA outlier", True]
        write_tsv(qc, tree.table("qc_samples"))
    if "ifn" in parts:
        rows = []
        for gene_set in ("RICE_2013_6_ISG", "FENG_2006_5_GENE"):
            for method in ("median_zscore", "ssgsea"):
                for i, (s, p, v) in enumerate(samples):
                    level = {"W0": 3.0, "W4": 1.0, "W24": 0.3}[v]
                    score = level + rng.normal(0, 0.4)
                    rows.append({"sample_id": s, "patient_id": p, "visit": v, "gene_set": gene_set,
                                 "method": method, "score": np.nan if i == 5 else score, "n_genes": 6,
                                 "reference": "pooled:W0", "positive": score > 1.5, "qc_pass": i != 3})
        write_tsv(pd.DataFrame(rows), tree.table("ifn_scores"))
    if "de" in parts:
        n = 60
        genes = [f"ENSG{i:011d}" for i in range(n)]
        p = rng.uniform(1e-8, 1, n)
        de = pd.DataFrame({"gene_id": genes, "gene_name": [f"G{i}" for i in range(n)],
                           "base_mean": rng.uniform(10, 1000, n), "log2_fc": rng.normal(0, 2, n),
                           "lfc_se": 0.3, "stat": rng.normal(0, 3, n), "p_value": p,
                           "padj": np.minimum(p * 5, 1), "log2_fc_shrunk": rng.normal(0, 1, n),
                           "contrast": "W4_vs_W0"})
        de.loc[7, "padj"] = np.nan
        write_tsv(de, tree.table("de/W4_vs_W0"))
        gsea = pd.DataFrame({"contrast": "W4_vs_W0", "gene_set": [f"SET_{i}" for i in range(30)],
                             "source": "hallmark", "es": rng.normal(0, 0.5, 30), "nes": rng.normal(0, 2, 30),
                             "p_value": rng.uniform(0, 1, 30), "fdr": rng.uniform(0, 1, 30),
                             "n_genes": rng.integers(10, 200, 30), "leading_edge": "G1;G2"})
        write_tsv(gsea, tree.table("gsea/W4_vs_W0"))
    if "cytokines" in parts:
        rows = [{"patient_id": p, "visit": v, "analyte": a, "value": rng.uniform(1, 50),
                 "log2_value": np.nan, "flag": "<LLOQ" if (a == "IL-6" and v == "W24") else "ok",
                 "unit": "pg/mL", "substitution": ""}
                for p in PATIENTS for v in VISITS for a in ("CXCL10", "IL-6")]
        write_tsv(pd.DataFrame(rows), tree.table("cytokines_by_visit"))
        write_tsv(pd.DataFrame({"plate_id": ["P1", "P1"], "analyte": ["CXCL10", "IL-6"], "model": "5PL",
                                "r2": [0.999, 0.93], "lloq": [1.0, 2.0], "uloq": [1e4, 1e4],
                                "n_standards_ok": [7, 5], "bridge_cv_pct": [8.0, 31.0],
                                "censored_share": [0.0, 0.3], "flag": ["ok", "bridge CV > 25%"]}),
                  tree.table("cytokine_qc"))
    if "clinical" in parts:
        outcomes = pd.DataFrame([{"patient_id": p, "visit": v, "cmas": rng.integers(20, 52),
                                  "das_total": rng.integers(0, 15), "tis": rng.uniform(0, 100) if v != "W0"
                                  else np.nan,
                                  "tis_measures": 6, "response": "NA" if v == "W0" else
                                  rng.choice(["none", "minimal", "moderate", "major"]),
                                  "inactive_disease": False, "printo_improvement": v != "W0",
                                  "missing_measures": ""} for p in PATIENTS for v in VISITS])
        outcomes.loc[outcomes["visit"] == "W0", "response"] = np.nan
        write_tsv(outcomes, tree.table("clinical_outcomes"))
        w24 = outcomes[outcomes["visit"] == "W24"]
        write_tsv(pd.DataFrame({"patient_id": w24["patient_id"], "tis_w24": w24["tis"],
                                "response_w24": w24["response"],
                                "major_response_w24": w24["response"] == "major",
                                "inactive_w24": False}), tree.table("response_w24"))
    if "linking" in parts:
        write_tsv(pd.DataFrame({"analysis": "ifn_vs_clinical", "biomarker": ["RICE_2013_6_ISG", "CXCL10"],
                                "comparison": "change W24-W0 vs TIS", "n": [6, 6], "estimate": [-0.6, -0.2],
                                "ci_low": [-0.9, -0.8], "ci_high": [-0.1, 0.5], "p_value": [0.2, 0.01],
                                "q_value": [0.2, 0.02], "method": "spearman"}),
                  tree.table("linking_ifn_clinical"))
    if "plots" in parts:
        _png(tree.plot("qc/library_size"), "library size")
        _png(tree.plot("de/W4_vs_W0_volcano"), "volcano")
        _png(tree.plot("misc_thing"), "other")
    if "anndata" in parts:
        import anndata as ad

        adata = ad.AnnData(X=rng.poisson(5, size=(4, 5)).astype(np.float32))
        adata.obs_names = [f"S{i}" for i in range(4)]
        adata.var_names = [f"G{i}" for i in range(5)]
        write_h5ad(adata, tree.anndata("expression"))
    if "manifest" in parts:
        steps = {name: {"status": "ok", "seconds": 1.5, "summary": {"summary": f"{name} done"}}
                 for name in ("clinical", "cytokines", "assemble_expression", "expression", "de", "linking")}
        steps["expression"]["summary"]["reference"] = {"kind": "pooled_visit", "visit": "W0", "version": "v1"}
        for step, reason in (skipped or {}).items():
            steps[step] = {"status": "skipped", "seconds": 0.0, "error": reason}
        write_json({
            "run_id": root.name, "study": "MYOCIT-test", "started": "2026-11-27T10:00:00Z",
            "finished": "2026-11-27T10:05:00Z", "status": "ok",
            "parameters": {"visits": VISITS,
                           "config": {"study": "MYOCIT-test",
                                      "reference": {"kind": "pooled_visit", "visit": "W0"}}},
            "inputs": [{"batch_id": "a" * 64, "name": "rnaseq-seq1", "kind": "rnaseq",
                        "files": {"counts": {"name": "counts.tsv", "sha256": "b" * 64}}}],
            "gene_sets": [{"name": "RICE_2013_6_ISG", "file": "ifn_signatures_published.gmt",
                           "sha256": "c" * 64}],
            "seed": 20221110, "software": {"python": "3.11.7", "pydeseq2": "0.5.4"},
            "steps": steps,
        }, tree.manifest)
    return root


@pytest.fixture
def run_tree(tmp_path: Path) -> Callable[..., Path]:
    """Return a function writing a results tree under tmp_path (``parts``, ``skipped`` as keywords)."""

    def make(name: str = "run-1", **kwargs: object) -> Path:
        return write_run_tree(tmp_path / "results" / name, **kwargs)  # type: ignore[arg-type]

    return make
