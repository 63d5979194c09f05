from __future__ import annotations

import gzip

import pytest

from myocit_omics.errors import InputError, ValidationFailed
from myocit_omics.io.tables import MAX_CELL_CHARS, read_table

GOOD = "sample_id,patient_id,visit\nS1,MYO-01,W0\nS2,MYO-02,W4\n"


def _problems(path, **kwargs):
    with pytest.raises((InputError, ValidationFailed)) as info:
        read_table(path, **kwargs)
    return info.value.problems


# ---------------------------------------------------------------- malformed files: one kind per case
# (kind, file content, expected rule, words the message must contain)
MALFORMED = [
    ("empty", b"", "file.empty", "empty"),
    ("whitespace only", b"  \n\n \n", "file.empty", "empty"),
    ("header only", b"sample_id,patient_id,visit\n", "file.no_rows", "no data rows"),
    ("truncated last row", b"sample_id,patient_id,visit\nS1,MYO-01,W0\nS2,MY", "file.truncated", "truncated"),
    ("wrong delimiter (pipe)", b"sample_id|patient_id|visit\nS1|MYO-01|W0\n", "file.delimiter", "'|' (pipe)"),
    ("binary garbage", bytes(range(256)) * 8, "file.binary", "binary"),
    ("duplicated header", b"sample_id,visit,visit\nS1,W0,W4\n", "file.duplicate_header", "appears twice"),
    ("empty header name", b"sample_id,,visit\nS1,x,W0\n", "file.header_empty", "empty column name"),
    (
        "ragged row",
        b"sample_id,patient_id,visit\nS1,MYO-01,W0,extra,more\nS2,MYO-02\n",
        "file.field_count",
        "fields but the header has 3",
    ),
    (
        "huge cell",
        b"sample_id,patient_id,visit\nS1," + b"A" * (MAX_CELL_CHARS + 10) + b",W0\n",
        "file.huge_cell",
        "characters",
    ),
    ("UTF-16 encoding", GOOD.encode("utf-16"), "file.encoding", "UTF-16"),
    ("zip posing as csv", b"PK\x03\x04" + b"\x00" * 40, "file.format", "zip/xlsx container"),
]


@pytest.mark.parametrize(("kind", "content", "rule", "words"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_is_refused_with_its_message(tmp_path, kind, content, rule, words):
    path = tmp_path / "samples.csv"
    path.write_bytes(content)
    problems = _problems(path)
    rules = [p.rule for p in problems]
    assert rule in rules, (kind, [p.describe() for p in problems])
    p = problems[rules.index(rule)]
    assert words in p.describe()
    assert p.file == "samples.csv"


def test_truncated_gzip_is_refused(tmp_path):
    data = gzip.compress((GOOD * 2000).encode())
    path = tmp_path / "counts.tsv.gz"
    path.write_bytes(data[: len(data) // 2])
    [p] = _problems(path)
    assert p.rule == "file.truncated" and "gzip stream ends early" in p.message


def test_corrupt_xlsx_is_refused(tmp_path):
    path = tmp_path / "core_set.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a workbook")
    [p] = _problems(path)
    assert p.rule == "file.corrupt" and "workbook" in p.describe()


def test_old_xls_is_refused_with_fix(tmp_path):
    path = tmp_path / "core_set.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    [p] = _problems(path)
    assert p.rule == "file.format" and "xlsx" in p.fix


def test_ragged_rows_all_reported_with_row_numbers(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("a,b,c\n1,2,3\n1,2\n1,2,3\n4\n")
    problems = _problems(path)
    assert [(p.rule, p.row) for p in problems] == [("file.field_count", 3), ("file.field_count", 5)]


# ---------------------------------------------------------------- what is handled, and recorded
def test_bom_and_crlf_are_handled(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    df = read_table(path)
    assert list(df.columns) == ["sample_id", "patient_id", "visit"]
    assert df.attrs["source"]["encoding"] == "utf-8-sig"
    assert df.loc[3, "visit"] == "W4"


def test_latin1_is_detected_and_recorded(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("sample_id,note\nS1,Müller-Thurgau rosé\n".encode("latin-1"))
    df = read_table(path)
    assert df.attrs["source"]["encoding"] in ("cp1252", "latin-1")
    assert df.loc[2, "note"] == "Müller-Thurgau rosé"


def test_semicolon_and_decimal_comma_are_converted_and_recorded(tmp_path):
    path = tmp_path / "core.csv"
    path.write_text("patient_id;visit;chaq;cmas\nMYO-01;W0;1,25;40\nMYO-01;W4;0,5;44\n")
    df = read_table(path)
    assert df.attrs["source"]["separator"] == "semicolon"
    assert df.attrs["source"]["decimal"] == ","
    assert df.attrs["source"]["decimal_commas_converted"] == 2
    assert list(df["chaq"]) == ["1.25", "0.5"]
    assert list(df["cmas"]) == ["40", "44"]


def test_tab_separated_with_comment_lines_and_row_numbers(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("# made by a pipeline\ngene\tS1\tS2\nA\t1\t2\n\nB\t3\t4\n")
    df = read_table(path)
    assert df.attrs["source"]["separator"] == "tab"
    assert df.attrs["source"]["comment_lines_skipped"] == 1
    assert df.attrs["source"]["blank_rows_skipped"] == 1
    assert list(df.index) == [3, 5]


def test_spreadsheet_padding_columns_are_dropped_and_counted(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("sample_id,visit,,\nS1,W0,,\nS2,W4,,\n")
    df = read_table(path)
    assert list(df.columns) == ["sample_id", "visit"]
    assert df.attrs["source"]["empty_padding_columns_dropped"] == 2


def test_xlsx_is_read_with_spreadsheet_row_numbers(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["patient_id", "visit", "cmas"])
    ws.append(["MYO-01", "W0", 40])
    ws.append(["MYO-02", "W0", 38.5])
    path = tmp_path / "core_set.xlsx"
    wb.save(path)
    df = read_table(path)
    assert df.attrs["source"]["format"] == "xlsx"
    assert df.loc[3, "patient_id"] == "MYO-02"
    assert float(df.loc[3, "cmas"]) == 38.5
