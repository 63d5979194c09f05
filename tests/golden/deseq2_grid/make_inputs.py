"""Make the inputs of the DESeq2 agreement grid (run once; inputs and R outputs are committed).

Each case is a folder ``<case>/`` with ``counts.tsv.gz`` (genes x samples), ``samples.csv`` and
one line in ``cases.tsv`` (design formula, factor levels, contrasts as weights on R's
``resultsNames``). Real counts come from ``../shared`` (GSE197067 paired T-cell donors, Lee 2021
SAEC interferon stimulations); the rest is seeded negative-binomial simulation. Run from the
repository root with the shared fixtures next to the repository::

    .venv/bin/python tests/golden/deseq2_grid/make_inputs.py
    Rscript tests/golden/deseq2_grid/run_deseq2.R

Cases (residual df = samples - design columns):

==================  ===  ===========================================================
tcell_df1           1    2 donors x ctr/act 24 h, ~ donor + cond (the issue's case)
tcell_df2           2    3 donors x ctr/act 24 h
tcell_df3           3    4 donors x ctr/act 24 h
tcell_visit3_df5    5    4 donors x visit h0/h24/h72 (one sample missing), two contrasts
sim_df10            10   11 patients x 2 visits, paired
sim_df40            40   41 patients x 2 visits, paired
sim_covariates      20   24 samples, ~ sex + age + visit (categorical + numeric covariate)
sim_zero_cond       3    4 patients x 2 visits, 8 % of genes zero at W0
lee_cooks           5    Lee 2021 Control (4) vs IFNb (3), ~ stimulus: Cook's filtering
sim_outlier_refit   14   8 + 8 samples, ~ visit, outlier counts: replace-and-refit
lee_nonint          11   Lee 2021, 5 stimuli, counts jittered to non-integers (rounded)
sim_interaction     6    4 responders + 4 non-responders x 2 visits, visit x responder
==================  ===  ===========================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2].parent / "shared" / "fixtures" / "rnaseq"
SEED = 20261205
#: Cases whose counts are subsets of the public counts in ../shared: their counts are rebuilt
#: from there (never committed); the simulated cases' counts are committed.
REAL_CASES = ("tcell_df1", "tcell_df2", "tcell_df3", "tcell_visit3_df5", "lee_cooks", "lee_nonint")
BUILT: dict[str, tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]] = {}


def write_case(
    name: str, counts: pd.DataFrame, samples: pd.DataFrame, *, formula: str, levels: str, contrasts: str
) -> None:
    """Record one case: counts genes x samples (integers or not), the sample sheet and its spec."""
    counts.index.name = "gene_id"
    BUILT[name] = (
        counts,
        samples,
        {"case": name, "formula": formula, "levels": levels, "contrasts": contrasts},
    )


def build_all(shared: Path = SHARED) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]]:
    """Build every case in memory (deterministic): ``{case: (counts genes x samples, samples, spec)}``."""
    global SHARED
    SHARED = shared
    BUILT.clear()
    tcell_cases(np.random.default_rng([SEED, 1]))
    sim_cases(np.random.default_rng([SEED, 2]))
    lee_cases(np.random.default_rng([SEED, 3]))
    return dict(BUILT)


def pick_genes(counts: pd.DataFrame, n: int, rng: np.random.Generator, *, min_total: int = 5) -> pd.DataFrame:
    """``n`` genes (sorted) of those with at least ``min_total`` reads over the chosen samples."""
    expressed = counts.index[counts.sum(axis=1) >= min_total]
    return counts.loc[np.sort(rng.choice(expressed, min(n, len(expressed)), replace=False))]


def tcell_cases(rng: np.random.Generator) -> None:
    counts = pd.read_csv(SHARED / "gse197067_tcell_activation_counts.csv.gz", index_col=0)
    sheet = pd.read_csv(SHARED / "gse197067_tcell_activation_samples.csv", index_col=0)
    for n_donors in (2, 3, 4):
        keep = sheet["Replicates"].isin([f"D{i}" for i in range(1, n_donors + 1)]) & (
            sheet["Timepoint"] == 24
        )
        meta = pd.DataFrame({"donor": sheet.loc[keep, "Replicates"], "cond": sheet.loc[keep, "Condition"]})
        write_case(
            f"tcell_df{n_donors - 1}",
            pick_genes(counts[meta.index], 1500, rng),
            meta,
            formula="~ donor + cond",
            levels="cond=ctr|act",
            contrasts="act_vs_ctr=cond_act_vs_ctr:1",
        )
    keep = (
        sheet["Condition"].isin(["Initiation", "act"])
        & sheet["Timepoint"].isin([0, 24, 72])
        & ~((sheet["Replicates"] == "D4") & (sheet["Timepoint"] == 72))
    )
    meta = pd.DataFrame(
        {"donor": sheet.loc[keep, "Replicates"], "visit": "h" + sheet.loc[keep, "Timepoint"].astype(str)}
    )
    write_case(
        "tcell_visit3_df5",
        pick_genes(counts[meta.index], 1500, rng),
        meta,
        formula="~ donor + visit",
        levels="visit=h0|h24|h72",
        contrasts="h24_vs_h0=visit_h24_vs_h0:1;h72_vs_h24=visit_h72_vs_h0:1,visit_h24_vs_h0:-1",
    )


def simulate(rng: np.random.Generator, n_genes: int, n_samples: int, effects: np.ndarray) -> np.ndarray:
    """NB counts genes x samples around ``base * exp(effects)`` with a DESeq2-like dispersion trend."""
    base = np.exp(rng.normal(4.0, 1.8, n_genes))
    disp = (0.04 + 1.5 / base) * np.exp(rng.normal(0, 0.5, n_genes))
    sf = np.exp(rng.normal(0, 0.25, n_samples))
    mu = base[:, None] * sf[None, :] * np.exp(effects)
    size = 1 / disp[:, None]
    return rng.negative_binomial(size, size / (size + mu))


def de_effect(rng: np.random.Generator, n_genes: int, share: float = 0.12, sd: float = 1.0) -> np.ndarray:
    lfc = np.zeros(n_genes)
    de = rng.random(n_genes) < share
    lfc[de] = rng.choice([-1, 1], de.sum()) * np.abs(rng.normal(1.0, sd, de.sum()))
    return lfc * np.log(2)


def paired_sim(rng: np.random.Generator, n_patients: int, n_genes: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    meta = pd.DataFrame(
        [(f"P{i:02d}", v) for i in range(n_patients) for v in ("W0", "W4")], columns=["patient", "visit"]
    )
    meta.index = [f"S{k:03d}" for k in range(len(meta))]
    patient = rng.normal(0, 0.4, (n_genes, n_patients))
    lfc = de_effect(rng, n_genes)
    effects = patient[:, [int(p[1:]) for p in meta["patient"]]] + np.outer(lfc, meta["visit"] == "W4")
    counts = simulate(rng, n_genes, len(meta), effects)
    genes = [f"G{j:05d}" for j in range(n_genes)]
    return pd.DataFrame(counts, index=genes, columns=meta.index), meta


def sim_cases(rng: np.random.Generator) -> None:
    for n_patients, n_genes in ((11, 1500), (41, 1000)):
        counts, meta = paired_sim(rng, n_patients, n_genes)
        write_case(
            f"sim_df{n_patients - 1}",
            counts,
            meta,
            formula="~ patient + visit",
            levels="visit=W0|W4",
            contrasts="W4_vs_W0=visit_W4_vs_W0:1",
        )

    # numeric and categorical covariates, unpaired
    n, g = 24, 1500
    meta = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "age": np.round(rng.uniform(3, 16, n), 1),
            "visit": np.repeat(["W0", "W4"], n // 2),
        },
        index=[f"S{k:03d}" for k in range(n)],
    )
    effects = (
        np.outer(rng.normal(0, 0.5, g) * (rng.random(g) < 0.2), meta["sex"] == "M")
        + np.outer(rng.normal(0, 0.05, g), meta["age"] - 9)
        + np.outer(de_effect(rng, g), meta["visit"] == "W4")
    )
    write_case(
        "sim_covariates",
        pd.DataFrame(simulate(rng, g, n, effects), index=[f"G{j:05d}" for j in range(g)], columns=meta.index),
        meta,
        formula="~ sex + age + visit",
        levels="sex=F|M;visit=W0|W4",
        contrasts="W4_vs_W0=visit_W4_vs_W0:1;age=age:1",
    )

    # genes zero in one condition
    counts, meta = paired_sim(rng, 4, 1500)
    zero = rng.random(len(counts)) < 0.08
    counts.loc[zero, meta.index[meta["visit"] == "W0"]] = 0
    write_case(
        "sim_zero_cond",
        counts,
        meta,
        formula="~ patient + visit",
        levels="visit=W0|W4",
        contrasts="W4_vs_W0=visit_W4_vs_W0:1",
    )

    # outliers with 8 replicates per group: DESeq2 replaces them and refits
    n, g = 16, 1500
    meta = pd.DataFrame({"visit": np.repeat(["W0", "W4"], n // 2)}, index=[f"S{k:03d}" for k in range(n)])
    counts = simulate(rng, g, n, np.outer(de_effect(rng, g), meta["visit"] == "W4"))
    out_genes = rng.choice(g, 40, replace=False)
    counts[out_genes, rng.integers(0, n, 40)] = (counts[out_genes].max(axis=1) + 20) * 12
    write_case(
        "sim_outlier_refit",
        pd.DataFrame(counts, index=[f"G{j:05d}" for j in range(g)], columns=meta.index),
        meta,
        formula="~ visit",
        levels="visit=W0|W4",
        contrasts="W4_vs_W0=visit_W4_vs_W0:1",
    )

    # visit x responder with patients nested in the responder groups (DESeq2 vignette style)
    rows = [(f"P{i}", "NR" if i < 4 else "R", str(i % 4 + 1), v) for i in range(8) for v in ("W0", "W4")]
    meta = pd.DataFrame(rows, columns=["patient", "responder", "pat_n", "visit"])
    meta.index = [f"S{k:03d}" for k in range(len(meta))]
    g = 1500
    patient = rng.normal(0, 0.4, (g, 8))
    lfc_nr, lfc_r = de_effect(rng, g), de_effect(rng, g)
    w4 = (meta["visit"] == "W4").to_numpy()
    resp = (meta["responder"] == "R").to_numpy()
    effects = (
        patient[:, [int(p[1:]) for p in meta["patient"]]]
        + np.outer(lfc_nr, w4 & ~resp)
        + np.outer(lfc_r, w4 & resp)
    )
    write_case(
        "sim_interaction",
        pd.DataFrame(
            simulate(rng, g, len(meta), effects), index=[f"G{j:05d}" for j in range(g)], columns=meta.index
        ),
        meta,
        formula="~ responder + responder:pat_n + responder:visit",
        levels="responder=NR|R;pat_n=1|2|3|4;visit=W0|W4",
        contrasts="R_vs_NR_W4=responderR.visitW4:1,responderNR.visitW4:-1;W4_in_R=responderR.visitW4:1",
    )


def lee_cases(rng: np.random.Generator) -> None:
    counts = pd.read_csv(SHARED / "lee2021_saec_gse161664_counts.tsv.gz", sep="\t", index_col=0)
    sheet = pd.read_csv(SHARED / "lee2021_saec_gse161664_samples.csv", index_col=0)
    counts = counts.loc[~counts.index.str.startswith("__"), sheet.index]
    keep = sheet["stimulus"].isin(["Control", "IFNb"])
    meta = sheet.loc[keep, ["stimulus"]]
    sub = pick_genes(counts[meta.index], 1500, rng, min_total=10).copy()
    # one sample of 15 genes made an outlier (Cook's distance flags it; too few replicates to replace)
    hit = rng.choice(len(sub), 15, replace=False)
    for j, i in zip(hit, rng.integers(0, len(meta), 15), strict=True):
        sub.iloc[j, i] = int(sub.iloc[j].max() * 10 + 50)
    write_case(
        "lee_cooks",
        sub,
        meta,
        formula="~ stimulus",
        levels="stimulus=Control|IFNb",
        contrasts="IFNb_vs_Control=stimulus_IFNb_vs_Control:1",
    )
    meta = sheet[["stimulus"]]
    sub = pick_genes(counts, 1500, rng, min_total=10)
    jitter = sub * rng.uniform(0.8, 1.2, sub.shape) + rng.uniform(0, 1, sub.shape)
    write_case(
        "lee_nonint",
        jitter.round(3),
        meta,
        formula="~ stimulus",
        levels="stimulus=Control|IFNa|IFNb|IFNg|IFNl3",
        contrasts="IFNa_vs_Control=stimulus_IFNa_vs_Control:1;IFNg_vs_IFNb=stimulus_IFNg_vs_Control:1,stimulus_IFNb_vs_Control:-1",
    )


def main() -> None:
    built = build_all()
    for name, (counts, samples, _spec) in built.items():
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        # real-data counts are written for the R run only (.gitignore keeps them out of the repository)
        counts.to_csv(
            folder / "counts.tsv.gz",
            sep="\t",
            float_format="%.3f",
            compression={"method": "gzip", "mtime": 0},
        )
        samples.to_csv(folder / "samples.csv", index_label="sample_id")
    pd.DataFrame([spec for _c, _s, spec in built.values()]).to_csv(HERE / "cases.tsv", sep="\t", index=False)


if __name__ == "__main__":
    main()
