"""Gene-set enrichment of a DE result: preranked GSEA on the Wald statistic, and ORA as an option.

Genes are ranked by the Wald statistic (sign = direction, size = evidence), keyed by gene
symbol because the GMT files are in HGNC symbols. A negative NES means the set goes down
from reference to target (at W4 vs W0, the IFN sets under baricitinib).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.de.fit import captured_warnings
from myocit_omics.de.gsea_engine import EPS, MIN_EXCEED
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


#: GSEA engines of :func:`run_prerank`: the project's numpy engine (default) and gseapy's prerank.
ENGINES: tuple[str, ...] = ("myocit", "gseapy")


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
    engine: str = "myocit",
) -> tuple[pd.DataFrame, Any, list[str]]:
    """Preranked GSEA (gene-set permutations) in the project schema.

    Parameters
    ----------
    ranking
        Statistic by gene symbol, largest first (see :func:`ranking_from_results`).
    gene_sets
        Sets to test.
    contrast_id
        Written into the ``contrast`` column.
    permutations
        Number of permutations (resolution of the permutation p-value; below ``10 / permutations``
        the ``myocit`` engine estimates p by multilevel splitting).
    seed
        Random seed of the permutations.
    min_size, max_size
        Sets with fewer or more ranked genes are not tested (the IFN sets have 3-6 genes, hence 3).
    threads
        gseapy threads (``engine="gseapy"`` only).
    engine
        ``myocit`` (:mod:`myocit_omics.de.gsea_engine`: gseapy's ES, NES and FDR, permutation nulls
        shared by sets of one size, multilevel p-values) or ``gseapy`` (gseapy prerank, the
        cross-check).

    Returns
    -------
    table : pandas.DataFrame
        Columns :data:`GSEA_COLUMNS`, sorted by p-value then by |NES|.
    prerank : EnrichmentRuns or None
        Running sums for enrichment plots (:func:`enrichment_plot`); None when no set was tested.
    notes : list of str
        Sets that were not tested, how p-values were obtained, and warnings.

    Raises
    ------
    InputError
        If the ranking is empty or the engine unknown.
    """
    if engine not in ENGINES:
        raise InputError("unknown GSEA engine", file=f"contrast {contrast_id}", value=engine,
                         expected=f"one of {list(ENGINES)}", rule="gsea.engine")
    if ranking.empty:
        raise InputError("no gene has a statistic to rank", file=f"contrast {contrast_id}",
                         expected="a DE result with tested genes", rule="gsea.empty")
    notes: list[str] = []
    position = pd.Series(np.arange(ranking.size), index=ranking.index)
    position = position[~position.index.duplicated(keep="first")]
    testable: dict[str, np.ndarray] = {}
    rank_of = position.to_numpy(np.int64)
    for name, gs in gene_sets.items():
        idx = position.index.get_indexer(list(dict.fromkeys(gs.genes)))
        pos = rank_of[idx[idx >= 0]]  # what reindex + dropna gives, without 351 Series
        if min_size <= pos.size <= max_size:
            testable[name] = pos
    skipped = len(gene_sets) - len(testable)
    if skipped:
        notes.append(f"{skipped} gene set(s) not tested: fewer than {min_size} or more than {max_size} of "
                     "their genes are in the ranking")
    if not testable:
        return pd.DataFrame(columns=list(GSEA_COLUMNS)), None, notes
    if engine == "gseapy":
        runs = _run_gseapy(ranking, {k: list(gene_sets[k].genes) for k in testable}, notes=notes,
                           contrast_id=contrast_id, permutations=permutations, seed=seed,
                           min_size=min_size, max_size=max_size, threads=threads)
    else:
        from myocit_omics.de.gsea_engine import prerank

        res = prerank(ranking.to_numpy(float), list(testable.values()), names=list(testable),
                      permutations=permutations, seed=seed)
        genes = ranking.index.to_numpy(str)
        runs = EnrichmentRuns(ranking=ranking, terms={
            name: {"es": res.es[i], "nes": res.nes[i], "pval": res.pval[i], "fdr": res.fdr[i],
                   "hits": res.hits[i], "matched": list(genes[res.hits[i]]),
                   "lead": list(genes[res.lead[i]]), "method": res.pval_method[i]}
            for i, name in enumerate(res.names)}, engine=res)
        n_ml = res.pval_method.count("multilevel")
        if n_ml:
            at_eps = int(np.sum(res.pval <= EPS * (1 + 1e-9)))
            notes.append(f"gsea {contrast_id}: p-values of {n_ml} set(s) with fewer than {MIN_EXCEED} of "
                         f"{permutations} permutations as extreme estimated by multilevel splitting (fgsea's "
                         "method)" + (f"; {at_eps} of them are below {EPS:g} and reported as {EPS:g}"
                                      if at_eps else ""))
    rows = []
    for term, r in runs.terms.items():
        rows.append({
            "contrast": contrast_id,
            "gene_set": term,
            "source": Path(gene_sets[term].source).name,
            "es": float(r["es"]),
            "nes": float(r["nes"]),
            "p_value": float(r["pval"]),
            "fdr": float(r["fdr"]),
            "n_genes": len(r["matched"]),
            "leading_edge": ";".join(r["lead"]),
        })
    table = pd.DataFrame(rows, columns=list(GSEA_COLUMNS))
    table = table.assign(_abs=table["nes"].abs()).sort_values(
        ["p_value", "_abs"], ascending=[True, False], kind="mergesort").drop(columns="_abs")
    return table.reset_index(drop=True), runs, notes


@dataclass(frozen=True)
class PlotInfo:
    """The one fact about an engine's run an enrichment plot shows: its number of permutations."""

    permutations: int | None


