"""``myocit composition``: one row per sample, cell type and method; bad signature files exit 2."""

from __future__ import annotations

import pandas as pd

from myocit_omics.cli import main


def _inputs(tmp_path, mixtures):
    counts = mixtures["counts"].iloc[:, :12].copy()
    counts.index.name = "gene_id"
    counts.to_csv(tmp_path / "counts.tsv", sep="\t")
    pd.DataFrame({"sample_id": counts.columns, "patient_id": [f"P{i}" for i in range(12)]}).to_csv(
        tmp_path / "samples.csv", index=False
    )
    mixtures["signature"].rename_axis("cell_type").to_csv(tmp_path / "signature.tsv", sep="\t")
    return tmp_path / "counts.tsv", tmp_path / "samples.csv", tmp_path / "signature.tsv"


def test_writes_the_long_table_and_the_coverage(tmp_path, mixtures, capsys):
    counts, sheet, signature = _inputs(tmp_path, mixtures)
    out = tmp_path / "out" / "composition.tsv"
    code = main(
        [
            "composition",
            str(counts),
            "--samples",
            str(sheet),
            "--signature",
            str(signature),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == ["sample_id", "cell_type", "method", "estimate"]
    assert set(table["method"]) == {"marker_btm", "nnls"}
    assert not table.duplicated(["sample_id", "cell_type", "method"]).any()
    nnls = table[table["method"] == "nnls"]
    assert set(nnls["cell_type"]) == set(mixtures["signature"].index)
    assert len(nnls) == 12 * len(mixtures["signature"])
    assert set(table.loc[table["method"] == "marker_btm", "cell_type"]) >= {"monocyte", "t_cell", "b_cell"}
    cov = pd.read_csv(tmp_path / "out" / "composition_signature_coverage.tsv", sep="\t")
    assert cov.loc[0, "n_matched"] == cov.loc[0, "n_genes_signature"]
    fit = pd.read_csv(tmp_path / "out" / "composition_nnls_fit.tsv", sep="\t")
    assert len(fit) == 12 and fit["relative_residual"].between(0, 1).all()
    assert (tmp_path / "out" / "composition_marker_coverage.tsv").is_file()
    text = capsys.readouterr().out
    assert "in 12 samples" in text and "genes found in the counts (100.0%)" in text


def test_a_signature_with_a_duplicated_gene_exits_2_with_a_located_message(tmp_path, mixtures, capsys):
    counts, sheet, signature = _inputs(tmp_path, mixtures)
    lines = signature.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    header[3] = header[1]
    lines[0] = "\t".join(header)
    signature.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "composition.tsv"
    code = main(
        [
            "composition",
            str(counts),
            "--samples",
            str(sheet),
            "--signature",
            str(signature),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert (
        "gene appears twice" in err and "signature.tsv" in err and "row 1" in err and "Traceback" not in err
    )
    assert not out.exists()


def test_a_signature_sharing_no_gene_with_the_counts_exits_2(tmp_path, mixtures, capsys):
    counts, sheet, signature = _inputs(tmp_path, mixtures)
    sig = mixtures["signature"].iloc[:, :20].copy()
    sig.columns = [f"NOT_A_GENE_{i}" for i in range(20)]
    sig.rename_axis("cell_type").to_csv(signature, sep="\t")
    code = main(
        [
            "composition",
            str(counts),
            "--samples",
            str(sheet),
            "--signature",
            str(signature),
            "--out",
            str(tmp_path / "c.tsv"),
        ]
    )
    assert code == 2
    assert "shares too few genes" in capsys.readouterr().err


def test_a_matrix_of_gene_ids_only_gets_a_message_that_says_why_and_what_to_do(capsys):
    from pathlib import Path

    demo = Path(__file__).resolve().parents[2] / "data" / "demo" / "batches" / "rnaseq-seq2"
    if not demo.is_dir():
        import pytest

        pytest.skip("data/demo is not present")
    code = main(
        [
            "composition",
            str(demo / "featurecounts.txt.gz"),
            "--samples",
            str(demo / "samples.csv"),
            "--out",
            "unused.tsv",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "featurecounts.txt.gz" in err and "names its genes by id only" in err and "Traceback" not in err
