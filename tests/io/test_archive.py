from __future__ import annotations

import stat
import zipfile

import pytest

from myocit_omics.errors import ValidationFailed
from myocit_omics.io.archive import ArchiveLimits, check_zip, safe_extract


def _zip(path, entries):
    encrypted = any(info.flag_bits & 0x1 for info, _ in entries)
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    if encrypted:
        _mark_encrypted(path)
    return path


def _mark_encrypted(path):
    """Set the 'encrypted' flag bit in every local and central header (zipfile cannot write it)."""
    data = bytearray(path.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        while at != -1:
            data[at + offset] |= 0x1
            at = data.find(sig, at + 4)
    path.write_bytes(bytes(data))


def _info(name, *, mode=None, flags=0):
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    if mode is not None:
        info.external_attr = mode << 16
    info.flag_bits |= flags
    return info


HOSTILE = [
    ("zip-slip", [(_info("batch/../../evil.sh"), b"rm -rf ~")], {}, "archive.path_traversal", "zip-slip"),
    ("absolute path", [(_info("/etc/cron.d/evil"), b"x")], {}, "archive.absolute_path", "absolute path"),
    ("windows drive", [(_info("C:/evil.txt"), b"x")], {}, "archive.absolute_path", "absolute path"),
    (
        "symlink",
        [(_info("batch/link", mode=stat.S_IFLNK | 0o777), b"/etc/passwd")],
        {},
        "archive.link",
        "symbolic link",
    ),
    (
        "encrypted",
        [(_info("batch/manifest.yaml", flags=0x1), b"kind: rnaseq")],
        {},
        "archive.encrypted",
        "encrypted",
    ),
    (
        "zip bomb (ratio)",
        [(_info("batch/big.csv"), b"0" * 400_000)],
        {"ratio_floor_bytes": 10_000, "max_ratio": 50},
        "archive.bomb",
        "compression ratio",
    ),
    (
        "zip bomb (total size)",
        [(_info("batch/a.csv"), b"1" * 3000), (_info("batch/b.csv"), b"2" * 3000)],
        {"max_total_bytes": 5000},
        "archive.bomb",
        "expands to 6000 bytes",
    ),
    (
        "too many entries",
        [(_info(f"batch/{i}.txt"), b"x") for i in range(6)],
        {"max_entries": 5},
        "archive.too_many_entries",
        "6 entries",
    ),
]


@pytest.mark.parametrize(("kind", "entries", "limits", "rule", "words"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_archive_is_refused_before_anything_is_written(tmp_path, kind, entries, limits, rule, words):
    zpath = _zip(tmp_path / "batch.zip", entries)
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(ValidationFailed) as info:
        safe_extract(zpath, dest, limits=ArchiveLimits(**limits))
    rules = [p.rule for p in info.value.problems]
    assert rule in rules, kind
    assert words in info.value.problems[rules.index(rule)].describe()
    assert list(dest.iterdir()) == []
    assert not (tmp_path.parent / "evil.sh").exists()


def test_every_hostile_entry_is_reported_not_only_the_first(tmp_path):
    zpath = _zip(
        tmp_path / "b.zip",
        [(_info("../a"), b"x"), (_info("/b"), b"y"), (_info("l", mode=stat.S_IFLNK | 0o777), b"/etc")],
    )
    rules = sorted(p.rule for p in check_zip(zpath))
    assert rules == ["archive.absolute_path", "archive.link", "archive.path_traversal"]


def test_not_a_zip_is_refused(tmp_path):
    zpath = tmp_path / "b.zip"
    zpath.write_bytes(b"this is not a zip at all" * 10)
    [p] = check_zip(zpath)
    assert p.rule == "archive.corrupt" and "not a readable zip" in p.message


def test_corrupt_entry_fails_the_crc_check(tmp_path):
    payload = b"gene_id,S1\nG1,5\n" * 50
    info = _info("batch/c.csv")
    info.compress_type = zipfile.ZIP_STORED
    zpath = _zip(tmp_path / "b.zip", [(info, payload)])
    data = bytearray(zpath.read_bytes())
    at = data.find(payload)
    data[at + 20] ^= 0xFF
    zpath.write_bytes(bytes(data))
    problems = check_zip(zpath)
    assert [p.rule for p in problems] == ["archive.corrupt"]
    assert "c.csv" in problems[0].file


def test_safe_zip_is_extracted_and_macos_litter_skipped(tmp_path):
    zpath = _zip(
        tmp_path / "b.zip",
        [
            (_info("batch/manifest.yaml"), b"kind: pk"),
            (_info("batch/sub/pk.csv"), b"a,b\n1,2\n"),
            (_info("__MACOSX/batch/._pk.csv"), b"junk"),
        ],
    )
    dest = tmp_path / "out"
    dest.mkdir()
    written = safe_extract(zpath, dest)
    assert sorted(written) == ["batch/manifest.yaml", "batch/sub/pk.csv"]
    assert (dest / "batch" / "sub" / "pk.csv").read_bytes() == b"a,b\n1,2\n"
    assert not (dest / "__MACOSX").exists()
