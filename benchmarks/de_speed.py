"""Time the project's DESeq2 (vectorised FastInference + VST) against stock pydeseq2 and R DESeq2.

Each configuration (samples x genes) is seeded synthetic negative-binomial data with a design
``~ group + visit``: visits W0/W4/W24 and 16 groups (at 48 samples the groups are the 16
patients, i.e. ``~ patient + visit``; larger sizes keep 16 groups so the number of coefficients
stays 18 and the timings isolate the growth in samples and genes). Every engine runs in its own
subprocess and does the whole job: fit, both contrasts (W4 vs W0, W24 vs W0, Wald tests with
Cook's filtering and independent filtering) and a blind VST of all genes. Reported: seconds per
phase, the ratio to the project's engine, peak resident memory of the process, and agreement of
the results with the project's (max |d log2FC| for base mean >= 10, Spearman of p-values, share
of genes whose padj < 0.05 call differs).

Usage (from the repository root)::

    .venv/bin/python benchmarks/de_speed.py                       # 48x20000: fast, stock, R if installed
    .venv/bin/python benchmarks/de_speed.py --big                 # + 48x60000 and 300x20000
    .venv/bin/python benchmarks/de_speed.py --huge                # + 3000x20000 (fast engine only)
    .venv/bin/python benchmarks/de_speed.py --sizes 48x5000 --engines fast,stock

Stock pydeseq2 runs with ``DefaultInference(n_cpus=2)``; it is skipped above
``--stock-max-cells`` (default 6e6 cells) because it would take hours; likewise R DESeq2
(``--r-max-cells``), which runs when ``Rscript`` with DESeq2 is installed (serial, as DESeq2
runs by default). The project's engine uses ``FastInference`` with its default ``n_cpus`` (all
CPUs, here 2), the same CPU budget as stock pydeseq2's ``n_cpus=2``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

VISITS = ("W0", "W4", "W24")
N_GROUPS = 16
CONTRASTS = ("W4", "W24")
DESIGN = "~group + visit"


def make_data(n_samples: int, n_genes: int, *, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded NB counts (samples x genes) and metadata for ``~ group + visit``."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.normal(4.0, 2.0, n_genes))
    disp = 0.05 + 1.5 / base
    group_eff = rng.normal(0, 0.4, (N_GROUPS, n_genes))
    visit_eff = np.zeros((len(VISITS), n_genes))
    de = rng.random(n_genes) < 0.1
    for v in range(1, len(VISITS)):
        visit_eff[v, de] = rng.normal(0, 1.0, de.sum())
    sf = np.exp(rng.normal(0, 0.3, n_samples))
    visit = np.array([k % len(VISITS) for k in range(n_samples)])
    group = np.array([(k // len(VISITS)) % N_GROUPS for k in range(n_samples)])
    counts = np.empty((n_samples, n_genes), dtype=np.int64)
    for k in range(n_samples):
        mu = sf[k] * base * np.exp(group_eff[group[k]] + visit_eff[visit[k]])
        counts[k] = rng.negative_binomial(1 / disp, 1 / (1 + mu * disp))
    index = [f"S{k:05d}" for k in range(n_samples)]
    meta = pd.DataFrame(
        {"group": [f"G{g:02d}" for g in group], "visit": [VISITS[v] for v in visit]}, index=index
    )
    return pd.DataFrame(counts, index=index, columns=[f"G{j:06d}" for j in range(n_genes)]), meta


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker(engine: str, n: int, g: int, seed: int, out: Path) -> dict[str, object]:
    """Run one engine on one configuration in this process; write results to ``out``."""
    import warnings

    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    from myocit_omics.deseq import fit_deseq, fit_vst_trend, vst_transform

    counts, meta = make_data(n, g, seed=seed)
    rss_data = _peak_rss_mb()
    times: dict[str, float] = {}
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        if engine == "fast":
            dds = fit_deseq(counts, meta, DESIGN)
        else:
            dds = DeseqDataSet(
                counts=counts, metadata=meta, design=DESIGN, quiet=True, inference=DefaultInference(n_cpus=2)
            )
            dds.deseq2()
        t1 = time.perf_counter()
        for target in CONTRASTS:
            st = DeseqStats(dds, contrast=["visit", target, "W0"], quiet=True, inference=dds.inference)
            st.summary()
            results[target] = st.results_df
        t2 = time.perf_counter()
        if engine == "fast":
            sf = dds.obs["size_factors"].to_numpy()
            trend = fit_vst_trend(counts.to_numpy(), sf)
            vst = vst_transform(counts.to_numpy(), sf, trend)
        else:
            dds.vst(use_design=False)
            vst = dds.layers["vst_counts"]
        t3 = time.perf_counter()
    times = {"fit": t1 - t0, "contrasts": t2 - t1, "vst": t3 - t2, "total": t3 - t0}
    for target, df in results.items():
        df[["baseMean", "log2FoldChange", "pvalue", "padj"]].to_csv(out / f"{engine}_{target}.tsv", sep="\t")
    if n * g <= 5_000_000:
        np.save(out / f"{engine}_vst.npy", np.asarray(vst, dtype=np.float32))
    return {"engine": engine, "times": times, "peak_rss_mb": _peak_rss_mb(), "rss_after_data_mb": rss_data}


R_SCRIPT = r"""
suppressMessages(library(DESeq2))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
counts <- as.matrix(read.delim(file.path(dir, "counts.tsv"), row.names = 1, check.names = FALSE))
coldata <- read.delim(file.path(dir, "coldata.tsv"), row.names = 1, stringsAsFactors = TRUE)
coldata$visit <- relevel(coldata$visit, "W0")
t0 <- proc.time()[["elapsed"]]
dds <- DESeqDataSetFromMatrix(counts, coldata, ~ group + visit)
dds <- DESeq(dds, quiet = TRUE)
t1 <- proc.time()[["elapsed"]]
for (target in c("W4", "W24")) {
  r <- results(dds, contrast = c("visit", target, "W0"))
  df <- data.frame(gene = rownames(r), baseMean = r$baseMean, log2FoldChange = r$log2FoldChange,
                   pvalue = r$pvalue, padj = r$padj)
  write.table(df, file.path(dir, paste0("R_", target, ".tsv")), sep = "\t", quote = FALSE, row.names = FALSE)
}
t2 <- proc.time()[["elapsed"]]
v <- varianceStabilizingTransformation(dds, blind = TRUE)
t3 <- proc.time()[["elapsed"]]
cat(sprintf('{"fit": %f, "contrasts": %f, "vst": %f, "total": %f}\n', t1 - t0, t2 - t1, t3 - t2, t3 - t0))
"""


def r_available() -> bool:
    """Whether Rscript with DESeq2 is installed."""
    if shutil.which("Rscript") is None:
        return False
    proc = subprocess.run(
        ["Rscript", "-e", "suppressMessages(library(DESeq2))"], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0


def run_r(n: int, g: int, seed: int, out: Path) -> dict[str, object]:
    """Run R DESeq2 on the same data (timed inside R, file reading excluded)."""
    counts, meta = make_data(n, g, seed=seed)
    counts.T.to_csv(out / "counts.tsv", sep="\t")
    meta.to_csv(out / "coldata.tsv", sep="\t")
    script = out / "bench.R"
    script.write_text(R_SCRIPT)
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS %M", "Rscript", str(script), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"engine": "R", "error": proc.stderr[-2000:]}
    times = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    rss = [line for line in proc.stderr.splitlines() if line.startswith("MAXRSS")]
    peak = float(rss[-1].split()[1]) / 1024.0 if rss else float("nan")
    return {"engine": "R", "times": times, "peak_rss_mb": peak}


def agreement(out: Path, engine: str) -> dict[str, float]:
    """Agreement of ``engine``'s results with the project's (fast) results."""
    from scipy.stats import spearmanr

    worst: dict[str, float] = {"max_dlfc_bm10": 0.0, "spearman_p": 1.0, "padj_call_mismatch_pct": 0.0}
    for target in CONTRASTS:
        a = pd.read_csv(out / f"fast_{target}.tsv", sep="\t", index_col=0)
        b = pd.read_csv(out / f"{engine}_{target}.tsv", sep="\t", index_col=0).reindex(a.index)
        bm = (a["baseMean"] >= 10) & a["log2FoldChange"].notna() & b["log2FoldChange"].notna()
        d = float((a["log2FoldChange"] - b["log2FoldChange"])[bm].abs().max())
        both = a["pvalue"].notna() & b["pvalue"].notna()
        rho = float(spearmanr(a["pvalue"][both], b["pvalue"][both]).statistic)
        calls = float(((a["padj"] < 0.05) != (b["padj"] < 0.05)).mean() * 100)
        worst["max_dlfc_bm10"] = max(worst["max_dlfc_bm10"], d)
        worst["spearman_p"] = min(worst["spearman_p"], rho)
        worst["padj_call_mismatch_pct"] = max(worst["padj_call_mismatch_pct"], calls)
    fv, ev = out / "fast_vst.npy", out / f"{engine}_vst.npy"
    if fv.exists() and ev.exists():
        worst["vst_max_abs_diff"] = float(np.abs(np.load(fv) - np.load(ev)).max())
    return worst


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="48x20000", help="comma-separated SAMPLESxGENES (default 48x20000)")
    ap.add_argument("--big", action="store_true", help="add 48x60000 and 300x20000")
    ap.add_argument("--huge", action="store_true", help="add 3000x20000 (project engine only)")
    ap.add_argument("--engines", default="fast,stock,R", help="subset of fast,stock,R")
    ap.add_argument("--stock-max-cells", type=float, default=6e6, help="skip stock pydeseq2 above this size")
    ap.add_argument("--r-max-cells", type=float, default=6e6, help="skip R DESeq2 above this size")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--worker", nargs=4, metavar=("ENGINE", "N", "G", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        engine, n, g, out = args.worker
        print(json.dumps(_worker(engine, int(n), int(g), args.seed, Path(out))))
        return 0

    sizes = [s for s in args.sizes.split(",") if s]
    if args.big:
        sizes += ["48x60000", "300x20000"]
    if args.huge:
        sizes += ["3000x20000"]
    engines = [e for e in args.engines.split(",") if e]
    with_r = "R" in engines and r_available()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"R DESeq2: {'yes' if with_r else 'not run (absent or not asked for)'}")
    rows = []
    for size in sizes:
        n, g = (int(v) for v in size.lower().split("x"))
        with tempfile.TemporaryDirectory(prefix="de_speed_") as tmp:
            out = Path(tmp)
            for engine in ("fast", "stock"):
                if engine not in engines or (engine == "stock" and n * g > args.stock_max_cells):
                    continue
                cmd = [
                    sys.executable,
                    __file__,
                    "--seed",
                    str(args.seed),
                    "--worker",
                    engine,
                    str(n),
                    str(g),
                    tmp,
                ]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    print(f"{size} {engine} failed:\n{proc.stderr[-3000:]}")
                    continue
                rec = json.loads(proc.stdout.strip().splitlines()[-1])
                rec["size"] = size
                rows.append(rec)
                print(_fmt(rec), flush=True)
            if with_r and n * g <= args.r_max_cells:
                rec = run_r(n, g, args.seed, out)
                rec["size"] = size
                rows.append(rec)
                print(_fmt(rec), flush=True)
            fast = next((r for r in rows if r["size"] == size and r["engine"] == "fast"), None)
            for rec in rows:
                if rec["size"] != size or rec["engine"] == "fast" or "times" not in rec or fast is None:
                    continue
                rec["ratio_total"] = rec["times"]["total"] / fast["times"]["total"]
                rec["agreement"] = agreement(out, rec["engine"])
                print(
                    f"  {size} {rec['engine']}/fast total time ratio: {rec['ratio_total']:.1f}x; "
                    f"agreement with fast: {json.dumps(rec['agreement'])}",
                    flush=True,
                )
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def _fmt(rec: dict[str, object]) -> str:
    if "error" in rec:
        return f"{rec['size']:>12} {rec['engine']:>6} error: {rec['error']}"
    t = rec["times"]
    return (
        f"{rec['size']:>12} {rec['engine']:>6}  fit {t['fit']:8.2f} s  contrasts {t['contrasts']:7.2f} s  "
        f"vst {t['vst']:7.2f} s  total {t['total']:8.2f} s  peak RSS {rec['peak_rss_mb']:8.0f} MB"
    )


if __name__ == "__main__":
    raise SystemExit(main())
