"""Gene-set enrichment of a DE result: gseapy prerank on the Wald statistic, and ORA as an option.

Genes are ranked by the Wald statistic (sign = direction, size = evidence), keyed by gene
symbol because the GMT files are in HGNC symbols. A negative NES means the set goes down
from reference to target (at W4 vs W0, the IFN sets under baricitinib).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.de.fit import captured_warnings
from myocit_omics.errors import InputError
from myocit_omics.genesets import IFN_SETS, GeneSet, project_gene_sets, read_gmt
from myocit_omics.results import save_figure

log = logging.getLogger(__name__)

#: Columns of ``tables/gsea/<contrast>.tsv`` (docs/contracts.md section 5), in order.
GSEA_COLUMNS: tuple[str, ...] = (
    "contrast", "gene_set", "source", "es", "nes", "p_value", "fdr", "n_genes", "leading_edge",
)

#: Columns of ``tables/ora/<contrast>.tsv``.
ORA_COLUMNS: tuple[str, ...] = (
    "contrast", "direction", "gene_set", "source", "overlap", "n_genes", "p_value", "fdr",
    "odds_ratio", "genes",
)


def load_gene_sets(extra_gmt: Iterable[str | Path] = ()) -> tuple[dict[str, GeneSet], list[str]]:
    """Return the shipped sets of ``gene_sets/`` plus every set of the user's GMT files.

    Parameters
    ----------
    extra_gmt
        User GMT files; a set with the same name as a shipped one replaces it (noted).

    Returns
    -------
    sets : dict
        Set name -> :class:`~myocit_omics.genesets.GeneSet`.
    notes : list of str
        Replaced set names.
    """
    sets = project_gene_sets()
    notes: list[str] = []
    for gmt in extra_gmt:
        for name, gs in read_gmt(gmt).items():
            if name in sets:
                notes.append(f"gene set {name!r} of {Path(gmt).name} replaces the one of "
                             f"{Path(sets[name].source).name}")
            sets[name] = gs
    return sets, notes


def ranking_from_results(results: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Rank genes by the Wald statistic, keyed by gene symbol.

    Parameters
    ----------
    results
        A DE table (columns ``gene_id``, ``gene_name``, ``stat``).

    Returns
    -------
    ranking : pandas.Series
        Statistic by gene symbol (gene id where the symbol is missing), largest first.
    notes : list of str
        How many genes had no statistic (not tested) and how many duplicated symbols were
        collapsed (the gene with the largest absolute statistic is kept).
    """
    notes: list[str] = []
    names = results["gene_name"].astype("string").fillna(results["gene_id"].astype(str))
    names = names.where(names.str.strip() != "", results["gene_id"].astype(str))
    stat = pd.Series(results["stat"].to_numpy(float), index=names.to_numpy(str))
    missing = int(stat.isna().sum())
    if missing:
        notes.append(f"{missing} gene(s) without a Wald statistic (not tested) are left out of the ranking")
    stat = stat.dropna()
    order = np.argsort(-stat.abs().to_numpy(), kind="mergesort")
    ranked = stat.iloc[order]
    dup = ranked.index.duplicated(keep="first")
    if dup.any():
        notes.append(f"{int(dup.sum())} row(s) with a duplicated gene symbol collapsed to the one with the "
                     "largest |stat|")
    ranked = ranked[~dup]
    return ranked.sort_values(ascending=False, kind="mergesort"), notes


def run_prerank(
    ranking: pd.Series,
    gene_sets: Mapping[str, GeneSet],
    *,
    contrast_id: str,
    permutations: int = 1000,
    seed: int = 20221110,
    min_size: int = 3,
    max_size: int = 1000,
    threads: int = 1,
) -> tuple[pd.DataFrame, Any, list[str]]:
    """Run gseapy prerank (gene-set permutations) and return the table in the project schema.

    Parameters
    ----------
    ranking
        Statistic by gene symbol (see :func:`ranking_from_results`).
    gene_sets
        Sets to test.
    contrast_id
        Written into the ``contrast`` column.
    permutations
        Number of permutations (p-value resolution is ``1/permutations``).
    seed
        Random seed of the permutations.
    min_size, max_size
        Sets with fewer or more ranked genes are not tested (the IFN sets have 3-6 genes, hence 3).
    threads
        gseapy threads.

    Returns
    -------
    table : pandas.DataFrame
        Columns :data:`GSEA_COLUMNS`, sorted by p-value then by |NES|.
    prerank : gseapy.gsea.Prerank or None
        The gseapy object (running sums for enrichment plots); None when no set was tested.
    notes : list of str
        Sets that were not tested and warnings.

    Raises
    ------
    InputError
        If the ranking is empty.
    """
    import gseapy

    if ranking.empty:
        raise InputError("no gene has a statistic to rank", file=f"contrast {contrast_id}",
                         expected="a DE result with tested genes", rule="gsea.empty")
    notes: list[str] = []
    present = set(ranking.index)
    testable = {}
    for name, gs in gene_sets.items():
        n = len(present.intersection(gs.genes))
        if min_size <= n <= max_size:
            testable[name] = list(gs.genes)
    skipped = len(gene_sets) - len(testable)
    if skipped:
        notes.append(f"{skipped} gene set(s) not tested: fewer than {min_size} or more than {max_size} of "
                     "their genes are in the ranking")
    if not testable:
        return pd.DataFrame(columns=list(GSEA_COLUMNS)), None, notes
    with captured_warnings(notes, where=f"gsea {contrast_id}"):
        pre = gseapy.prerank(
            rnk=ranking, gene_sets=testable, min_size=min_size, max_size=max_size,
            permutation_num=permutations, seed=seed, threads=threads, outdir=None, no_plot=True,
            verbose=False,
        )
    rows = []
    for term, r in pre.results.items():
        matched = [g for g in str(r.get("matched_genes", "")).split(";") if g]
        rows.append({
            "contrast": contrast_id,
            "gene_set": term,
            "source": Path(gene_sets[term].source).name,
            "es": float(r["es"]),
            "nes": float(r["nes"]),
            "p_value": float(r["pval"]),
            "fdr": float(r["fdr"]),
            "n_genes": len(matched),
            "leading_edge": str(r.get("lead_genes", "")),
        })
    table = pd.DataFrame(rows, columns=list(GSEA_COLUMNS))
    table = table.assign(_abs=table["nes"].abs()).sort_values(
        ["p_value", "_abs"], ascending=[True, False], kind="mergesort").drop(columns="_abs")
    return table.reset_index(drop=True), pre, notes


