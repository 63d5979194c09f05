"""Time ``myocit de`` as a whole process against the engine in-process and stock pydeseq2 with shrinkage.

The data are those of ``benchmarks/de_speed.py`` (seeded NB counts, 48 samples x 20,000 genes,
16 patients x W0/W4/W24), written as a plain count TSV and a sample sheet. Measured in one run:

* ``myocit de COUNTS --samples SHEET --contrast visit:W4:W0 --contrast visit:W24:W0 --out DIR``
  with its defaults, wall clock of the whole process (start-up, reading, fit, contrasts, writing);
* the engine in-process (``de_speed.py --worker fast``): fit + both contrasts + blind VST;
* stock pydeseq2 (``DefaultInference(n_cpus=2)``): fit + both contrasts, each with ``lfc_shrink``;
* for the breakdown of the process's fixed cost: a process that only starts and imports what
  ``myocit de`` imports (``myocit_omics.cli``, the ``de`` command, the DE step, the count reader,
  the fast engine and pydeseq2).

``--repeat N`` runs the command and the engine N times, interleaved, and reports each run, the
best and the median (the machine is shared: compare best with best, median with median).

Which code is measured: the ``myocit`` entry point next to the interpreter, started with this
process's working directory and environment, so ``PYTHONPATH=src:.`` run from a checkout measures
that checkout's code (the entry point's editable install comes after ``PYTHONPATH``).

Usage (from the repository root)::

    .venv/bin/python benchmarks/cli_de_speed.py [--samples 48 --genes 20000] [--repeat 3] [--no-stock]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from de_speed import make_data  # noqa: E402

STOCK = r"""
import json, sys, time, warnings
sys.path.insert(0, sys.argv[1])
from de_speed import make_data
from pydeseq2.dds import DeseqDataSet
from pydeseq2.default_inference import DefaultInference
from pydeseq2.ds import DeseqStats
counts, meta = make_data(int(sys.argv[2]), int(sys.argv[3]), seed=int(sys.argv[4]))
meta = meta.rename(columns={"group": "patient"})
warnings.simplefilter("ignore")
t0 = time.perf_counter()
dds = DeseqDataSet(counts=counts, metadata=meta, design="~patient + visit", quiet=True,
                   inference=DefaultInference(n_cpus=2))
dds.deseq2()
for target in ("W4", "W24"):
    st = DeseqStats(dds, contrast=["visit", target, "W0"], quiet=True, inference=dds.inference)
    st.summary()
    st.lfc_shrink(coeff=f"visit[T.{target}]")
print(json.dumps({"total": time.perf_counter() - t0}))
"""


IMPORTS = ("import myocit_omics.cli, myocit_omics.cli.de, myocit_omics.de.pipeline, myocit_omics.io.counts, "
           "myocit_omics.deseq, pydeseq2.ds")


def _summary(values: list[float]) -> str:
    return f"best {min(values):5.2f} s, median {statistics.median(values):5.2f} s"


def _run_cli(myocit: Path, tmp_path: Path, k: int) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([str(myocit), "de", str(tmp_path / "counts.tsv"), "--samples",
                           str(tmp_path / "samples.csv"), "--contrast", "visit:W4:W0", "--contrast",
                           "visit:W24:W0", "--out", str(tmp_path / f"out{k}")],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode:
        print(proc.stderr[-3000:])
        raise SystemExit(1)
    if k == 0:
        shown = [line for line in proc.stderr.splitlines() if "as categorical" in line]
        print(f"  'storing ... as categorical' lines shown: {len(shown)}")
    return elapsed


def _run_engine(n: int, g: int, seed: int, tmp: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, str(HERE / "de_speed.py"), "--seed", str(seed),
                           "--worker", "fast", str(n), str(g), tmp], capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])["times"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the command and the engine (interleaved)")
    ap.add_argument("--no-stock", action="store_true", help="skip stock pydeseq2")
    args = ap.parse_args()
    n, g = args.samples, args.genes
    myocit = Path(sys.executable).with_name("myocit")
    print(f"{n} x {g}; load at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="cli_de_speed_") as tmp:
        tmp_path = Path(tmp)
        counts, meta = make_data(n, g, seed=args.seed)
        counts.T.rename_axis("gene_id").to_csv(tmp_path / "counts.tsv", sep="\t")
        meta.rename(columns={"group": "patient_id"}).rename_axis("sample_id").to_csv(tmp_path / "samples.csv")

        t_cli, t_engine, t_fit_contrasts, t_imports = [], [], [], []
        for k in range(max(1, args.repeat)):
            t_cli.append(_run_cli(myocit, tmp_path, k))
            print(f"myocit de (defaults), whole process: {t_cli[-1]:6.2f} s; load {os.getloadavg()[0]:.2f}",
                  flush=True)
            times = _run_engine(n, g, args.seed, tmp)
            t_engine.append(times["total"])
            t_fit_contrasts.append(times["fit"] + times["contrasts"])
            print(f"engine in-process, fit + contrasts + VST: {times['total']:6.2f} s (fit "
                  f"{times['fit']:.2f}, contrasts {times['contrasts']:.2f}, VST {times['vst']:.2f}); "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", IMPORTS], check=True)
            t_imports.append(time.perf_counter() - t0)
            print(f"  ratio {t_cli[-1] / t_engine[-1]:.2f}; a process that only imports what myocit de "
                  f"imports (GC on): {t_imports[-1]:.2f} s", flush=True)
        print(f"myocit de: {_summary(t_cli)}; engine: {_summary(t_engine)}")
        print(f"ratio myocit de / engine: best/best {min(t_cli) / min(t_engine):.2f}, "
              f"median/median {statistics.median(t_cli) / statistics.median(t_engine):.2f}")
        fixed = [c - f for c, f in zip(t_cli, t_fit_contrasts, strict=True)]
        print(f"fixed cost of the process (whole process - the engine's fit + contrasts of the same round): "
              f"{_summary(fixed)}; start-up + imports alone (GC on): {_summary(t_imports)}")
        if not args.no_stock:
            proc = subprocess.run([sys.executable, "-c", STOCK, str(HERE), str(n), str(g), str(args.seed)],
                                  capture_output=True, text=True, check=True)
            t_stock = json.loads(proc.stdout.strip().splitlines()[-1])["total"]
            print(f"stock pydeseq2 (n_cpus=2) fit + contrasts + lfc_shrink: {t_stock:6.1f} s; "
                  f"load {os.getloadavg()[0]:.2f}")
            print(f"speed-up of myocit de over stock pydeseq2 with shrinkage: {t_stock / min(t_cli):.1f}x "
                  f"(best run), {t_stock / statistics.median(t_cli):.1f}x (median run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
