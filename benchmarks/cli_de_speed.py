"""Time ``myocit de`` as a whole process against the engine in-process and stock pydeseq2 with shrinkage.

The data are those of ``benchmarks/de_speed.py`` (seeded NB counts, 48 samples x 20,000 genes,
16 patients x W0/W4/W24), written as a plain count TSV and a sample sheet. Measured in one run:

* ``myocit de COUNTS --samples SHEET --contrast visit:W4:W0 --contrast visit:W24:W0 --out DIR``
  with its defaults, wall clock of the whole process (start-up, reading, fit, contrasts, writing);
* the engine in-process (``de_speed.py --worker fast``): fit + both contrasts + blind VST;
* stock pydeseq2 (``DefaultInference(n_cpus=2)``): fit + both contrasts, each with ``lfc_shrink``.

Usage (from the repository root)::

    .venv/bin/python benchmarks/cli_de_speed.py [--samples 48 --genes 20000] [--no-stock]
"""

from __future__ import annotations

import argparse
import json
import os
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=20261127)
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

        t0 = time.perf_counter()
        proc = subprocess.run([str(myocit), "de", str(tmp_path / "counts.tsv"), "--samples",
                               str(tmp_path / "samples.csv"), "--contrast", "visit:W4:W0", "--contrast",
                               "visit:W24:W0", "--out", str(tmp_path / "out")],
                              capture_output=True, text=True, check=False)
        t_cli = time.perf_counter() - t0
        if proc.returncode:
            print(proc.stderr[-3000:])
            return 1
        print(f"myocit de (defaults), whole process: {t_cli:6.1f} s; load {os.getloadavg()[0]:.2f}",
              flush=True)
        user_lines = [line for line in proc.stderr.splitlines() if "as categorical" in line]
        print(f"  'storing ... as categorical' lines shown: {len(user_lines)}")

        proc = subprocess.run([sys.executable, str(HERE / "de_speed.py"), "--seed", str(args.seed),
                               "--worker", "fast", str(n), str(g), tmp], capture_output=True, text=True,
                              check=True)
        times = json.loads(proc.stdout.strip().splitlines()[-1])["times"]
        t_engine = times["total"]
        print(f"engine in-process, fit + contrasts + VST: {t_engine:6.1f} s (fit {times['fit']:.1f}, "
              f"contrasts {times['contrasts']:.1f}, VST {times['vst']:.1f}); load {os.getloadavg()[0]:.2f}",
              flush=True)
        print(f"ratio myocit de / engine: {t_cli / t_engine:.2f}")
        if not args.no_stock:
            proc = subprocess.run([sys.executable, "-c", STOCK, str(HERE), str(n), str(g), str(args.seed)],
                                  capture_output=True, text=True, check=True)
            t_stock = json.loads(proc.stdout.strip().splitlines()[-1])["total"]
            print(f"stock pydeseq2 (n_cpus=2) fit + contrasts + lfc_shrink: {t_stock:6.1f} s; "
                  f"load {os.getloadavg()[0]:.2f}")
            print(f"speed-up of myocit de over stock pydeseq2 with shrinkage: {t_stock / t_cli:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
