"""Time the hand-in of demo batches (validate + store) against a plain copy + SHA-256 of the same files.

Usage: ``.venv/bin/python benchmarks/ingest_speed.py [--repeat 3]``

For each demo batch (data/demo/batches), in a fresh temporary study home:

- baseline: copy every file of the batch and compute its SHA-256 (the least any store must do);
- ingest: ``StudyStore.ingest`` (open, hash, validate every row and cross-file rule, store
  atomically, one catalog transaction);
- again: the same batch a second time (recognised as already stored).

Prints the best of ``--repeat`` runs per batch, the ratio to the baseline, and checks the target:
a typical demo batch is answered in under 5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0


def baseline(batch: Path, dest: Path) -> float:
    t0 = time.perf_counter()
    dest.mkdir(parents=True)
    for p in sorted(batch.rglob("*")):
        if p.is_file():
            target = dest / p.relative_to(batch)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, target)
            hashlib.sha256(target.read_bytes()).hexdigest()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from myocit_omics.store import StudyStore

    demo = ROOT / "data" / "demo"
    batches = sorted(p for p in (demo / "batches").iterdir() if p.is_dir())
    print(
        f"{'batch':<26}{'MB':>7}{'copy+sha256 s':>15}{'ingest s':>10}{'again s':>9}{'x baseline':>11}  status"
    )
    worst = 0.0
    for batch in batches:
        size = sum(p.stat().st_size for p in batch.rglob("*") if p.is_file()) / 1e6
        best_base, best_ingest, best_again, status = float("inf"), float("inf"), float("inf"), ""
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="myocit-bench-") as tmp:
                home = Path(tmp) / "home"
                home.mkdir()
                shutil.copyfile(demo / "study.yaml", home / "study.yaml")
                best_base = min(best_base, baseline(batch, Path(tmp) / "copy"))
                store = StudyStore(home)
                t0 = time.perf_counter()
                result = store.ingest(batch, "benchmark")
                best_ingest = min(best_ingest, time.perf_counter() - t0)
                t0 = time.perf_counter()
                again = store.ingest(batch, "benchmark")
                best_again = min(best_again, time.perf_counter() - t0)
                status = f"{result.status}/{again.status}"
        worst = max(worst, best_ingest)
        print(
            f"{batch.name:<26}{size:>7.2f}{best_base:>15.3f}{best_ingest:>10.3f}{best_again:>9.3f}"
            f"{best_ingest / best_base:>11.0f}  {status}"
        )
    # what lab staff wait for: the whole `myocit ingest` command (interpreter start, imports, answer)
    largest = max(batches, key=lambda b: sum(p.stat().st_size for p in b.rglob("*") if p.is_file()))
    with tempfile.TemporaryDirectory(prefix="myocit-bench-") as tmp:
        shutil.copyfile(demo / "study.yaml", Path(tmp) / "study.yaml")
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "myocit_omics.cli", "ingest", str(largest), "--home", tmp],
            capture_output=True,
            text=True,
            check=False,
        )
        cli_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    code = "from myocit_omics.cli import build_parser; build_parser('ingest')"
    subprocess.run([sys.executable, "-c", code], check=True)
    startup_s = time.perf_counter() - t0
    print(f"`myocit ingest {largest.name}` end to end (new process): {cli_s:.2f} s, exit {proc.returncode}; "
          f"of which interpreter start + the CLI with the ingest subcommand: {startup_s:.2f} s")
    load = os.getloadavg()[0]
    verdict = "OK" if worst < TARGET_S else "TOO SLOW"
    print(f"slowest batch, validate + store: {worst:.2f} s (target < {TARGET_S:.0f} s): {verdict} "
          f"[load average {load:.1f} on {os.cpu_count()} cores]")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
