"""A signature matrix the user brings, and non-negative least squares (NNLS) deconvolution.

Format (docs/composition.md): a tab-separated text file, one row per cell type and one
column per gene::

    cell_type   CD14    LYZ     FCGR3B  ...
    monocyte    812.4   2301.0  3.1     ...
    neutrophil  10.2    95.5    1650.3  ...

The first column holds the cell-type names (its header is free); the other headers are gene
symbols or gene ids, as the count matrix names its genes; values are non-negative expression
on a linear scale (TPM, CPM or mean normalised counts of sorted cells), never logged. Genes
are matched to the count matrix by symbol, else by id; genes of the signature absent from
the counts are reported with the coverage, like gene sets.

For each sample, the fractions solve ``min ||S f - m||`` subject to ``f >= 0`` over the
shared genes, where ``S`` is the signature (genes x cell types) and ``m`` the sample's counts
per million; ``f`` is then scaled to sum to 1 and the fit's relative residual
``||S f - m|| / ||m||`` is reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from myocit_omics.errors import InputError

NNLS_METHOD = "nnls"
#: Fewest shared genes for a fit (and never fewer than the number of cell types).
MIN_SHARED_GENES = 10


@dataclass(frozen=True)
class Signature:
    """A validated signature matrix: cell types x genes, linear scale."""

    matrix: pd.DataFrame
    source: str

    @property
    def cell_types(self) -> list[str]:
        """Cell types, in file order."""
        return [str(c) for c in self.matrix.index]


def read_signature(path: str | Path) -> Signature:
    """Read and check a signature matrix (format in the module docstring).

    Raises
    ------
    InputError
        Naming file, row, column, value and what was expected, for a missing file, a file
        with no gene column, a duplicated gene or cell type, a value that is not a number,
        or a negative or non-finite value.
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise InputError(
            "signature matrix not found",
            file=name,
            expected="a TSV file, cell types x genes",
            rule="signature.missing",
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            "not UTF-8 text", file=name, expected="a tab-separated text file", rule="signature.encoding"
        ) from None
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    rows = [(i + 1, ln.split("\t")) for i, ln in enumerate(lines) if ln.strip()]
    if len(rows) < 2 or len(rows[0][1]) < 2:
        raise InputError(
            "a signature matrix needs a header of genes and one row per cell type",
            file=name,
            row=1,
            value=(lines[0][:80] if lines else ""),
            expected="cell_type<TAB>gene1<TAB>gene2... then one row per cell type",
            rule="signature.shape",
        )
    header = [h.strip() for h in rows[0][1]]
    genes = header[1:]
    seen: dict[str, int] = {}
    for j, g in enumerate(genes, start=2):
        if not g:
            raise InputError(
                "empty gene name in the header",
                file=name,
                row=1,
                column=f"column {j}",
                value=g,
                expected="a gene symbol or id",
                rule="signature.gene",
            )
        if g in seen:
            raise InputError(
                "gene appears twice in the header",
                file=name,
                row=1,
                column=g,
                value=f"columns {seen[g]} and {j}",
                expected="one column per gene",
                rule="signature.duplicate_gene",
            )
        seen[g] = j
    cell_types: list[str] = []
    values = np.empty((len(rows) - 1, len(genes)))
    for k, (lineno, fields) in enumerate(rows[1:]):
        if len(fields) != len(header):
            raise InputError(
                "row has a different number of fields than the header",
                file=name,
                row=lineno,
                value=len(fields),
                expected=f"{len(header)} tab-separated fields",
                rule="signature.fields",
            )
        ct = fields[0].strip()
        if not ct or ct in cell_types:
            raise InputError(
                "cell type is empty or appears twice",
                file=name,
                row=lineno,
                column=header[0] or "column 1",
                value=ct,
                expected="one row per cell type",
                rule="signature.duplicate_cell_type",
            )
        cell_types.append(ct)
        for j, raw in enumerate(fields[1:]):
            try:
                v = float(raw)
            except ValueError:
                raise InputError(
                    "value is not a number",
                    file=name,
                    row=lineno,
                    column=genes[j],
                    value=raw,
                    expected="a non-negative number (linear scale)",
                    rule="signature.number",
                ) from None
            if not math.isfinite(v) or v < 0:
                raise InputError(
                    "value is negative or not finite",
                    file=name,
                    row=lineno,
                    column=genes[j],
                    value=raw,
                    expected="a non-negative number on a linear scale (not logged)",
                    rule="signature.negative",
                )
            values[k, j] = v
    return Signature(matrix=pd.DataFrame(values, index=cell_types, columns=genes), source=name)


