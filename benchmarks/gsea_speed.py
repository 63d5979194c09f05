"""Time the project's GSEA engine against gseapy prerank, and check it against gseapy and brute force.

Default (quick): every shipped collection (``gene_sets/``) on a seeded 18,000-gene ranking (the
shipped sets' genes plus filler genes, t-distributed statistic, the 227 ISGs shifted down as in
an IFN-high baseline), 1000 permutations, min size 3: seconds of the project's engine (all of it,
and without the multilevel p-values), seconds of gseapy prerank with the same sets, permutations
and seed, and their ratio, measured in the same run.

``--check`` adds the agreement figures on real rankings (``--de-table`` files, e.g. the demo's
``results/<run>/tables/de/*.tsv``, and ``--gse197067``, the paired T-cell data of ../shared,
fitted here with the project's DESeq2): the largest |ES - ES_gseapy| over all sets; at
``--check-permutations`` (10,000) the largest relative NES difference and the largest
|p - p_gseapy| in units of its Monte-Carlo standard error for the sets with gseapy p > 1e-3;
and multilevel p-values of a few set sizes against 10^6 random sets (brute force).

Usage (from the repository root)::

    .venv/bin/python benchmarks/gsea_speed.py
    .venv/bin/python benchmarks/gsea_speed.py --check --de-table results/demo/tables/de/W4_vs_W0.tsv \\
        --gse197067 [--check-sets 50] [--no-speed]

``--check-sets N`` checks the IFN sets plus N seeded other sets (gseapy at 10,000 permutations on all
351 shipped sets takes minutes per ranking).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from myocit_omics.de.gsea import load_gene_sets, ranking_from_results, run_prerank  # noqa: E402
from myocit_omics.de.gsea_engine import es_plus, multilevel_log_pvalue, random_subsets  # noqa: E402


def synthetic_ranking(n_genes: int, *, seed: int) -> pd.Series:
    """A seeded ranking over the shipped sets' genes plus fillers; the ISGs shifted down."""
    sets, _ = load_gene_sets()
    rng = np.random.default_rng(seed)
    genes = sorted({g for s in sets.values() for g in s.genes})
    genes += [f"FILLER{i}" for i in range(max(0, n_genes - len(genes)))]
    stat = rng.standard_t(4, size=len(genes))
    isg = set(sets["QUSAGE_ISG_227"].genes)
    stat[np.array([g in isg for g in genes])] -= 2.5
    ranking = pd.Series(stat, index=genes)
    return ranking.sort_values(ascending=False, kind="mergesort")


