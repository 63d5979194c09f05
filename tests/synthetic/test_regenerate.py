"""Regenerating the demo study gives the committed files, byte for byte."""

from __future__ import annotations

from pathlib import Path

from myocit_omics.synthetic import write_demo_study


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_regeneration_is_byte_identical(tmp_path: Path, demo: Path) -> None:
    info = write_demo_study(tmp_path / "demo")
    fresh = _files(tmp_path / "demo")
    committed = _files(demo)
    assert sorted(fresh) == sorted(committed)
    assert sorted(info["files"]) == sorted(fresh)
    differing = [name for name in fresh if fresh[name] != committed[name]]
    assert differing == []


def test_gzip_members_carry_no_name_and_no_time(demo: Path) -> None:
    for gz in demo.rglob("*.gz"):
        header = gz.read_bytes()[:10]
        assert header[:2] == b"\x1f\x8b"
        flags, mtime = header[3], header[4:8]
        assert flags & 0x08 == 0, f"{gz.name} stores a file name"
        assert mtime == b"\x00\x00\x00\x00", f"{gz.name} stores a time stamp"


def test_another_seed_gives_another_study(tmp_path: Path, demo: Path) -> None:
    write_demo_study(tmp_path / "other", seed=7)
    name = "batches/clinical-coreset/core_set.csv"
    other = (tmp_path / "other" / name).read_bytes()
    assert other != (demo / name).read_bytes()
    assert other.splitlines()[0] == (demo / name).read_bytes().splitlines()[0]
