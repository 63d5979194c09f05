"""Kill ingest processes at random points; the store must hold whole batches or nothing, and lose nothing."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from myocit_omics.store import StudyStore
from myocit_omics.store.objects import CRASH_ENV

STEPS_ACCEPT = [
    "opened",
    "validated",
    "locked",
    "blob:0",
    "blob:1",
    "blob:2",
    "view",
    "before-commit",
    "committed",
]
STEPS_REJECT = ["opened", "validated", "reject:copied", "rejected"]
STEPS_INBOX_REJECT = ["validated", "reject:before-move", "rejected"]


def _child(home: str, batch: str, step: str | None, inbox: bool) -> None:
    if step:
        os.environ[CRASH_ENV] = step
    store = StudyStore(home)
    if inbox:
        store.ingest_inbox("crash-test")
    else:
        store.ingest(batch, "crash-test")
    os._exit(0)


def _run(
    ctx,
    home: Path,
    batch: Path,
    *,
    step: str | None = None,
    kill_after: float | None = None,
    inbox: bool = False,
) -> int:
    proc = ctx.Process(target=_child, args=(str(home), str(batch), step, inbox))
    proc.start()
    if kill_after is not None:
        time.sleep(kill_after)
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    assert not proc.is_alive()
    return proc.exitcode


def _catalog(home: Path) -> dict:
    if not (home / "catalog.sqlite").exists():
        return {"batches": {}, "files": set(), "samples": set()}
    con = sqlite3.connect(home / "catalog.sqlite")
    out = {
        "batches": {r[0]: r[1] for r in con.execute("SELECT batch_id, n_samples FROM batches")},
        "files": set(con.execute("SELECT batch_id, relpath, sha256 FROM files")),
        "samples": set(con.execute("SELECT kind, record_key, batch_id, data_sha256 FROM samples")),
    }
    con.close()
    return out


def _check_whole_or_nothing(home: Path, store: StudyStore, before: dict, n_files: int) -> None:
    after = _catalog(home)
    # nothing lost: every earlier row is still there
    assert set(before["batches"]) <= set(after["batches"])
    assert before["files"] <= after["files"] and before["samples"] <= after["samples"]
    new = set(after["batches"]) - set(before["batches"])
    assert len(new) <= 1
    for bid in new:  # whole: all files, all samples, the view
        assert len([f for f in after["files"] if f[0] == bid]) == n_files
        assert len([s for s in after["samples"] if s[2] == bid]) == after["batches"][bid]
    assert store.verify() == []


@pytest.mark.slow
def test_killed_ingests_leave_whole_batches_or_nothing(tmp_path, factory):
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(20221110)
    home = tmp_path / "home"
    home.mkdir()
    store = StudyStore(home)
    store.ingest(factory.write_batch(tmp_path / "seed", "clinical"), "setup")
    kills = 0
    for i in range(26):
        mode = rng.choice(["accept", "accept", "reject", "inbox-reject", "sigkill"])
        kind = rng.choice(["rnaseq", "pk", "cytokine"])
        parent = home / "inbox" if mode == "inbox-reject" else tmp_path / f"in{i}"
        batch = factory.write_batch(
            parent,
            kind,
            tag=f"x{i}",
            seed=i,
            patients=["MYO-03", "MYO-04"],
            visits=[f"UNS-{2 * i}", f"UNS-{2 * i + 1}"],
        )
        n_files = sum(1 for p in batch.rglob("*") if p.is_file())
        if mode in ("reject", "inbox-reject"):
            manifest = batch / "manifest.yaml"
            manifest.write_text(manifest.read_text().replace("kind:", "colour: red\nkind:"))
        before = _catalog(home)
        rejected_before = set((home / "rejected").iterdir()) if (home / "rejected").exists() else set()
        if mode == "sigkill":
            code = _run(ctx, home, batch, kill_after=rng.uniform(0.0, 0.08))
        else:
            steps = {"accept": STEPS_ACCEPT, "reject": STEPS_REJECT, "inbox-reject": STEPS_INBOX_REJECT}[mode]
            code = _run(ctx, home, batch, step=rng.choice(steps), inbox=mode == "inbox-reject")
        kills += code != 0
        _check_whole_or_nothing(home, store, before, n_files)
        if mode == "inbox-reject":
            # nothing lost: the hand-in is still in the inbox or inside a rejection folder
            new_rejections = (
                set((home / "rejected").iterdir()) - rejected_before
                if (home / "rejected").exists()
                else set()
            )
            assert batch.exists() or any((d / batch.name / "manifest.yaml").exists() for d in new_rejections)
            # and the inbox is processed cleanly afterwards
            for r in store.ingest_inbox("retry"):
                assert r.status == "rejected"
            assert not batch.exists()
            continue
        # the same batch ingests cleanly afterwards
        result = store.ingest(batch, "retry")
        if mode == "reject":
            assert result.status == "rejected"
        else:
            assert result.status in ("accepted", "already_stored"), [p.describe() for p in result.problems]
            assert result.batch_id in _catalog(home)["batches"]
        _check_whole_or_nothing(home, store, before, n_files)
    assert kills >= 20
    # no garbage survives a recovery: every object is referenced, no temporary entries
    store.recover()
    referenced = {f[2] for f in _catalog(home)["files"]}
    objects = {p.name for p in (home / "store" / "objects").rglob("*") if p.is_file()}
    assert objects == referenced
    assert list((home / "store" / ".tmp").iterdir()) == []
    assert store.verify() == []