def timed(fn, repeat: int = 1):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def speed(ranking: pd.Series, permutations: int, seed: int) -> None:
    sets, _ = load_gene_sets()
    print(f"ranking: {ranking.size} genes; {len(sets)} shipped sets; {permutations} permutations; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    from myocit_omics.de import gsea_engine

    t_all, (table, runs, _) = timed(lambda: run_prerank(ranking, sets, contrast_id="bench",
                                                        permutations=permutations, seed=seed), repeat=3)
    n_ml = runs.engine.pval_method.count("multilevel")
    position = pd.Series(np.arange(ranking.size), index=ranking.index)
    hits = [position.reindex(list(s.genes)).dropna().to_numpy(np.int64) for s in sets.values()]
    hits = [h for h in hits if 3 <= h.size <= 1000]
    t_perm, _ = timed(lambda: gsea_engine.prerank(ranking.to_numpy(), hits, permutations=permutations,
                                                  seed=seed, multilevel=False), repeat=3)
    t_gp, (gtable, _, _) = timed(lambda: run_prerank(ranking, sets, contrast_id="bench",
                                                     permutations=permutations, seed=seed, engine="gseapy"))
    print(f"sets tested: {len(table)} (gseapy {len(gtable)}); multilevel p-values: {n_ml}")
    print(f"myocit engine, all:                {t_all:7.3f} s (best of 3)")
    print(f"myocit engine, permutations only:  {t_perm:7.3f} s (best of 3; no multilevel)")
    print(f"gseapy prerank (threads=1):        {t_gp:7.3f} s")
    print(f"speed-up: {t_gp / t_all:.1f}x (all), {t_gp / t_perm:.1f}x (permutations only); "
          f"load {os.getloadavg()[0]:.2f}")


_FIRST_CALL = """
import time
t0 = time.perf_counter()
import numpy as np
from myocit_omics.de.gsea_engine import multilevel_log_pvalues
t1 = time.perf_counter()
w = np.abs(np.random.default_rng(0).standard_t(4, size=2000))
multilevel_log_pvalues(np.sort(w)[::-1], [5], [0.5], rng=np.random.default_rng(0), compiled=True)
t2 = time.perf_counter()
multilevel_log_pvalues(np.sort(w)[::-1], [5], [0.5], rng=np.random.default_rng(0), compiled=True)
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {time.perf_counter() - t2:.3f}")
"""


def first_call_cost() -> None:
    """Time the compiled multilevel kernel's first call in a fresh process: cold compile and cached."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(REPO / "src")}
        for what in ("cold (compile, empty cache)", "cached (machine code from the cache)"):
            out = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, capture_output=True, text=True,
                                 check=True).stdout.split()
            print(f"numba kernel, new process, {what}: import engine {out[0]} s, first call {out[1]} s, "
                  f"second call {out[2]} s; load {os.getloadavg()[0]:.2f}", flush=True)


def gse197067_ranking() -> pd.Series:
    from myocit_omics.de.contrasts import ContrastSpec
    from myocit_omics.de.pipeline import DEParams, plan_fits, run_fits
    from myocit_omics.io.counts import read_counts

    base = REPO.parent / "shared" / "fixtures" / "rnaseq"
    sheet = pd.read_csv(base / "gse197067_tcell_activation_samples.csv")
    sheet["time"] = np.where(sheet["Condition"] == "Initiation", "0h",
                             sheet["Condition"] + "_" + sheet["Timepoint"].astype(str) + "h")
    obs = sheet.rename(columns={"sample": "sample_id", "Replicates": "donor"}).set_index("sample_id")
    obs = obs[obs["time"].isin(["0h", "act_24h"])]
    cm = read_counts(base / "gse197067_tcell_activation_counts.csv.gz")
    counts = cm.counts[list(obs.index)].T
    counts = counts.loc[:, counts.sum(axis=0) >= 10]
    contrast = ContrastSpec(id="act24_vs_0h", variable="time", reference="0h", target="act_24h",
                            paired_by="donor")
    plans = plan_fits(obs, [contrast], formula="~ donor + time", rule="keep")
    (result,) = run_fits(plans, counts, params=DEParams(shrink=False), gene_names=cm.gene_names)
    return ranking_from_results(result.table)[0]


def agreement(name: str, ranking: pd.Series, permutations: int, seed: int, n_sets: int = 0) -> None:
    sets, _ = load_gene_sets()
    if n_sets:  # the IFN sets and a seeded sample of the others (gseapy's time grows with the sets)
        from myocit_omics.genesets import IFN_SETS

        others = sorted(k for k in sets if k not in IFN_SETS)
        keep = set(np.random.default_rng(seed).choice(others, size=min(n_sets, len(others)), replace=False))
        sets = {k: v for k, v in sets.items() if k in IFN_SETS or k in keep}
    t0 = time.perf_counter()
    mine, _, _ = run_prerank(ranking, sets, contrast_id=name, permutations=permutations, seed=seed)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, _, _ = run_prerank(ranking, sets, contrast_id=name, permutations=permutations, seed=seed + 1,
                                engine="gseapy", threads=2)
    t2 = time.perf_counter()
    m = mine.set_index("gene_set")
    g = ref.set_index("gene_set").loc[m.index]
    d_es = float((m["es"] - g["es"]).abs().max())
    lead = float((m["leading_edge"] == g["leading_edge"]).mean())
    sel = g["p_value"] > 1e-3
    d_nes = float(((m["nes"] - g["nes"]).abs() / g["nes"].abs())[sel].max())
    p = (m["p_value"] + g["p_value"]) / 2
    # the two p-values are independent estimates: se of their difference from both
    se = np.sqrt(2 * p * (1 - p) / (permutations / 2))
    z = ((m["p_value"] - g["p_value"]).abs() / se)[sel]
    print(f"{name}: {ranking.size} genes, {len(m)} sets ({int(sel.sum())} with gseapy p > 1e-3); "
          f"max |dES| = {d_es:.1e}; leading edges equal: {lead:.0%}; max rel. dNES (p > 1e-3) = {d_nes:.2%}; "
          f"|dp|/se: median {z.median():.2f}, 99th pct {z.quantile(0.99):.2f}, max {z.max():.2f}; "
          f"engine {t1 - t0:.2f} s, gseapy {t2 - t1:.1f} s ({permutations} permutations); "
          f"load {os.getloadavg()[0]:.2f}", flush=True)


def multilevel_check(n: int = 18000, seed: int = 5, brute: int = 1_000_000) -> None:
    rng = np.random.default_rng(seed)
    r = np.sort(rng.standard_t(4, size=n))[::-1]
    w = np.abs(r)
    for k in (5, 15, 50):
        t0 = time.perf_counter()
        chunk = max(1, 4_000_000 // k)
        null = np.concatenate([es_plus(random_subsets(rng, n, k, min(chunk, brute - i)), w, n)
                               for i in range(0, brute, chunk)])
        tb = time.perf_counter() - t0
        null.sort()
        for exceed in (300, 20):
            es = null[-exceed - 1]
            p_true = (null >= es).mean()
            t0 = time.perf_counter()
            est = np.array([multilevel_log_pvalue(w, k, es, rng=np.random.default_rng([seed, s]))[0]
                            for s in range(10)]) / np.log(10)
            tm = (time.perf_counter() - t0) / 10
            print(f"k={k:3d}: brute force p = {p_true:.1e} ({brute:.0e} sets, {tb:.1f} s); multilevel "
                  f"log10 p = {est.mean():.2f} +- {est.std():.2f} (10 seeds; truth {np.log10(p_true):.2f}), "
                  f"{tm:.3f} s per estimate", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--genes", type=int, default=18000)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20221110)
    ap.add_argument("--check", action="store_true", help="agreement with gseapy and brute force")
    ap.add_argument("--check-permutations", type=int, default=10000)
    ap.add_argument("--check-sets", type=int, default=0,
                    help="check on the IFN sets plus this many other shipped sets (0: all)")
    ap.add_argument("--no-speed", action="store_true", help="skip the timing part")
    ap.add_argument("--time-table", action="append", default=[], type=Path,
                    help="also time both engines (--permutations) on the ranking of this DE table")
    ap.add_argument("--de-table", action="append", default=[], type=Path,
                    help="a DE table to rank (repeatable)")
    ap.add_argument("--gse197067", action="store_true", help="also the GSE197067 ranking (fits DESeq2)")
    args = ap.parse_args()
    if not args.no_speed:
        first_call_cost()
        speed(synthetic_ranking(args.genes, seed=args.seed), args.permutations, args.seed)
    sets, _ = load_gene_sets()
    for path in args.time_table:
        ranking = ranking_from_results(pd.read_csv(path, sep="\t"))[0]
        opts = {"contrast_id": path.stem, "permutations": args.permutations, "seed": args.seed}
        t_mine, (_, runs, _) = timed(lambda r=ranking, o=opts: run_prerank(r, sets, **o))
        t_gp, _ = timed(lambda r=ranking, o=opts: run_prerank(r, sets, engine="gseapy", **o))
        print(f"{path.stem}: {ranking.size} genes; myocit engine {t_mine:.2f} s "
              f"({runs.engine.pval_method.count('multilevel')} multilevel p-values), gseapy {t_gp:.1f} s: "
              f"{t_gp / t_mine:.1f}x; load {os.getloadavg()[0]:.2f}", flush=True)
    if not args.check:
        return 0
    for path in args.de_table:
        table = pd.read_csv(path, sep="\t")
        agreement(path.stem, ranking_from_results(table)[0], args.check_permutations, args.seed,
                  args.check_sets)
    if args.gse197067:
        agreement("GSE197067 act24_vs_0h", gse197067_ranking(), args.check_permutations, args.seed,
                  args.check_sets)
    multilevel_check()
    return 0


if __name__ == "__main__":
    sys.exit(main())
