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


def test_a_mode_the_writer_chose_is_kept(tmp_path):
    from myocit_omics.results import atomic_path

    with atomic_path(tmp_path / "frozen.npz") as tmp:
        tmp.write_bytes(b"x")
        os.chmod(tmp, 0o444)
    assert stat.S_IMODE((tmp_path / "frozen.npz").stat().st_mode) == 0o444
