from __future__ import annotations

import json
import os
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest
import yaml

from myocit_omics.store import StudyStore
from myocit_omics.store.intake import batch_id_of
from myocit_omics.store.objects import sha256_file


def _snapshot(home: Path) -> dict:
    """Everything a user could see: catalog rows (all tables) and every stored file's bytes hash."""
    con = sqlite3.connect(home / "catalog.sqlite")
    rows = {
        t: sorted(map(tuple, con.execute(f"SELECT * FROM {t}")))
        for t in ("batches", "files", "samples", "audit")
    }
    con.close()
    files = {
        p.relative_to(home).as_posix(): sha256_file(p)
        for p in (home / "store").rglob("*")
        if p.is_file() and p.name != ".lock"
    }
    return {"rows": rows, "files": files}


def _zip_folder(folder: Path, target: Path, *, top: bool = True) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                rel = p.relative_to(folder.parent if top else folder).as_posix()
                zf.write(p, rel)
    return target


def test_accept_then_again_changes_nothing_and_says_so(tmp_path, factory, store):
    batch = factory.write_batch(tmp_path / "in", "rnaseq")
    first = store.ingest(batch, "alice")
    assert first.status == "accepted" and first.n_samples == 4
    before = _snapshot(store.home)
    again = store.ingest(batch, "bob")
    assert again.status == "already_stored" and again.batch_id == first.batch_id
    assert "already stored" in again.summary() and "nothing changed" in again.summary()
    assert _snapshot(store.home) == before


def test_files_are_kept_byte_for_byte_and_read_only(tmp_path, factory, store):
    batch = factory.write_batch(tmp_path / "in", "clinical")
    result = store.ingest(batch)
    [rec] = store.batches()
    assert rec.batch_id == result.batch_id
    for role in ("patients", "core_set", "manifest"):
        stored = rec.files[role]
        assert stored.read_bytes() == (batch / stored.name).read_bytes()
        assert not os.access(store.area.object_path(sha256_file(stored)), os.W_OK) or os.geteuid() == 0
        assert oct(store.area.object_path(sha256_file(stored)).stat().st_mode & 0o777) == "0o444"
    assert result.batch_id == batch_id_of({k: sha256_file(batch / k) for k in rec.file_sha256})
    assert store.verify() == []


def test_zip_and_folder_of_the_same_batch_have_the_same_id(tmp_path, factory, store):
    batch = factory.write_batch(tmp_path / "in", "pk")
    zipped = _zip_folder(batch, tmp_path / "pk.zip")
    first = store.ingest(zipped)
    assert first.status == "accepted"
    assert store.ingest(batch).status == "already_stored"
    flat = _zip_folder(batch, tmp_path / "flat.zip", top=False)
    assert store.ingest(flat).status == "already_stored"


def test_rejection_copies_the_batch_untouched_with_both_reports(tmp_path, factory, store):
    batch = factory.write_batch(tmp_path / "in", "clinical")
    text = (batch / "core_set.csv").read_text().replace("MYO-01,W0,30,", "MYO-01,W0,99,", 1)
    (batch / "core_set.csv").write_text(text)
    (batch / "patients.csv").write_text((batch / "patients.csv").read_text().replace("MYO-02,F", "MYO-02,Q"))
    before = {p.name: p.read_bytes() for p in batch.iterdir()}
    result = store.ingest(batch, "carol")
    assert result.status == "rejected"
    report = result.report_dir
    assert report.parent == store.home / "rejected"
    assert report.name.endswith("-clinical-test") and report.name[:8].isdigit()
    # the hand-in is untouched, where it was and in the rejection folder
    assert {p.name: p.read_bytes() for p in batch.iterdir()} == before
    assert {p.name: p.read_bytes() for p in (report / batch.name).iterdir()} == before
    data = json.loads((report / "report.json").read_text())
    assert data["n_problems"] == 2 and data["handed_in_by"] == "carol"
    got = {(p["file"], p["row"], p["column"], p["value"], p["rule"]) for p in data["problems"]}
    assert got == {
        ("core_set.csv", 2, "cmas", "99", "range.cmas"),
        ("patients.csv", 3, "sex", "Q", "vocab.sex"),
    }
    assert all(p["fix"] for p in data["problems"])
    md = (report / "REPORT.md").read_text()
    assert "2 problem(s)" in md and "`range.cmas`" in md and "| core_set.csv | 2 | cmas | 99 |" in md
    # nothing stored, but the rejection is in the audit log
    assert store.batches() == [] and store.samples().empty
    audit = store.audit()
    assert list(audit["action"]) == ["rejected"] and audit["who"].iloc[0] == "carol"


