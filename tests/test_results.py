from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from myocit_omics.results import ResultsTree, atomic_open, write_tsv


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "t.tsv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as fh:
        fh.write("half a fi")
        raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.tsv"]


def test_results_are_readable_by_the_team(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_tsv(pd.DataFrame({"a": [1, None]}), ResultsTree(tmp_path / "run").table("x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text() == "a\n1.0\nNA\n"