class EnrichmentRuns:
    """What an enrichment plot needs, per tested set, whichever engine computed it.

    Attributes
    ----------
    ranking
        The ranking (statistic by gene, largest first).
    terms
        Set name -> ``es``, ``nes``, ``pval``, ``fdr``, ``hits`` (positions), ``matched`` and
        ``lead`` (gene lists), ``method`` (how p was obtained); gseapy's also ``RES``.
    engine
        The engine's own result object.
    """

    def __init__(self, *, ranking: pd.Series, terms: dict[str, dict[str, Any]], engine: Any) -> None:
        self.ranking = ranking
        self.terms = terms
        self.engine = engine

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        """The per-set records (gseapy's attribute name)."""
        return self.terms

    def for_plots(self, terms: Sequence[str]) -> EnrichmentRuns:
        """Return what the enrichment plots of ``terms`` need, and no more (it goes to the figure process)."""
        return EnrichmentRuns(ranking=self.ranking, terms={t: self.terms[t] for t in terms},
                              engine=PlotInfo(permutations=getattr(self.engine, "permutations", None)))

    def running_sum(self, term: str) -> np.ndarray:
        """Return the running enrichment score of a set over the whole ranking."""
        r = self.terms[term]
        if "RES" in r:
            return np.asarray(r["RES"], dtype=float)
        from myocit_omics.de.gsea_engine import running_sum

        return running_sum(np.abs(self.ranking.to_numpy(float)), np.asarray(r["hits"]))


def _run_gseapy(
    ranking: pd.Series, sets: dict[str, list[str]], *, notes: list[str], contrast_id: str, permutations: int,
    seed: int, min_size: int, max_size: int, threads: int,
) -> EnrichmentRuns:
    import gseapy

    with captured_warnings(notes, where=f"gsea {contrast_id}"):
        pre = gseapy.prerank(
            rnk=ranking, gene_sets=sets, min_size=min_size, max_size=max_size,
            permutation_num=permutations, seed=seed, threads=threads, outdir=None, no_plot=True,
            verbose=False,
        )
    terms = {}
    for term, r in pre.results.items():
        terms[term] = {"es": r["es"], "nes": r["nes"], "pval": r["pval"], "fdr": r["fdr"],
                       "hits": np.asarray(r["hits"], dtype=np.int64), "RES": r["RES"],
                       "matched": [g for g in str(r.get("matched_genes", "")).split(";") if g],
                       "lead": [g for g in str(r.get("lead_genes", "")).split(";") if g],
                       "method": "permutation"}
    return EnrichmentRuns(ranking=pre.ranking, terms=terms, engine=pre)


def format_p(p: float, permutations: int | None = None) -> str:
    """Format a p-value for a figure: ``p = 3.1e-05``, ``p = 0.012``; 0 becomes ``p < 1/permutations``."""
    if not np.isfinite(p):
        return "p = NA"
    if p <= 0:
        return f"p < {1 / permutations:.1g}" if permutations else "p < resolution"
    return f"p = {p:.2g}" if p >= 1e-3 else f"p = {p:.1e}"


