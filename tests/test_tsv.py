"""``tsv_text`` writes what ``DataFrame.to_csv`` writes, byte for byte, or declines."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from myocit_omics.results import write_tsv
from myocit_omics.tsv import tsv_text


def _to_csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, sep="\t", index=False, na_rep="NA", lineterminator="\n")
    return buf.getvalue()


def _awkward_floats(n: int = 20000) -> np.ndarray:
    rng = np.random.default_rng(7)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e16, 9999999999999998.0, 1e15, 1e-4, 1e-5, 5e-324,
               1.7976931348623157e308, 0.1, 2.5, 100.0, 123456789012345678.0, -1e-300]
    scaled = rng.standard_normal(n) * 10.0 ** rng.integers(-310, 300, n)
    return np.concatenate([special, scaled, rng.random(n)])


def test_a_de_like_table_is_formatted_as_to_csv_does():
    x = _awkward_floats()
    n = x.size
    df = pd.DataFrame({
        "gene_id": [f"ENSG{i:011d}" for i in range(n)],
        "gene_name": ["" if i % 97 == 0 else f"GENE-{i}.1 é" for i in range(n)],
        "base_mean": x, "log2_fc": -x[::-1], "padj": np.where(np.arange(n) % 3 == 0, np.nan, x),
        "log2_fc_shrunk": np.nan, "n": np.arange(n, dtype=np.int64) - 5, "ok": np.arange(n) % 2 == 0,
        "contrast": "W4_vs_W0",
    })
    text = tsv_text(df)
    assert text is not None and text == _to_csv(df)


def test_missing_strings_are_na_as_in_to_csv():
    df = pd.DataFrame({"a": ["x", None, np.nan, "NA"], "b": [1.0, 2.0, np.nan, 4.0]})
    assert tsv_text(df) == _to_csv(df)


def test_an_empty_table_is_its_header():
    df = pd.DataFrame({"a": pd.Series([], dtype=object), "b": pd.Series([], dtype=float)})
    assert tsv_text(df) == _to_csv(df) == "a\tb\n"


@pytest.mark.parametrize("df", [
    pd.DataFrame({"a": ["x\ty", "z"], "b": [1.0, 2.0]}),       # would be quoted
    pd.DataFrame({"a": ['say "hi"', "z"], "b": [1.0, 2.0]}),
    pd.DataFrame({"a": ["two\nlines", "z"], "b": [1.0, 2.0]}),
    pd.DataFrame({"a": ["x", 3], "b": [1.0, 2.0]}),            # object column of non-strings
    pd.DataFrame({"a": [1.0, 2.0]}),                           # one column: an empty cell is quoted
    pd.DataFrame({0: ["x"], 1: [1.0]}),                        # labels that are not strings
    pd.DataFrame({"a": ["x"], "b": pd.array([1], dtype="Int64")}),
    pd.DataFrame({"a": ["x"], "b": np.array([1.5], dtype=np.float32)}),
    pd.DataFrame({"a": ["x"], "b": pd.to_datetime(["2026-01-01"])}),
])
def test_tables_it_cannot_reproduce_are_declined_and_written_by_to_csv(df, tmp_path):
    assert tsv_text(df) is None
    assert write_tsv(df, tmp_path / "t.tsv").read_text(encoding="utf-8") == _to_csv(df)


def test_write_tsv_bytes_are_to_csv_bytes(tmp_path):
    df = pd.DataFrame({"gene_id": ["G1", "G2"], "p": [0.5, np.nan], "name": ["Ä", "b"]})
    path = write_tsv(df, tmp_path / "t.tsv")
    assert path.read_bytes() == _to_csv(df).encode("utf-8")
