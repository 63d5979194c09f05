"""`myocit report RUN_DIR` re-renders from the results tree, without recomputing."""

from __future__ import annotations

import pandas as pd

from myocit_omics.cli import main
from myocit_omics.results import write_tsv


def test_cli_rerenders_from_the_tables(run_tree, capsys):
    root = run_tree()
    assert main(["report", str(root)]) == 0
    assert str(root / "report.html") in capsys.readouterr().out
    assert "18 samples; per visit" in (root / "report.html").read_text(encoding="utf-8")
    # a changed table shows in the next rendering: the report is made from the tree, nothing cached
    qc = pd.read_csv(root / "tables" / "qc_samples.tsv", sep="\t")
    write_tsv(qc.head(12), root / "tables" / "qc_samples.tsv")
    assert main(["report", str(root)]) == 0
    text = (root / "report.html").read_text(encoding="utf-8")
    assert "12 samples; per visit" in text and "18 samples; per visit" not in text


def test_cli_resolves_a_run_id_under_the_home(run_tree, tmp_path, capsys):
    run_tree(name="20261127T100000Z")
    assert main(["report", "20261127T100000Z", "--home", str(tmp_path)]) == 0
    assert (tmp_path / "results" / "20261127T100000Z" / "report.html").is_file()


def test_cli_bad_folder_is_exit_2_with_a_message(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "results folder not found" in err and "missing" in err