def enrichment_plot(prerank: Any, term: str, path: str | Path, *, title: str | None = None) -> Path:
    """Draw gseapy's enrichment plot (running sum, hits, ranked metric) of one set; save atomically.

    Parameters
    ----------
    prerank
        The object returned by :func:`run_prerank`.
    term
        A tested gene-set name.
    path
        Output image (``.png`` or ``.svg``).
    title
        Plot title (default: the set name).

    Returns
    -------
    Path
    """
    import gseapy

    r = prerank.results[term]
    notes: list[str] = []
    with captured_warnings(notes, where=f"enrichment plot {term}"):
        axes = gseapy.gseaplot(
            term=title or term, hits=r["hits"], nes=r["nes"], pval=r["pval"], fdr=r["fdr"],
            RES=r["RES"], rank_metric=prerank.ranking, pheno_pos="up in target", pheno_neg="down in target",
            ofname=None,
        )
        fig = axes[0].figure
        return save_figure(fig, path)


def ifn_terms(table: pd.DataFrame) -> list[str]:
    """Return the tested sets of a GSEA table that are the project's IFN sets (:data:`IFN_SETS`)."""
    return [t for t in table["gene_set"] if t in IFN_SETS]


def run_ora(
    results: pd.DataFrame,
    gene_sets: Mapping[str, GeneSet],
    *,
    contrast_id: str,
    padj_cutoff: float = 0.05,
    min_abs_lfc: float = 0.0,
) -> tuple[pd.DataFrame, list[str]]:
    """Over-representation analysis (hypergeometric, gseapy ``enrich``) of up- and down-regulated genes.

    Parameters
    ----------
    results
        A DE table.
    gene_sets
        Sets to test.
    contrast_id
        Written into the ``contrast`` column.
    padj_cutoff
        Genes with ``padj`` below this are significant.
    min_abs_lfc
        And with ``|log2_fc|`` at least this.

    Returns
    -------
    table : pandas.DataFrame
        Columns :data:`ORA_COLUMNS`, one row per direction and set with at least one overlapping gene;
        the background is every tested gene.
    notes : list of str
    """
    import gseapy

    notes: list[str] = []
    tested = results[results["padj"].notna()]
    names = tested["gene_name"].astype("string").fillna(tested["gene_id"].astype(str)).astype(str)
    background = sorted(set(names))
    library = {k: list(v.genes) for k, v in gene_sets.items()}
    frames = []
    for direction, sign in (("up", 1.0), ("down", -1.0)):
        hit = (tested["padj"] < padj_cutoff) & (np.sign(tested["log2_fc"]) == sign) & (
            tested["log2_fc"].abs() >= min_abs_lfc)
        genes = sorted(set(names[hit]))
        if not genes:
            notes.append(f"ORA {contrast_id} {direction}: no significant gene")
            continue
        with captured_warnings(notes, where=f"ora {contrast_id} {direction}"):
            enr = gseapy.enrich(gene_list=genes, gene_sets=library, background=background, outdir=None,
                                no_plot=True)
        res = enr.res2d
        if res is None or res.empty:
            continue
        overlap = res["Overlap"].astype(str).str.split("/", expand=True)
        frames.append(pd.DataFrame({
            "contrast": contrast_id,
            "direction": direction,
            "gene_set": res["Term"].astype(str),
            "source": [Path(gene_sets[t].source).name if t in gene_sets else "" for t in res["Term"]],
            "overlap": overlap[0].astype(int),
            "n_genes": overlap[1].astype(int),
            "p_value": res["P-value"].astype(float),
            "fdr": res["Adjusted P-value"].astype(float),
            "odds_ratio": res["Odds Ratio"].astype(float),
            "genes": res["Genes"].astype(str),
        }))
    if not frames:
        return pd.DataFrame(columns=list(ORA_COLUMNS)), notes
    table = pd.concat(frames, ignore_index=True).sort_values(["direction", "p_value"], kind="mergesort")
    return table[list(ORA_COLUMNS)].reset_index(drop=True), notes
