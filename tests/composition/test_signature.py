"""A user's signature matrix: located messages for bad files, and NNLS on exact mixtures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from myocit_omics.composition.signature import match_genes, nnls_fractions, read_signature
from myocit_omics.errors import InputError

GOOD = "cell_type\tG1\tG2\tG3\n" + "".join(
    f"{ct}\t" + "\t".join(str(v) for v in row) + "\n"
    for ct, row in (("mono", (10, 0, 1)), ("neut", (0, 20, 2)))
)


def _write(tmp_path, text):
    path = tmp_path / "sig.tsv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_is_read_as_cell_types_by_genes(tmp_path):
    sig = read_signature(_write(tmp_path, GOOD))
    assert sig.cell_types == ["mono", "neut"]
    assert list(sig.matrix.columns) == ["G1", "G2", "G3"]
    assert sig.matrix.loc["neut", "G2"] == 20


@pytest.mark.parametrize(
    ("text", "rule", "row", "column", "value"),
    [
        ("cell_type\tG1\tG2\tG1\nmono\t1\t2\t3\n", "signature.duplicate_gene", 1, "G1", "columns 2 and 4"),
        ("cell_type\tG1\tG2\nmono\t1\t2\nneut\t3\t-0.5\n", "signature.negative", 3, "G2", "-0.5"),
        ("cell_type\tG1\tG2\nmono\t1\tabc\n", "signature.number", 2, "G2", "abc"),
        ("cell_type\tG1\tG2\nmono\t1\tnan\n", "signature.negative", 2, "G2", "nan"),
        (
            "cell_type\tG1\tG2\nmono\t1\t2\nmono\t3\t4\n",
            "signature.duplicate_cell_type",
            3,
            "cell_type",
            "mono",
        ),
        ("cell_type\tG1\tG2\nmono\t1\n", "signature.fields", 2, None, 2),
    ],
)
def test_bad_files_get_a_located_message(tmp_path, text, rule, row, column, value):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        read_signature(path)
    p = err.value.problem
    assert (p.rule, p.row, p.column, p.value) == (rule, row, column, value)
    assert p.file == str(path) and p.expected
    assert str(path) in str(err.value)


def test_no_overlap_with_the_counts_is_refused_with_the_coverage(tmp_path):
    sig = read_signature(_write(tmp_path, GOOD))
    with pytest.raises(InputError) as err:
        match_genes(sig, ["ENSG1", "ENSG2"], ["A", "B"])
    assert err.value.problem.rule == "signature.no_overlap"
    assert "0 of 3 genes shared" in str(err.value)


def test_partial_overlap_is_reported_with_the_missing_genes(tmp_path):
    genes = [f"G{i}" for i in range(1, 13)]
    text = "cell_type\t" + "\t".join(genes) + "\nmono\t" + "\t".join(["1"] * 12) + "\n"
    sig = read_signature(_write(tmp_path, text))
    pos, matched, coverage = match_genes(sig, [f"ENSG{i}" for i in range(11)], [f"G{i}" for i in range(11)])
    assert matched == genes[:10] and pos == list(range(1, 11))
    row = coverage.iloc[0]
    assert (row["n_genes_signature"], row["n_matched"], row["missing_genes"]) == (12, 10, "G11,G12")


def test_nnls_recovers_the_fractions_of_exact_mixtures():
    rng = np.random.default_rng(3)
    signature = rng.gamma(1.0, 50.0, size=(4, 60))
    truth = rng.dirichlet(np.ones(4), size=10)
    mixtures = truth @ signature * 7.0  # any scale: fractions are normalised
    fractions, residual = nnls_fractions(mixtures, signature)
    assert np.allclose(fractions, truth, atol=1e-8)
    assert np.all(residual < 1e-8)
    noisy, resid_noisy = nnls_fractions(mixtures * rng.lognormal(0, 0.2, size=mixtures.shape), signature)
    assert (noisy >= 0).all() and np.allclose(noisy.sum(axis=1), 1)
    assert np.all(resid_noisy > residual) and np.abs(noisy - truth).max() < 0.15
    frame = pd.DataFrame(fractions)
    assert frame.shape == (10, 4)