def test_inbox_moves_rejected_and_removes_stored(tmp_path, factory, store):
    inbox = store.home / "inbox"
    good = factory.write_batch(inbox, "pk", tag="a")
    bad = factory.write_batch(inbox, "pk", tag="b")
    (bad / "pk.csv").write_text((bad / "pk.csv").read_text().replace("MYO-01,W0,4,", "MYO-01,W0,-4,"))
    zipped = _zip_folder(factory.write_batch(tmp_path / "z", "clinical"), inbox / "clin.zip")
    (inbox / ".partial-upload").mkdir()
    results = {r.name: r for r in store.ingest_inbox("inbox-bot")}
    assert results["pka-test"].status == "accepted"
    assert results["clinical-test"].status == "accepted"
    assert results["pkb-test"].status == "rejected"
    assert not good.exists() and not bad.exists() and not zipped.exists()
    assert (results["pkb-test"].report_dir / "pkb-test" / "pk.csv").is_file()
    assert sorted(p.name for p in inbox.iterdir() if p.name != ".inbox.lock") == [".partial-upload"]


def test_conflicting_sample_is_refused_unless_superseded(tmp_path, factory, store):
    first = store.ingest(factory.write_batch(tmp_path / "a", "rnaseq", seed=1, name="rnaseq-run1"))
    assert first.status == "accepted"
    conflict = factory.write_batch(tmp_path / "b", "rnaseq", seed=2, name="rnaseq-run1-redo")
    result = store.ingest(conflict)
    assert result.status == "rejected"
    assert {p.rule for p in result.problems} == {"conflict.sample"}
    assert [(p.file, p.row, p.value) for p in result.problems][:2] == [
        ("samples.csv", 2, "RNA-MYO-01-W0"),
        ("samples.csv", 3, "RNA-MYO-01-W4"),
    ]
    assert len(result.problems) == 4
    assert "supersedes" in result.problems[0].fix and first.batch_id[:12] in result.problems[0].fix
    redo = factory.write_batch(
        tmp_path / "c",
        "rnaseq",
        seed=2,
        name="rnaseq-run1-redo",
        manifest_extra={
            "supersedes": {"batch": "rnaseq-run1", "reason": "library prep failed QC; re-sequenced"}
        },
    )
    accepted = store.ingest(redo, "dave")
    assert accepted.status == "accepted" and accepted.supersedes == first.batch_id
    assert [b.name for b in store.batches()] == ["rnaseq-run1-redo"]
    assert {b.name for b in store.batches(include_superseded=True)} == {"rnaseq-run1", "rnaseq-run1-redo"}
    samples = store.samples()
    assert len(samples) == 4 and set(samples["batch_name"]) == {"rnaseq-run1-redo"}
    assert len(store.samples(include_superseded=True)) == 8
    audit = store.audit()
    sup = audit[audit["action"] == "superseded"].iloc[0]
    assert sup["why"] == "library prep failed QC; re-sequenced" and sup["batch_id"] == first.batch_id
    assert store.verify() == []


@pytest.mark.parametrize(
    ("ref", "rule"), [("no-such-batch", "supersedes.unknown"), ("pk-test", "supersedes.kind")]
)
def test_supersedes_must_name_a_stored_batch_of_the_same_kind(tmp_path, factory, store, ref, rule):
    store.ingest(factory.write_batch(tmp_path / "a", "pk"))
    store.ingest(factory.write_batch(tmp_path / "b", "rnaseq"))
    redo = factory.write_batch(
        tmp_path / "c",
        "rnaseq",
        seed=5,
        name="redo",
        manifest_extra={"supersedes": {"batch": ref, "reason": "why not"}},
    )
    result = store.ingest(redo)
    assert result.status == "rejected" and rule in {p.rule for p in result.problems}