def _running_sum_vertices(res: np.ndarray, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the corners of a running sum: it is linear between hits, so these points draw it exactly.

    The corners are the first and last rank, each hit and the rank just before it (2k + 2 points
    instead of N).
    """
    n = res.size
    x = np.unique(np.concatenate([[0, n - 1], hits, np.maximum(hits - 1, 0)]))
    return x, res[x]


def _envelope(y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Thin a sorted (monotone) statistic to about ``n_bins`` points, keeping both ends and zero crossings.

    A monotone curve drawn at a few hundred pixels wide looks the same from a few hundred points as
    from 18,000; the filled area is not drawn per gene.
    """
    n = y.size
    if n <= 2 * n_bins:
        return np.arange(n), y
    x = np.unique(np.concatenate([np.linspace(0, n - 1, n_bins).round().astype(np.int64),
                                  np.flatnonzero(np.diff(np.sign(y)) != 0), [n - 1]]))
    return x, y[x]


#: Size (inches) and resolution of an enrichment plot; the layout is fixed (no tight-bbox pass).
ENRICHMENT_FIGSIZE = (5.2, 3.4)
ENRICHMENT_DPI = 80


def enrichment_plot(prerank: Any, term: str, path: str | Path, *, title: str | None = None) -> Path:
    """Draw the enrichment plot of one set (running sum with the hits, ranked statistic); save atomically.

    Parameters
    ----------
    prerank
        The :class:`EnrichmentRuns` returned by :func:`run_prerank`.
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
    return enrichment_plots(prerank, [(term, path, title)])[0]


def enrichment_plots(prerank: Any, plots: Sequence[tuple[str, str | Path, str | None]]) -> list[Path]:
    """Draw the enrichment plots of several sets of one ranking, each saved atomically.

    Two axes: the running enrichment score with the set's genes as a rug along its bottom, and the
    ranked statistic. The plots of one ranking share one figure: its axes, ticks and statistic
    panel are built once and only the running sum, rug, limits and title change per set. The
    running sum is drawn from its corners (exact), the statistic from a few hundred points (it is
    sorted), and the layout is fixed, so each image is one draw.

    Parameters
    ----------
    prerank
        The :class:`EnrichmentRuns` returned by :func:`run_prerank`.
    plots
        ``(term, path, title)`` per image: a tested gene-set name, the output image (``.png`` or
        ``.svg``) and the plot title (None: the set name).

    Returns
    -------
    list of Path
        The written images, in the order of ``plots``.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not plots:
        return []
    metric = prerank.ranking.to_numpy(float)
    perms = getattr(prerank.engine, "permutations", None)
    fig = Figure(figsize=ENRICHMENT_FIGSIZE)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3], "hspace": 0.08})
    fig.subplots_adjust(left=0.14, right=0.97, top=0.86, bottom=0.13)
    line, = ax1.plot([], [], color="#2b8a3e", lw=1.2)
    ax1.axhline(0, color="black", lw=0.5)
    rug = ax1.vlines([], 0, 0.08, transform=ax1.get_xaxis_transform(), color="black", lw=0.6)
    ax1.set_ylabel("running ES", fontsize=8)
    head = ax1.set_title("", fontsize=8, y=1.0)  # a set position: no title-placement pass per draw
    ax2.fill_between(*_envelope(metric, 400), color="#868e96", lw=0)
    ax2.axhline(0, color="black", lw=0.5)
    ax2.set_xlim(-0.01 * metric.size, 1.01 * metric.size)
    ax2.set_ylabel("statistic", fontsize=8)
    ax2.set_xlabel("rank (up in target on the left, down on the right)", fontsize=8)
    ax2.xaxis.set_major_locator(MaxNLocator(5, integer=True))
    for ax in (ax1, ax2):
        ax.tick_params(labelsize=7)
    out = []
    for term, path, title in plots:
        r = prerank.terms[term]
        hits = np.asarray(r["hits"], dtype=np.int64)
        res = prerank.running_sum(term)
        line.set_data(*_running_sum_vertices(res, hits))
        rug.set_segments([[(h, 0.0), (h, 0.08)] for h in hits])
        lo, hi = min(float(res.min()), 0.0), max(float(res.max()), 0.0)
        pad = 0.05 * (hi - lo or 1.0)
        ax1.set_ylim(lo - pad - 0.12 * (hi - lo + 2 * pad), hi + pad)  # room for the rug below the curve
        head.set_text(f"{title or term}\nNES {float(r['nes']):.2f}, {format_p(float(r['pval']), perms)}, "
                      f"FDR {float(r['fdr']):.2g}")
        out.append(save_figure(fig, path, dpi=ENRICHMENT_DPI, close=False))
    return out


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
