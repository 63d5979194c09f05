"""Marker-gene lists of the main blood cell types and per-sample marker scores.

The lists are derived mechanically from the cell-type modules of the blood transcription
modules (BTM) of Li et al. 2014 (*Nat Immunol* 15:195-204), shipped in
``gene_sets/qusage_BTM_Li2014.gmt`` (Bioconductor qusage 2.32.0, ``BTM.geneSets``; provenance
in ``gene_sets/README.md``):

* each cell type takes the union of the modules named in :data:`CELLTYPE_MODULES`;
* a gene that falls in the modules of two cell types is dropped from both (a marker must
  point to one cell type);
* a gene of the project's IFN signatures is dropped (a marker score must not move with IFN).

The BTM modules do not separate classical from non-classical monocytes, CD4 from CD8 T cells,
or plasmacytoid DCs: those cell types have no list here (a user may add a GMT of their own).

A sample's marker score is the mean, over the list's genes expressed in the frozen reference,
of ``log2(normalised count + 1)`` minus the reference samples' mean of that gene: a log2 ratio
against the reference, computed for each sample alone (a new batch changes no earlier score).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

import numpy as np
import pandas as pd

from myocit_omics.genesets import GeneSet, ifn_genes, project_gene_sets

#: Cell type -> BTM modules (names as in ``qusage_BTM_Li2014.gmt``).
CELLTYPE_MODULES: dict[str, tuple[str, ...]] = {
    "neutrophil": ("enriched in neutrophils (I) (M37.1)",),
    "monocyte": (
        "enriched in monocytes (I) (M4.15)",
        "enriched in monocytes (II) (M11.0)",
        "enriched in monocytes (III) (M73)",
        "enriched in monocytes (IV) (M118.0)",
        "enriched in monocytes (surface) (M118.1)",
    ),
    "t_cell": ("enriched in T cells (I) (M7.0)", "enriched in T cells (II) (M223)"),
    "b_cell": (
        "enriched in B cells (I) (M47.0)",
        "enriched in B cells (II) (M47.1)",
        "enriched in B cells (III) (M47.2)",
        "enriched in B cells (IV) (M47.3)",
        "enriched in B cells (V) (M47.4)",
        "enriched in B cells (VI) (M69)",
        "enriched in naive and memory B cells (M83)",
    ),
    "nk_cell": (
        "enriched in NK cells (I) (M7.2)",
        "enriched in NK cells (II) (M61.0)",
        "enriched in NK cells (KIR cluster) (M61.1)",
        "enriched in NK cells (receptor activation) (M61.2)",
        "enriched in NK cells (III) (M157)",
    ),
    "plasma_cell": ("plasma cells, immunoglobulins (M156.1)",),
    "platelet": (
        "platelet activation - actin binding (M196)",
        "platelet activation & blood coagulation (M199)",
    ),
    "erythroid": (
        "heme biosynthesis (I) (M171)",
        "erythrocyte differentiation (M173)",
        "heme biosynthesis (II) (M222)",
    ),
}

#: Fewest genes of a list, expressed in the reference, for a score.
MIN_MARKER_GENES = 3
MARKER_METHOD = "marker_btm"


@cache
def marker_sets() -> dict[str, GeneSet]:
    """Return the marker lists (cell type -> :class:`GeneSet`), derived as the module docstring says."""
    shipped = project_gene_sets()
    raw: dict[str, set[str]] = {}
    source = sha = ""
    for cell_type, modules in CELLTYPE_MODULES.items():
        genes: set[str] = set()
        for m in modules:
            genes.update(shipped[m].genes)
            source, sha = shipped[m].source, shipped[m].sha256
        raw[cell_type] = genes
    counts: dict[str, int] = {}
    for genes in raw.values():
        for g in genes:
            counts[g] = counts.get(g, 0) + 1
    isg = set(ifn_genes())
    out = {}
    for cell_type, genes in raw.items():
        kept = tuple(sorted(g for g in genes if counts[g] == 1 and g not in isg and " " not in g))
        out[cell_type] = GeneSet(
            name=cell_type,
            genes=kept,
            description="BTM modules: " + "; ".join(CELLTYPE_MODULES[cell_type]),
            source=source,
            sha256=sha,
        )
    return out


def marker_coverage(
    sets: Mapping[str, GeneSet], universe: Sequence[str], present: Sequence[str]
) -> pd.DataFrame:
    """One row per cell type: list size, genes used, genes absent from the data, genes not expressed."""
    uni, pres = set(universe), set(present)
    rows = []
    for ct, gs in sets.items():
        used = [g for g in gs.genes if g in uni]
        missing = [g for g in gs.genes if g not in pres]
        unexpressed = [g for g in gs.genes if g in pres and g not in uni]
        rows.append(
            {
                "cell_type": ct,
                "n_genes_list": len(gs.genes),
                "n_used": len(used),
                "status": "ok"
                if len(used) >= MIN_MARKER_GENES
                else f"refused: {len(used)} usable genes, fewer than {MIN_MARKER_GENES}",
                "missing_genes": ",".join(missing),
                "unexpressed_genes": ",".join(unexpressed),
            }
        )
    return pd.DataFrame(rows)


def marker_scores(log: pd.DataFrame, reference_mean: pd.Series, sets: Mapping[str, GeneSet]) -> pd.DataFrame:
    """Marker score of every sample and cell type.

    Parameters
    ----------
    log
        Samples x genes (symbols), ``log2(normalised count + 1)`` on the reference's universe.
    reference_mean
        Mean of the reference samples' log expression, per gene (same columns).
    sets
        Cell type -> marker list.

    Returns
    -------
    pandas.DataFrame
        Samples x cell types (the types with at least :data:`MIN_MARKER_GENES` usable genes).
    """
    centred = log - reference_mean.reindex(log.columns).to_numpy()[None, :]
    cols = {}
    for ct, gs in sets.items():
        genes = [g for g in gs.genes if g in log.columns]
        if len(genes) >= MIN_MARKER_GENES:
            cols[ct] = centred[genes].to_numpy(dtype=float).mean(axis=1)
    return pd.DataFrame(cols, index=log.index)


def to_long(wide: pd.DataFrame, method: str) -> pd.DataFrame:
    """Turn samples x cell types into the long table sample_id, cell_type, method, estimate."""
    long = wide.rename_axis(index="sample_id", columns="cell_type").stack().rename("estimate").reset_index()
    long.insert(2, "method", method)
    return long.astype({"estimate": float}).assign(estimate=lambda d: np.round(d["estimate"], 6))
