"""The heavy kernels on a 2-worker Dask LocalCluster against the single process: same numbers, time, memory.

Run from the repository root::

    .venv/bin/python benchmarks/dask_scaling.py                      # IFN 3000x20000, DESeq2 300x20000
    .venv/bin/python benchmarks/dask_scaling.py --ifn 600x5000 --deseq 60x5000   # quick look

Each of the four runs is a fresh interpreter (so its peak RSS is its own):

* IFN, single process: :func:`myocit_omics.interferon.scoring.score_matrix`, the shipped IFN sets x
  every method, against a frozen reference of 100 samples;
* IFN, Dask: :func:`myocit_omics.dask_kernels.score_matrix_chunked` (chunks of 500 samples);
* DESeq2, single process: ``fit_deseq`` with ``FastInference(n_cpus=2)`` (two threads);
* DESeq2, Dask: ``fit_deseq`` with ``DaskInference(client, n_cpus=2)`` (the same gene blocks).

Printed per kernel: identical results (exact equality of every score / of dispersions and LFCs),
the time of each, the cluster's start-up time, the peak RSS of the single process, of the
client process and of each worker, and the overhead (Dask time - single time). Timings on a
shared machine are noisy: the load (``os.getloadavg``) is printed next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker_peak_mb() -> float:
    import resource as r

    return r.getrusage(r.RUSAGE_SELF).ru_maxrss / 1024.0


def ifn_inputs(n: int, g: int):
    """Seeded log2 expression (samples x genes) and a frozen reference of the first 100 samples."""
    from ifn_score_speed import make_counts
    from myocit_omics.genesets import ifn_gene_sets, ifn_genes
    from myocit_omics.interferon.reference import ScoreReference

    counts, _ = make_counts(n, g)
    x = counts.to_numpy(dtype=np.float64).T
    del counts
    lib = x.sum(axis=1)
    x /= (lib / np.median(lib))[:, None]
    np.log2(x + 1.0, out=x)
    genes = [str(s) for s in ifn_genes()]
    genes += [f"SYN{i:05d}" for i in range(g - len(genes))]
    keep = x[:100].mean(axis=0) > 1.0
    genes = [s for s, k in zip(genes, keep, strict=True) if k]
    x = np.ascontiguousarray(x[:, keep])
    ids = [f"S{i:05d}" for i in range(n)]
    ref = ScoreReference(label="healthy_control", sample_ids=ids[:100], genes=genes, log=x[:100].copy())
    return pd.DataFrame(x, index=ids, columns=genes), ref, ifn_gene_sets()


def run_one(kind: str, mode: str, n: int, g: int, out: Path) -> dict[str, object]:
    """One kernel in one mode in this process; results pickled to ``out``; figures returned."""
    import warnings

    from myocit_omics.interferon.methods import METHODS

    rec: dict[str, object] = {"kind": kind, "mode": mode, "size": f"{n}x{g}", "load_before": os.getloadavg()}
    client = cluster = None
    if mode == "dask":
        from distributed import Client, LocalCluster

        t = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1")
        client = Client(cluster)
        rec["cluster_start_s"] = time.perf_counter() - t
    try:
        if kind == "ifn":
            log, ref, sets = ifn_inputs(n, g)
            rec["genes_used"] = log.shape[1]
            t = time.perf_counter()
            if mode == "dask":
                from myocit_omics.dask_kernels import score_matrix_chunked

                res = score_matrix_chunked(log, client=client, reference=ref, gene_sets=sets, methods=METHODS)
            else:
                from myocit_omics.interferon.scoring import score_matrix

                res = score_matrix(log, reference=ref, gene_sets=sets, methods=METHODS)
            rec["time_s"] = time.perf_counter() - t
            payload = {"scores": res.scores, "thresholds": res.thresholds}
        else:
            from de_speed import DESIGN, make_data
            from myocit_omics.dask_kernels import DaskInference
            from myocit_omics.deseq import FastInference, fit_deseq

            counts, meta = make_data(n, g, seed=20261127)
            inference = DaskInference(client, n_cpus=2) if mode == "dask" else FastInference(n_cpus=2)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dds = fit_deseq(counts, meta, DESIGN, inference=inference)
            rec["time_s"] = time.perf_counter() - t
            payload = {k: np.asarray(dds.varm[k]) for k in ("LFC",) if k in dds.varm}
            payload.update({k: dds.var[k].to_numpy() for k in ("dispersions", "genewise_dispersions",
                                                                 "MAP_dispersions") if k in dds.var})
        rec["load_after"] = os.getloadavg()
        rec["peak_rss_mb"] = _peak_mb()
        if client is not None:
            rec["worker_peak_rss_mb"] = sorted(client.run(_worker_peak_mb).values())
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    with open(out, "wb") as fh:
        pickle.dump(payload, fh)
    return rec


def same(a: dict, b: dict) -> bool:
    """Exact equality of two result payloads."""
    if set(a) != set(b):
        return False
    for k in a:
        if isinstance(a[k], pd.DataFrame):
            if not a[k].equals(b[k]):
                return False
        elif not np.array_equal(np.asarray(a[k]), np.asarray(b[k]), equal_nan=True):
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ifn", default="3000x20000", help="SAMPLESxGENES of the IFN scoring")
    ap.add_argument("--deseq", default="300x20000", help="SAMPLESxGENES of the DESeq2 fit")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--run", nargs=5, metavar=("KIND", "MODE", "N", "G", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run:
        kind, mode, n, g, out = args.run
        print(json.dumps(run_one(kind, mode, int(n), int(g), Path(out))))
        return 0
    records = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="dask-scaling-") as tmp:
        for kind, size in (("ifn", args.ifn), ("deseq", args.deseq)):
            n, g = (int(v) for v in size.lower().split("x"))
            payloads = {}
            for mode in ("single", "dask"):
                out = Path(tmp) / f"{kind}-{mode}.pkl"
                cmd = [sys.executable, __file__, "--run", kind, mode, str(n), str(g), str(out)]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    print(f"{kind} {mode} failed:\n{proc.stderr[-3000:]}")
                    failed = True
                    break
                rec = json.loads(proc.stdout.strip().splitlines()[-1])
                records.append(rec)
                with open(out, "rb") as fh:
                    payloads[mode] = pickle.load(fh)
                extra = ""
                if mode == "dask":
                    extra = (f", cluster start {rec['cluster_start_s']:.1f} s, workers' peak RSS "
                             + " / ".join(f"{v:.0f}" for v in rec["worker_peak_rss_mb"]) + " MB")
                print(f"{kind:5} {size:>10} {mode:6}: {rec['time_s']:7.1f} s, "
                      f"peak RSS {rec['peak_rss_mb']:.0f} MB{extra}; "
                      f"load {rec['load_before'][0]:.1f} -> {rec['load_after'][0]:.1f}", flush=True)
            if len(payloads) == 2:
                identical = same(payloads["single"], payloads["dask"])
                single, dask = records[-2], records[-1]
                print(f"{kind:5} {size:>10} identical results: {identical}; Dask / single time "
                      f"{dask['time_s'] / single['time_s']:.2f}, "
                      f"overhead {dask['time_s'] - single['time_s']:+.1f} s "
                      f"(+ {dask['cluster_start_s']:.1f} s cluster start)", flush=True)
                records.append({"kind": kind, "size": size, "identical": identical})
                failed |= not identical
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
