from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from myocit_omics.errors import InputError, ValidationFailed
from myocit_omics.io.counts import column_aliases, detect_format, read_counts


def test_nfcore_salmon_estimates_are_rounded_and_recorded(tmp_path):
    path = tmp_path / "salmon.merged.gene_counts.tsv"
    path.write_text("gene_id\tgene_name\tS1\tS2\nG1\tA\t10.5\t3\nG2\tB\t11.5\t0.2\nG3\tC\t7\t8\n")
    m = read_counts(path)
    assert m.fmt == "nfcore"
    # half to even: 10.5 -> 10, 11.5 -> 12; 0.2 -> 0
    assert m.counts.loc["G1", "S1"] == 10 and m.counts.loc["G2", "S1"] == 12 and m.counts.loc["G2", "S2"] == 0
    assert m.counts.dtypes.unique().tolist() == [np.dtype("int64")]
    assert m.rounding["n_rounded"] == 3
    assert m.rounding["max_change"] == pytest.approx(0.5)
    assert m.gene_names["G3"] == "C"


def test_refuse_policy_names_the_first_fractional_cell(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("gene_id\tgene_name\tS1\nG1\tA\t3\nG2\tB\t2.5\n")
    with pytest.raises(InputError) as info:
        read_counts(path, rounding="refuse")
    p = info.value.problem
    assert (p.rule, p.row, p.column, p.value) == ("counts.non_integer", 3, "S1", "2.5")


def test_negative_and_non_numeric_counts_are_all_refused_with_cells(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("gene_id,S1,S2\nG1,5,-3\nG2,abc,4\nG3,,1\nG4,inf,2\n")
    with pytest.raises(ValidationFailed) as info:
        read_counts(path)
    got = {(p.rule, p.row, p.column, p.value) for p in info.value.problems}
    assert got == {
        ("counts.negative", 2, "S2", "-3"),
        ("counts.not_numeric", 3, "S1", "abc"),
        ("counts.missing", 4, "S1", ""),
        ("counts.not_numeric", 5, "S1", "inf"),
    }


def test_duplicate_gene_ids_are_refused(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("gene_id,S1\nG1,5\nG2,3\nG1,4\n")
    with pytest.raises(ValidationFailed) as info:
        read_counts(path)
    [p] = info.value.problems
    assert p.rule == "counts.duplicate_gene" and p.value == "G1" and "rows 2, 4" in p.message


def test_plain_table_needs_a_gene_id_column_first(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("S1,S2\n5,3\n")
    with pytest.raises(InputError) as info:
        read_counts(path)
    assert info.value.problem.rule == "counts.header"


def test_featurecounts_with_bam_columns(tmp_path):
    path = tmp_path / "featurecounts.txt.gz"
    text = (
        '# Program:featureCounts v2.0.6; Command:"featureCounts" "-a" "x.gtf"\n'
        "Geneid\tChr\tStart\tEnd\tStrand\tLength\tstar/L1.Aligned.sortedByCoord.out.bam\tstar/L2.bam\n"
        "G1\tchr1;chr1\t10;50\t20;60\t+;+\t22\t5\t6\nG2\tchrX\t1\t100\t-\t100\t0\t9\n"
    )
    path.write_bytes(gzip.compress(text.encode()))
    assert detect_format(path) == "featurecounts"
    m = read_counts(path)
    assert m.fmt == "featurecounts"
    assert m.samples == ["star/L1.Aligned.sortedByCoord.out.bam", "star/L2.bam"]
    assert m.counts.loc["G2", "star/L2.bam"] == 9
    aliases = column_aliases(m)
    assert aliases["L1"] == "star/L1.Aligned.sortedByCoord.out.bam" and aliases["L2"] == "star/L2.bam"


def test_htseq_folder_keeps_special_rows_apart(tmp_path):
    d = tmp_path / "htseq"
    d.mkdir()
    for s, (a, b) in {"S1": (5, 7), "S2": (0, 3)}.items():
        (d / f"{s}.counts.txt").write_text(f"G1\t{a}\nG2\t{b}\n__no_feature\t100\n__ambiguous\t4\n")
    m = read_counts(d)
    assert m.fmt == "htseq"
    assert list(m.counts.index) == ["G1", "G2"]
    assert m.counts.loc["G2", "S1"] == 7
    assert m.special_rows.loc["__no_feature", "S2"] == 100


def test_htseq_folder_with_different_genes_is_refused(tmp_path):
    d = tmp_path / "htseq"
    d.mkdir()
    (d / "S1.txt").write_text("G1\t5\nG2\t7\n")
    (d / "S2.txt").write_text("G1\t5\nG3\t7\n")
    with pytest.raises(ValidationFailed) as info:
        read_counts(d)
    assert info.value.problems[0].rule == "counts.gene_mismatch"


def test_h5ad_counts_layer(tmp_path):
    import anndata as ad

    counts = np.array([[1, 2, 3], [4, 5, 6]])
    adata = ad.AnnData(
        X=np.zeros((2, 3)),
        obs=pd.DataFrame(index=["S1", "S2"]),
        var=pd.DataFrame({"gene_name": ["A", "B", "C"]}, index=["G1", "G2", "G3"]),
    )
    adata.layers["counts"] = counts
    path = tmp_path / "x.h5ad"
    adata.write_h5ad(path)
    m = read_counts(path)
    assert m.fmt == "h5ad"
    assert m.counts.loc["G3", "S2"] == 6 and m.gene_names["G2"] == "B"


def test_real_lee2021_merged_htseq_counts(shared):
    path = shared("fixtures", "rnaseq", "lee2021_saec_gse161664_counts.tsv.gz")
    special = pd.read_csv(
        shared("fixtures", "rnaseq", "lee2021_saec_gse161664_htseq_special_rows.tsv"), sep="\t", index_col=0
    )
    m = read_counts(path)
    assert m.counts.shape == (26364, 16)
    assert m.rounding["n_rounded"] == 0
    # no __ row in the merged matrix (they are in the separate special-rows file)
    assert not m.counts.index.str.startswith("__").any()
    assert set(special.columns) == set(m.samples)


# The C-parser route of clean plain/nf-core tables (_read_plain_fast) must give what the validating
# route gives, and leave every table it does not fully understand to that route.
_FAST = {
    "plain_tsv": "gene_id\tS1\tS2\nG1\t5\t0\nG2\t 7\t+3\nG3\t007\t-0\n",
    "nfcore_integers": "gene_id\tgene_name\tS1\tS2\nG1\tA \t10\t3\nG2\t B\t11\t0\n",
    "no_final_newline": "gene\tS1\tS2\nG1\t5\t1\nG2\t6\t2",
    "semicolon": "gene_id;S1;S2\nG1;5;1\nG2;6;2\n",
    "comma": "Geneid,S1,S2\nG1,5,1\nG2,6,2\n",
    "names_look_missing": "gene_id\tgene_name\tS1\nNA\tnan\t1\nG2\t\t2\n",
    "duplicate_ids": "gene_id\tS1\nG1\t1\nG1\t2\nG2\t3\n",
    "empty_id": "gene_id\tS1\tS2\n \t1\t2\nG2\t3\t4\n",
}
_GENERAL = {
    "decimal": "gene_id\tS1\tS2\nG1\t5.0\t1\nG2\t6\t2\n",
    "negative": "gene_id\tS1\tS2\nG1\t-5\t1\nG2\t6\t2\n",
    "missing": "gene_id\tS1\tS2\nG1\t\t1\nG2\t6\t2\n",
    "text": "gene_id\tS1\tS2\nG1\tNA\t1\nG2\t6\t2\n",
    "underscore": "gene_id\tS1\nG1\t1_000\n",
    "huge": "gene_id\tS1\nG1\t99999999999999999999\n",
    "above_2_53": "gene_id\tS1\nG1\t9007199254740993\n",
    "quoted": 'gene_id\tS1\n"G1"\t1\n',
    "crlf": "gene_id\tS1\r\nG1\t1\r\n",
    "comment": "# made by hand\ngene_id\tS1\nG1\t1\n",
    "blank_line": "gene_id\tS1\nG1\t1\n\nG2\t2\n",
    "ragged": "gene_id\tS1\tS2\nG1\t1\nG2\t2\t3\n",
    "trailing_empty_column": "gene_id\tS1\t\nG1\t1\t\nG2\t2\t\n",
    "duplicate_header": "gene_id\tS1\tS1\nG1\t1\t2\n",
    "decimal_comma": "gene_id;S1\nG1;1,5\n",
    "comma_in_name": "gene_id\tgene_name\tS1\nG1\tA,B\t1\n",
    "special_rows": "gene_id\tS1\nG1\t1\n__no_feature\t4\n",
    "bad_first_column": "sample\tS1\nG1\t1\n",
    "header_only": "gene_id\tS1\n",
    "nfcore_fractions": "gene_id\tgene_name\tS1\nG1\tA\t2.5\n",
}


def _read_both(path, monkeypatch, **kwargs):
    """(outcome of read_counts, outcome without the fast route): a CountMatrix or the error raised."""
    from myocit_omics.io import counts as counts_module

    def outcome():
        try:
            return read_counts(path, **kwargs)
        except (InputError, ValidationFailed) as exc:
            return exc

    fast = outcome()
    with monkeypatch.context() as m:
        m.setattr(counts_module, "_read_plain_fast", lambda *a, **k: None)
        general = outcome()
    return fast, general


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, Exception):
        assert [p.to_dict() for p in a.problems] == [p.to_dict() for p in b.problems]
        return
    pd.testing.assert_frame_equal(a.counts, b.counts, check_exact=True)
    pd.testing.assert_series_equal(a.gene_names, b.gene_names, check_exact=True)
    assert (a.fmt, a.rounding, a.source, list(a.source)) == (b.fmt, b.rounding, b.source, list(b.source))
    pd.testing.assert_frame_equal(a.special_rows, b.special_rows)


@pytest.mark.parametrize("name", sorted(_FAST))
def test_clean_tables_take_the_c_parser_route_with_the_same_result(name, tmp_path, monkeypatch):
    from myocit_omics.io.counts import _read_plain_fast

    suffix = ".csv" if name in ("comma",) else ".tsv"
    path = tmp_path / f"counts{suffix}"
    path.write_text(_FAST[name])
    fmt = detect_format(path)
    if name not in ("duplicate_ids", "empty_id"):
        assert _read_plain_fast(path, label=path.name, fmt=fmt, rounding="nearest") is not None
    _assert_same(*_read_both(path, monkeypatch))


@pytest.mark.parametrize("name", sorted(_GENERAL))
def test_other_tables_go_the_validating_route(name, tmp_path, monkeypatch):
    from myocit_omics.io.counts import _read_plain_fast

    path = tmp_path / "counts.tsv"
    path.write_bytes(_GENERAL[name].encode())
    fmt = detect_format(path)
    if fmt in ("plain", "nfcore"):
        assert _read_plain_fast(path, label=path.name, fmt=fmt, rounding="nearest") is None
    _assert_same(*_read_both(path, monkeypatch))
    _assert_same(*_read_both(path, monkeypatch, rounding="refuse"))


def test_gzipped_and_bom_tables_take_the_c_parser_route(tmp_path, monkeypatch):
    text = "gene_id\tgene_name\tS1\tS2\nG1\tA\t1\t2\nG2\tB\t3\t4\n"
    gz = tmp_path / "counts.tsv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    _assert_same(*_read_both(gz, monkeypatch))
    bom = tmp_path / "bom.tsv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    fast, general = _read_both(bom, monkeypatch)
    _assert_same(fast, general)
    assert fast.source["encoding"] == "utf-8-sig"
