"""``myocit ifn-score`` on a plain TSV, a GMT file and the shipped sets; bad input exits 2."""

from __future__ import annotations

import pandas as pd

from myocit_omics.cli import main


def _write(tmp_path, small_matrix):
    counts, sheet, _ = small_matrix
    counts.index.name = "gene_id"
    counts.to_csv(tmp_path / "counts.tsv", sep="\t")
    sheet.to_csv(tmp_path / "samples.csv", index=False)
    (tmp_path / "mine.gmt").write_text("MY_SET\tmine\tIFI27\tISG15\tRSAD2\tIFIT1\n", encoding="utf-8")
    return tmp_path / "counts.tsv", tmp_path / "samples.csv"


def test_cli_writes_scores_coverage_and_thresholds(tmp_path, small_matrix, capsys):
    counts, sheet = _write(tmp_path, small_matrix)
    out = tmp_path / "out" / "scores.tsv"
    code = main(
        [
            "ifn-score",
            str(counts),
            "--samples",
            str(sheet),
            "--reference",
            "healthy_control",
            "--gene-set",
            "rice6",
            "--gene-set",
            str(tmp_path / "mine.gmt"),
            "--method",
            "median_fc",
            "--method",
            "ssgsea",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    scores = pd.read_csv(out, sep="\t")
    assert set(scores["gene_set"]) == {"RICE_2013_6_ISG", "MY_SET"}
    assert set(scores["method"]) == {"median_fc", "ssgsea"}
    assert len(scores) == 11 * 2 * 2
    cov = pd.read_csv(tmp_path / "out" / "scores_gene_coverage.tsv", sep="\t")
    assert set(cov["gene_set"]) == {"RICE_2013_6_ISG", "MY_SET"}
    assert (tmp_path / "out" / "scores_thresholds.tsv").is_file()
    assert "healthy_control" in capsys.readouterr().out


def test_cli_bad_input_exits_2_with_a_message(tmp_path, small_matrix, capsys):
    counts, sheet = _write(tmp_path, small_matrix)
    code = main(
        [
            "ifn-score",
            str(counts),
            "--samples",
            str(sheet),
            "--reference",
            "pooled:W4",
            "--out",
            str(tmp_path / "x.tsv"),
        ]
    )
    assert code == 2
    assert "W4" in capsys.readouterr().err
    assert not (tmp_path / "x.tsv").exists()
    code = main(
        [
            "ifn-score",
            str(counts),
            "--samples",
            str(sheet),
            "--reference",
            "healthy_control",
            "--gene-set",
            "no_such_set",
            "--out",
            str(tmp_path / "x.tsv"),
        ]
    )
    assert code == 2
    assert "rice6" in capsys.readouterr().err
