"""Four ingest processes at once over the same 40 batches: each batch stored exactly once."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sqlite3
from collections import Counter

import pytest

from myocit_omics.store import StudyStore


def _worker(home: str, batches: list[str], seed: int, out: str) -> None:
    order = list(batches)
    random.Random(seed).shuffle(order)
    store = StudyStore(home)
    results = []
    for b in order:
        r = store.ingest(b, f"worker-{seed}")
        results.append(
            {
                "batch": b,
                "status": r.status,
                "batch_id": r.batch_id,
                "problems": [p.describe() for p in r.problems],
            }
        )
    with open(out, "w") as fh:
        json.dump(results, fh)
    os._exit(0)


@pytest.mark.slow
def test_four_concurrent_ingesters_store_each_batch_once(tmp_path, factory):
    kinds = ["pk", "rnaseq", "clinical", "cytokine"]
    batches = []
    for i in range(40):
        patients = [f"MYO-{(i % 16) + 1:02d}"]
        # clinical records and RNA-seq samples are unique per patient and visit: own visits per batch
        visits = [f"UNS-{2 * i}", f"UNS-{2 * i + 1}"]
        batches.append(
            str(
                factory.write_batch(
                    tmp_path / "in", kinds[i % 4], tag=f"c{i}", seed=i, patients=patients, visits=visits
                )
            )
        )
    home = tmp_path / "home"
    home.mkdir()
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_worker, args=(str(home), batches, seed, str(tmp_path / f"out{seed}.json")))
        for seed in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    results = [r for seed in range(4) for r in json.loads((tmp_path / f"out{seed}.json").read_text())]
    assert len(results) == 160
    assert not [r for r in results if r["status"] == "rejected"], [r["problems"] for r in results][:3]
    by_batch = Counter((r["batch"], r["status"]) for r in results)
    for b in batches:
        assert by_batch[(b, "accepted")] == 1, b
        assert by_batch[(b, "already_stored")] == 3, b
    # the catalog: 40 batches, every file and sample once, no orphan, integrity ok
    con = sqlite3.connect(home / "catalog.sqlite")
    assert con.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 40
    ids = {r["batch_id"] for r in results}
    assert {r[0] for r in con.execute("SELECT batch_id FROM batches")} == ids
    dup = con.execute(
        "SELECT kind, record_key, COUNT(*) FROM samples GROUP BY kind, record_key HAVING COUNT(*) > 1"
    )
    assert dup.fetchall() == []
    n_audit = con.execute("SELECT COUNT(*) FROM audit WHERE action = 'stored'").fetchone()[0]
    assert n_audit == 40
    con.close()
    store = StudyStore(home)
    assert store.verify() == []
    expected_records = sum(
        len(store.samples(kind=k)) for k in ("pk", "rnaseq", "clinical", "patient", "cytokine")
    )
    assert expected_records == len(store.samples())
    assert len(store.batches()) == 40
