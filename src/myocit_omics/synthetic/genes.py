"""The synthetic gene catalogue: real HGNC symbols where the project needs them, synthetic names elsewhere.

Gene ids are Ensembl-STYLE (``ENSG`` + 11 digits) but deliberately outside the range
Ensembl uses: they all start with ``ENSG9``. No offline Ensembl mapping is available, so
the ids are made up and must never be taken for real ones. Chromosomes and coordinates are
synthetic too, except that XIST is placed on X and the chrY genes on Y.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from myocit_omics.genesets import IFN_SETS, ifn_genes, project_gene_sets
from myocit_omics.synthetic.params import RnaseqParameters

SEX_GENES_Y: tuple[str, ...] = ("RPS4Y1", "DDX3Y", "UTY", "KDM5D", "EIF1AY", "ZFY", "USP9Y")
SEX_GENE_X: str = "XIST"

#: Blood cell-type markers (HGNC symbols), by cell type.
CELLTYPE_MARKERS: dict[str, tuple[str, ...]] = {
    "neutrophil": (
        "FCGR3B",
        "CXCR2",
        "CSF3R",
        "CEACAM8",
        "MMP8",
        "MMP9",
        "S100A12",
        "S100A8",
        "S100A9",
        "ARG1",
        "FPR1",
        "MME",
        "CXCR1",
        "LTF",
        "CAMP",
        "ELANE",
        "MPO",
        "DEFA4",
        "LCN2",
        "OLFM4",
    ),
    "monocyte": ("CD14", "LYZ", "CSF1R", "FCN1", "VCAN", "CD68", "ITGAM", "CD33"),
    "t_cell": ("CD3E", "CD3D", "CD3G", "CD2", "CD4", "CD8A", "CD8B", "IL7R", "CCR7", "LCK", "TRAC"),
    "b_cell": ("CD19", "MS4A1", "CD79A", "CD79B", "PAX5", "CD22"),
    "nk_cell": ("NCAM1", "KLRD1", "NKG7", "GNLY", "PRF1", "GZMB", "KLRF1"),
    "platelet": ("PPBP", "PF4", "ITGA2B", "GP9", "TUBB1", "GP1BA"),
    "erythroid": ("HBB", "HBA1", "HBA2", "HBD", "ALAS2", "CA1", "SLC4A1", "GYPA"),
}
#: Genes induced directly by glucocorticoids in blood.
STEROID_GENES: tuple[str, ...] = ("FKBP5", "TSC22D3", "DDIT4", "ZBTB16", "PER1", "KLF9", "CD163", "IL1R2")
HOUSEKEEPING: tuple[str, ...] = (
    "ACTB",
    "GAPDH",
    "B2M",
    "HPRT1",
    "TBP",
    "PPIA",
    "RPLP0",
    "GUSB",
    "PGK1",
    "YWHAZ",
    "UBC",
)
#: Mean count at 20 M reads of abundant named genes (whole blood, partial globin depletion).
ABUNDANT: dict[str, float] = {
    "HBB": 4.0e5,
    "HBA2": 2.0e5,
    "HBA1": 1.5e5,
    "HBD": 4000,
    "ALAS2": 8000,
    "CA1": 3000,
    "SLC4A1": 2500,
    "GYPA": 800,
    "ACTB": 60000,
    "GAPDH": 15000,
    "B2M": 50000,
    "S100A8": 40000,
    "S100A9": 50000,
    "S100A12": 15000,
    "FCGR3B": 20000,
    "CXCR2": 8000,
    "CSF3R": 9000,
    "LYZ": 20000,
    "PPBP": 6000,
    "PF4": 3000,
    "HPRT1": 600,
    "TBP": 400,
    "PPIA": 8000,
    "RPLP0": 12000,
    "GUSB": 900,
    "PGK1": 3000,
    "YWHAZ": 7000,
    "UBC": 9000,
    "FKBP5": 1500,
    "TSC22D3": 6000,
    "DDIT4": 1200,
    "ZBTB16": 150,
}


def core_isgs() -> list[str]:
    """Return the genes of the four published small IFN signatures (Rice, Feng, Bilgic, JDM 5)."""
    sets = project_gene_sets()
    names = [n for n, (f, _) in IFN_SETS.items() if f == "ifn_signatures_published.gmt"]
    return sorted({g for n in names for g in sets[n].genes})


def gene_catalogue(params: RnaseqParameters, rng: np.random.Generator) -> pd.DataFrame:
    """Build the gene catalogue.

    Parameters
    ----------
    params
        RNA-seq parameters (number of genes, id prefix).
    rng
        Random generator (coordinates, exon structure).

    Returns
    -------
    pandas.DataFrame
        One row per gene, sorted by gene_id: gene_id, gene_name, kind (``ifn``, ``sex_x``,
        ``sex_y``, ``marker_<celltype>``, ``steroid``, ``housekeeping``, ``geneset``,
        ``synthetic``), chrom, exon_starts, exon_ends (lists), strand, length.
    """
    kind: dict[str, str] = {}
    for g in sorted({g for gs in project_gene_sets().values() for g in gs.genes}):
        kind[g] = "geneset"
    for g in HOUSEKEEPING:
        kind[g] = "housekeeping"
    for ct, genes in CELLTYPE_MARKERS.items():
        for g in genes:
            kind[g] = f"marker_{ct}"
    for g in STEROID_GENES:
        kind[g] = "steroid"
    for g in ifn_genes():
        kind[g] = "ifn"
    kind[SEX_GENE_X] = "sex_x"
    for g in SEX_GENES_Y:
        kind[g] = "sex_y"
    named = sorted(kind)
    n_synth = params.n_genes - len(named)
    if n_synth < 0:
        msg = f"n_genes={params.n_genes} is smaller than the {len(named)} named genes"
        raise ValueError(msg)
    names = named + [f"SYNTH{i:05d}" for i in range(1, n_synth + 1)]
    ids = [f"{params.id_prefix}{i:010d}" for i in range(1, len(named) + 1)]
    ids += [f"{params.id_prefix}{100000 + i:010d}" for i in range(1, n_synth + 1)]
    kinds = [kind[g] for g in named] + ["synthetic"] * n_synth

    chroms = [str(c) for c in range(1, 23)] + ["X"]
    chrom = rng.choice(chroms, size=len(names))
    chrom = np.where(np.array(kinds) == "sex_x", "X", chrom)
    chrom = np.where(np.array(kinds) == "sex_y", "Y", chrom)
    n_exons = rng.integers(1, 5, size=len(names))
    exon_len = np.maximum(80, rng.lognormal(np.log(600), 0.6, size=(len(names), 4))).astype(int)
    intron_len = rng.lognormal(np.log(3000), 1.0, size=(len(names), 4)).astype(int) + 100
    start0 = rng.integers(1_000_000, 150_000_000, size=len(names))
    strand = rng.choice(["+", "-"], size=len(names))
    starts, ends, lengths = [], [], []
    for i in range(len(names)):
        s, e = [], []
        pos = int(start0[i])
        for k in range(int(n_exons[i])):
            s.append(pos)
            e.append(pos + int(exon_len[i, k]) - 1)
            pos = e[-1] + 1 + int(intron_len[i, k])
        starts.append(s)
        ends.append(e)
        lengths.append(int(sum(b - a + 1 for a, b in zip(s, e, strict=True))))
    return pd.DataFrame(
        {
            "gene_id": ids,
            "gene_name": names,
            "kind": kinds,
            "chrom": chrom,
            "exon_starts": starts,
            "exon_ends": ends,
            "strand": strand,
            "length": lengths,
        }
    ).sort_values("gene_id", ignore_index=True)
