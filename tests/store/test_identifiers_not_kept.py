"""A batch refused for direct identifiers leaves no copy of them anywhere in the study home.

Handed in from a folder, a zip and the inbox (the library and `myocit ingest --inbox`, which the
ingest-inbox flow calls too): the reports name file, row and column, never the value; the batch is
not copied into rejected/; the inbox copy is deleted once the reports are written. Every file under
the home, the SQLite catalog included, is searched byte for byte.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from myocit_omics.cli import main

# unusual on purpose: none of these can occur in a study home by chance
NAMES = ["Quorentine Vaskabrel", "Eulalie Zaffranock", "Tibaud Ormelquist"]


def _batch_with_names(factory, parent: Path, name: str) -> Path:
    batch = factory.write_batch(parent, "clinical", name=name, patients=["MYO-01", "MYO-02", "MYO-03"])
    lines = (batch / "patients.csv").read_text().splitlines()
    lines[0] += ",patient_name"
    lines[1:] = [f"{row},{who}" for row, who in zip(lines[1:], NAMES, strict=True)]
    (batch / "patients.csv").write_text("\n".join(lines) + "\n")
    return batch


def _zip(folder: Path, target: Path) -> Path:
    # stored, not deflated: a kept copy of the zip would show the names to the byte search
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, p.relative_to(folder.parent))
    return target


def _copies_under(home: Path) -> list[str]:
    needles = [n.encode() for n in NAMES] + [n.encode("utf-16-le") for n in NAMES]
    needles += [part.encode() for n in NAMES for part in n.split()]      # first or last name alone
    hits = []
    for path in sorted(home.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            hits += [f"{path.relative_to(home)}: {n!r}" for n in needles if n in data]
    return hits


def _check_report(folder: Path, handed_in: str) -> None:
    data = json.loads((folder / "report.json").read_text())
    assert data["kept"] is False
    ident = [p for p in data["problems"] if p["rule"] == "identifier.column"]
    assert [(p["file"], p["row"], p["column"]) for p in ident] == [("patients.csv", 1, "patient_name")]
    assert sorted(p.name for p in folder.iterdir()) == ["REPORT.md", "report.json"], handed_in
    assert "not kept" in (folder / "REPORT.md").read_text()


def test_a_batch_with_a_name_column_is_not_kept_from_a_folder_a_zip_or_the_inbox(tmp_path, factory, store,
                                                                              capsys):
    home = store.home
    outside = tmp_path / "lab"
    folder = _batch_with_names(factory, outside, "names-folder")
    zipped = _zip(_batch_with_names(factory, outside / "z", "names-zip"), outside / "names-zip.zip")
    inbox_folder = _batch_with_names(factory, home / "inbox", "names-inbox")
    inbox_zip = _zip(_batch_with_names(factory, outside / "iz", "names-inbox-zip"), home / "inbox" / "nz.zip")
    assert _copies_under(home)                     # the search finds the names where they are

    # what the lab hands in, from outside the home: the lab keeps its originals untouched
    before = {p: p.read_bytes() for p in [*folder.iterdir(), zipped]}
    by_folder = store.ingest(folder, "lab")
    by_zip = store.ingest(zipped, "lab")
    for result, handed_in in ((by_folder, "folder"), (by_zip, "zip")):
        assert result.status == "rejected", handed_in
        assert "not kept (direct identifiers)" in result.summary()
        _check_report(result.report_dir, handed_in)
    assert {p: p.read_bytes() for p in before} == before

    # the inbox, through the command the lab runs (and the ingest-inbox flow calls the same library)
    assert main(["ingest", "--inbox", "--home", str(home)]) == 1
    out = capsys.readouterr().out
    assert out.count("not kept (direct identifiers)") == 2, out
    assert not inbox_folder.exists() and not inbox_zip.exists()
    reports = sorted((home / "rejected").iterdir())
    assert len(reports) == 4
    for folder_ in reports:
        _check_report(folder_, folder_.name)

    assert _copies_under(home) == []
    assert list(home.rglob("*.zip")) == []
    assert store.batches() == []
    assert set(store.audit()["action"]) == {"rejected"}


def test_a_batch_rejected_for_other_reasons_is_still_kept_for_the_lab(tmp_path, factory, store):
    batch = factory.write_batch(tmp_path / "in", "pk")
    (batch / "pk.csv").write_text((batch / "pk.csv").read_text().replace("MYO-01,W0,4,", "MYO-01,W0,-4,"))
    result = store.ingest(batch)
    assert result.status == "rejected" and "not kept" not in result.summary()
    assert json.loads((result.report_dir / "report.json").read_text())["kept"] is True
    assert (result.report_dir / batch.name / "pk.csv").is_file()


@pytest.mark.parametrize("from_inbox", [False, True])
def test_an_identifier_value_in_a_cell_is_not_kept_either(tmp_path, factory, store, from_inbox):
    parent = store.home / "inbox" if from_inbox else tmp_path / "in"
    batch = factory.write_batch(parent, "clinical", name="mail-in-cell")
    lines = (batch / "core_set.csv").read_text().splitlines()
    lines[0] += ",comment"
    lines[1:] = [f"{row},{'q.vaskabrel@example.org' if i == 0 else 'ok'}" for i, row in enumerate(lines[1:])]
    (batch / "core_set.csv").write_text("\n".join(lines) + "\n")
    results = store.ingest_inbox("inbox") if from_inbox else [store.ingest(batch)]
    assert [r.status for r in results] == ["rejected"]
    assert "identifier.email" in {p.rule for p in results[0].problems}
    assert sorted(p.name for p in results[0].report_dir.iterdir()) == ["REPORT.md", "report.json"]
    assert not any(b"vaskabrel@example.org" in p.read_bytes() for p in store.home.rglob("*") if p.is_file())