def test_same_data_in_a_new_export_is_not_stored_twice(tmp_path, factory, store):
    store.ingest(factory.write_batch(tmp_path / "a", "clinical", visits=["W0"], name="export-1"))
    second = store.ingest(
        factory.write_batch(tmp_path / "b", "clinical", visits=["W0", "W4"], name="export-2")
    )
    assert second.status == "accepted"
    assert (
        second.n_unchanged == 4 and second.n_samples == 2
    )  # two W4 rows new; W0 rows and patients unchanged
    core = store.samples(kind="clinical")
    assert sorted(core["sample_id"]) == ["MYO-01/W0", "MYO-01/W4", "MYO-02/W0", "MYO-02/W4"]
    from myocit_omics.study import clinical_tables

    patients, core_set = clinical_tables(store)
    assert len(patients) == 2 and len(core_set) == 4


def test_audit_log_is_append_only(tmp_path, factory, store):
    store.ingest(factory.write_batch(tmp_path, "pk"))
    con = sqlite3.connect(store.catalog_path)
    for sql in ("UPDATE audit SET who = 'mallory'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute(sql)
    con.close()
    assert list(store.audit()["who"]) != ["mallory"]


def test_catalog_refuses_a_second_active_record_of_a_sample(tmp_path, factory, store):
    store.ingest(factory.write_batch(tmp_path, "pk"))
    con = sqlite3.connect(store.catalog_path)
    row = con.execute("SELECT * FROM samples LIMIT 1").fetchone()
    with pytest.raises(sqlite3.IntegrityError):
        con.execute(
            "INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row[0], row[1], row[2], "other-batch", *row[4:]),
        )
    con.close()


def test_symlink_in_a_batch_folder_is_rejected(tmp_path, factory, store):
    batch = factory.write_batch(tmp_path, "pk")
    (batch / "secret").symlink_to("/etc/hostname")
    result = store.ingest(batch)
    assert result.status == "rejected" and [p.rule for p in result.problems] == ["batch.link"]
    assert (result.report_dir / "pk-test" / "secret").is_symlink()


def test_hostile_zip_is_rejected_with_a_report(tmp_path, store):
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("evil/../../escape.txt", "x")
        zf.writestr("evil/manifest.yaml", "kind: pk")
    result = store.ingest(zpath)
    assert result.status == "rejected" and result.problems[0].rule == "archive.path_traversal"
    assert (result.report_dir / "evil.zip").read_bytes() == zpath.read_bytes()
    assert not (tmp_path / "escape.txt").exists() and not (store.home / "escape.txt").exists()


def test_study_loaders_assemble_anndata(tmp_path, factory, store):
    import numpy as np

    store.ingest(factory.write_batch(tmp_path / "a", "rnaseq", tag="1", fractional=True))
    store.ingest(factory.write_batch(tmp_path / "b", "rnaseq", tag="2", patients=["MYO-03"]))
    store.ingest(factory.write_batch(tmp_path / "c", "clinical", patients=["MYO-01", "MYO-02", "MYO-03"]))
    from myocit_omics.study import rnaseq_anndata

    adata = rnaseq_anndata(store)
    assert adata.n_obs == 6 and adata.n_vars == 40
    assert adata.layers["counts"].dtype == np.int64
    assert set(adata.obs["batch_name"]) == {"rnaseq1-test", "rnaseq2-test"}
    assert adata.obs.loc["RNA2-MYO-03-W4", "msa_group"] == "anti-TIF1g"
    rounding = {b["name"]: b["rounding"]["n_rounded"] for b in json.loads(adata.uns["ingest"])["batches"]}
    assert rounding["rnaseq1-test"] > 0 and rounding["rnaseq2-test"] == 0
    assert list(adata.var["gene_name"][:2]) == ["G0", "G1"]
    # readable by plain anndata after a round trip through .h5ad
    import anndata as ad

    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert (back.layers["counts"] == adata.layers["counts"]).all()
    assert list(back.obs["visit"]) == list(adata.obs["visit"])


def test_missing_samples_are_listed(tmp_path, factory, home):
    (home / "study.yaml").write_text("study: t\npatients: [MYO-01, MYO-02]\nomics_visits: [W0, W4]\n")
    store = StudyStore(home)
    store.ingest(factory.write_batch(tmp_path, "rnaseq", patients=["MYO-01", "MYO-02"], visits=["W0"]))
    from myocit_omics.study import missing_samples

    messages = [m["message"] for m in missing_samples(store)]
    assert "patient MYO-01 has no W4 RNA-seq" in messages and "patient MYO-02 has no W4 RNA-seq" in messages
    assert "patient MYO-01 has no W0 RNA-seq" not in messages


# ---------------------------------------------------------------- the command line
def _cli(*args):
    from myocit_omics.cli import main

    return main(list(args))


def test_cli_ingest_exit_codes_and_summary(tmp_path, factory, home, capsys):
    good = factory.write_batch(tmp_path, "pk")
    assert _cli("ingest", str(good), "--home", str(home), "--by", "erin") == 0
    assert "accepted: pk-test" in capsys.readouterr().out
    assert _cli("ingest", str(good), "--home", str(home)) == 0
    assert "already stored: pk-test" in capsys.readouterr().out
    bad = factory.write_batch(tmp_path, "pk", name="pk-bad")
    (bad / "pk.csv").write_text((bad / "pk.csv").read_text().replace("MYO-01,W0,", "MYO-01,W7,"))
    assert _cli("ingest", str(bad), "--home", str(home)) == 1
    out = capsys.readouterr().out
    assert "rejected: pk-bad: 1 problem(s); report:" in out and "REPORT.md" in out and "W7" in out
    assert _cli("ingest", str(tmp_path / "nope"), "--home", str(home)) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert _cli("ingest", "--home", str(home)) == 2
    other = factory.write_batch(tmp_path, "pk", name="pk-other")
    assert _cli("ingest", str(other), str(tmp_path / "typo"), "--home", str(home)) == 2
    assert "nothing was handed in" in capsys.readouterr().err
    assert "pk-other" not in {b.name for b in StudyStore(home).batches()}
    assert _cli("ingest", str(good), "--home", str(home), "--json") == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["status"] == "already_stored"
    assert StudyStore(home).audit()["who"].iloc[-1] == "erin"


def test_cli_status_lists_batches_missing_rejections_audit(tmp_path, factory, home, capsys):
    (home / "study.yaml").write_text("study: t\npatients: [MYO-01, MYO-02]\n")
    _cli("ingest", str(factory.write_batch(tmp_path, "rnaseq")), "--home", str(home))
    bad = factory.write_batch(tmp_path, "pk")
    (bad / "pk.csv").write_text("")
    _cli("ingest", str(bad), "--home", str(home))
    capsys.readouterr()
    assert _cli("status", "--home", str(home)) == 0
    out = capsys.readouterr().out
    assert "rnaseq-test" in out and "Records per kind and visit" in out
    assert "patient MYO-01 has no W24 RNA-seq" in out
    assert "Rejected hand-ins (1)" in out and "pk-test: 1 problem(s)" in out
    assert "stored rnaseq batch rnaseq-test" in out and "rejected pk-test" in out
    assert _cli("status", "--home", str(home), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["samples_per_kind_and_visit"]["rnaseq"] == {"W0": 2, "W4": 2}


# ---------------------------------------------------------------- demo study and real files
def test_every_demo_batch_ingests_and_again_changes_nothing(tmp_path):
    from myocit_omics.settings import demo_dir

    batches = demo_dir() / "batches"
    if not batches.is_dir():
        pytest.skip("data/demo is not present")
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(demo_dir() / "study.yaml", home / "study.yaml")
    store = StudyStore(home)
    folders = sorted(p for p in batches.iterdir() if p.is_dir())
    first = [store.ingest(b, "demo") for b in folders]
    assert [r.status for r in first] == ["accepted"] * len(folders), [
        p.describe() for r in first for p in r.problems
    ]
    before = _snapshot(home)
    second = [store.ingest(b, "demo") for b in folders]
    assert [r.status for r in second] == ["already_stored"] * len(folders)
    assert _snapshot(home) == before
    assert store.verify() == []
    kinds = {b.kind for b in store.batches()}
    assert kinds == {"rnaseq", "cytokine", "clinical", "pk"}


def _write_sheet(path: Path, columns: list[str], patients: list[str], visits: list[str]) -> None:
    lines = ["sample_id,column,patient_id,visit,role"]
    for col, p, v in zip(columns, patients, visits, strict=True):
        lines.append(f"{col.replace('_', '-')},{col},{p},{v},patient")
    path.write_text("\n".join(lines) + "\n")


def test_real_lee2021_htseq_counts_ingest(tmp_path, shared, home):
    import pandas as pd

    counts = shared("fixtures", "rnaseq", "lee2021_saec_gse161664_counts.tsv.gz")
    meta = pd.read_csv(shared("fixtures", "rnaseq", "lee2021_saec_gse161664_samples.csv"))
    batch = tmp_path / "lee2021"
    batch.mkdir()
    shutil.copyfile(counts, batch / counts.name)
    # donors are not given: one pseudo-patient per stimulus, replicates as visits
    stim = {s: i + 1 for i, s in enumerate(sorted(meta["stimulus"].unique()))}
    visit = {"rep1": "W0", "rep2": "W4", "rep3": "W24", "rep4": "W12"}
    _write_sheet(
        batch / "samples.csv",
        list(meta["sample"]),
        [f"SAEC-{stim[s]}" for s in meta["stimulus"]],
        [visit[r] for r in meta["replicate"]],
    )
    (batch / "manifest.yaml").write_text(
        yaml.safe_dump(
            {
                "schema": "myocit-batch/1",
                "kind": "rnaseq",
                "name": "lee2021",
                "submitted_by": "test",
                "platform": "plain",
                "files": {"counts": counts.name, "sample_sheet": "samples.csv"},
            }
        )
    )
    (home / "study.yaml").write_text("study: lee2021\npatient_id_pattern: '^SAEC-\\d$'\n")
    store = StudyStore(home)
    result = store.ingest(batch)
    assert result.status == "accepted", [p.describe() for p in result.problems]
    assert result.n_samples == 16
    info = store.batches()[0].info["counts"]
    assert info["n_genes"] == 26364 and info["rounding"]["n_rounded"] == 0
    assert info["special_rows"] == []


def test_real_lee2021_with_its_htseq_special_rows_kept_apart(tmp_path, shared):
    """The merged HTSeq matrix as htseq-count writes it (special rows at the end): they stay apart."""
    import gzip

    import pandas as pd

    from myocit_omics.io.counts import read_counts

    counts = shared("fixtures", "rnaseq", "lee2021_saec_gse161664_counts.tsv.gz")
    special = shared("fixtures", "rnaseq", "lee2021_saec_gse161664_htseq_special_rows.tsv")
    body = gzip.decompress(counts.read_bytes()).decode()
    extra = "".join(special.read_text().splitlines(keepends=True)[1:])
    path = tmp_path / "merged_htseq.tsv"
    path.write_text(body + extra)
    m = read_counts(path)
    expected = pd.read_csv(special, sep="\t", index_col=0)
    assert m.counts.shape == (26364, 16)
    assert list(m.special_rows.index) == list(expected.index)
    assert (m.special_rows.loc["__no_feature"] == expected.loc["__no_feature"]).all()


def test_real_gse197067_plain_csv_ingests(tmp_path, shared, home):
    import pandas as pd

    counts = shared("fixtures", "rnaseq", "gse197067_tcell_activation_counts.csv.gz")
    meta = pd.read_csv(shared("fixtures", "rnaseq", "gse197067_tcell_activation_samples.csv"))
    batch = tmp_path / "gse197067"
    batch.mkdir()
    shutil.copyfile(counts, batch / counts.name)
    visits = [f"UNS-{i}" for i in range(len(meta))]  # timepoints x conditions as unscheduled visits
    _write_sheet(
        batch / "samples.csv", list(meta["sample"]), [f"DONOR-{r[1:]}" for r in meta["Replicates"]], visits
    )
    (batch / "manifest.yaml").write_text(
        yaml.safe_dump(
            {
                "schema": "myocit-batch/1",
                "kind": "rnaseq",
                "name": "gse197067",
                "files": {"counts": counts.name, "sample_sheet": "samples.csv"},
            }
        )
    )
    (home / "study.yaml").write_text("study: rade2023\npatient_id_pattern: '^DONOR-\\d$'\n")
    store = StudyStore(home)
    result = store.ingest(batch)
    assert result.status == "accepted", [p.describe() for p in result.problems]
    assert result.n_samples == 44
    assert store.batches()[0].info["counts"]["format"] == "plain"
    assert store.verify() == []


def test_htseq_folder_batch_is_stored_and_assembled(tmp_path, factory, store):
    batch = tmp_path / "htseq-run"
    (batch / "htseq").mkdir(parents=True)
    for sid, (a, b) in {"RNA-MYO-01-W0": (5, 7), "RNA-MYO-01-W4": (0, 3)}.items():
        (batch / "htseq" / f"{sid}.txt").write_text(f"G1\t{a}\nG2\t{b}\n__no_feature\t9\n")
    (batch / "samples.csv").write_text(
        "sample_id,patient_id,visit\nRNA-MYO-01-W0,MYO-01,W0\nRNA-MYO-01-W4,MYO-01,W4\n"
    )
    factory.write_manifest(
        batch, "rnaseq", "htseq-run", {"counts_dir": "htseq", "sample_sheet": "samples.csv"}, platform="htseq"
    )
    result = store.ingest(batch)
    assert result.status == "accepted", [p.describe() for p in result.problems]
    [rec] = store.batches()
    assert rec.dirs["counts_dir"].is_dir() and "counts_dir/RNA-MYO-01-W0.txt" in rec.files
    assert rec.info["counts"]["special_rows"] == ["__no_feature"]
    from myocit_omics.study import rnaseq_anndata

    adata = rnaseq_anndata(store)
    assert adata.layers["counts"].tolist() == [[5, 7], [0, 3]]


def test_object_area_refuses_a_file_that_changed_since_it_was_hashed(tmp_path):
    import hashlib

    from myocit_omics.errors import InputError
    from myocit_omics.store.objects import ObjectArea

    area = ObjectArea(tmp_path / "store")
    area.ensure()
    f = tmp_path / "x.csv"
    f.write_bytes(b"a,b\n1,2\n")
    stale = hashlib.sha256(b"a,b\n1,3\n").hexdigest()
    with pytest.raises(InputError, match="changed while it was being stored"):
        area.put(f, stale)
    assert not area.object_path(stale).exists() and list(area.tmp.iterdir()) == []
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    assert area.put(f, sha) is True and area.put(f, sha) is False
    assert area.object_path(sha).read_bytes() == f.read_bytes()


def test_a_patient_visit_already_sequenced_in_another_batch_is_a_conflict(tmp_path, factory, store):
    store.ingest(factory.write_batch(tmp_path / "a", "rnaseq", tag="1", patients=["MYO-05"], visits=["W0"]))
    again = store.ingest(
        factory.write_batch(tmp_path / "b", "rnaseq", tag="2", patients=["MYO-05"], visits=["W0"])
    )
    assert again.status == "rejected"
    [p] = again.problems
    assert (p.rule, p.file, p.row, p.value) == ("conflict.patient_visit", "samples.csv", 2, "MYO-05/W0")
    assert "already has W0 RNA-seq: sample 'RNA1-MYO-05-W0'" in p.message