def match_genes(
    signature: Signature, gene_ids: Sequence[str], symbols: Sequence[str]
) -> tuple[list[int], list[str], pd.DataFrame]:
    """Match the signature's genes to the count matrix's genes (by symbol, else by id).

    Returns
    -------
    positions : list of int
        Position in the count matrix of each matched signature gene.
    genes : list of str
        The matched signature genes, in the same order.
    coverage : pandas.DataFrame
        One row: n_genes_signature, n_matched, coverage, missing_genes (first 50).

    Raises
    ------
    InputError
        When fewer than :data:`MIN_SHARED_GENES` genes (or fewer than the cell types) are shared.
    """
    by_symbol: dict[str, int] = {}
    for i, s in enumerate(symbols):
        by_symbol.setdefault(str(s), i)
    by_id = {str(g): i for i, g in enumerate(gene_ids)}
    positions, matched, missing = [], [], []
    for g in signature.matrix.columns:
        pos = by_symbol.get(g, by_id.get(g))
        if pos is None:
            missing.append(g)
        else:
            positions.append(pos)
            matched.append(g)
    n_sig = signature.matrix.shape[1]
    needed = max(MIN_SHARED_GENES, len(signature.cell_types))
    if len(matched) < needed:
        raise InputError(
            "the signature matrix shares too few genes with the count matrix",
            file=signature.source,
            column="header",
            value=f"{len(matched)} of {n_sig} genes shared",
            expected=f">= {needed} genes named as in the counts (symbols or ids)",
            rule="signature.no_overlap",
            fix="name the signature's genes as the count matrix does (gene symbols or gene ids)",
        )
    coverage = pd.DataFrame(
        [
            {
                "signature": Path(signature.source).name,
                "n_genes_signature": n_sig,
                "n_matched": len(matched),
                "coverage": round(len(matched) / n_sig, 4),
                "missing_genes": ",".join(missing[:50]) + (",..." if len(missing) > 50 else ""),
            }
        ]
    )
    return positions, matched, coverage


def nnls_fractions(mixtures: np.ndarray, signature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NNLS fractions of each mixture.

    Parameters
    ----------
    mixtures
        Samples x genes, linear scale.
    signature
        Cell types x genes (same genes), linear scale.

    Returns
    -------
    fractions : numpy.ndarray
        Samples x cell types, each row summing to 1 (all-zero fits stay 0).
    residual : numpy.ndarray
        Relative residual ``||S f - m|| / ||m||`` per sample.
    """
    s = np.asarray(signature, dtype=float).T
    out = np.zeros((mixtures.shape[0], s.shape[1]))
    resid = np.zeros(mixtures.shape[0])
    for i, m in enumerate(np.asarray(mixtures, dtype=float)):
        f, r = nnls(s, m)
        norm = float(np.linalg.norm(m))
        resid[i] = r / norm if norm > 0 else math.nan
        total = f.sum()
        out[i] = f / total if total > 0 else f
    return out, resid


def cpm(counts: np.ndarray) -> np.ndarray:
    """Return the counts per million of each sample (samples x genes)."""
    lib = counts.sum(axis=1, keepdims=True)
    return counts / np.where(lib > 0, lib, 1.0) * 1e6
