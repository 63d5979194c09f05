"""Score gene sets by every method against a :class:`ScoreReference`; report gene coverage.

The one adapter between the array kernels (:mod:`.methods`) and tables: used by the public API
(:func:`myocit_omics.interferon.api.score_ifn`) and by the expression pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from myocit_omics.errors import InputError
from myocit_omics.genesets import GeneSet
from myocit_omics.interferon import methods as m
from myocit_omics.interferon.reference import ScoreReference, positive_threshold

#: Default smallest number of usable genes for a score (``interferon.min_genes``).
DEFAULT_MIN_GENES = 3

SCORE_COLUMNS = ["sample_id", "gene_set", "label", "method", "score", "n_genes", "reference", "positive"]
COVERAGE_COLUMNS = [
    "gene_set",
    "label",
    "source",
    "n_genes_set",
    "n_present",
    "n_used",
    "status",
    "missing_genes",
    "unexpressed_genes",
    "min_genes",
    "reference",
]


@dataclass
class IfnScores:
    """Scores in long form, the gene coverage of each set and the positive thresholds."""

    scores: pd.DataFrame
    coverage: pd.DataFrame
    thresholds: pd.DataFrame
    reference: ScoreReference

    @property
    def refused(self) -> list[str]:
        """Sets refused for too few usable genes."""
        return self.coverage.loc[self.coverage["status"] != "ok", "gene_set"].tolist()

    def wide(self) -> pd.DataFrame:
        """Return samples x ``ifn_<label>_<method>`` columns."""
        if self.scores.empty:
            return pd.DataFrame()
        cols = "ifn_" + self.scores["label"] + "_" + self.scores["method"]
        return self.scores.assign(column=cols).pivot(index="sample_id", columns="column", values="score")


def check_methods(methods: Iterable[str]) -> list[str]:
    """Return the methods as a list; refuse unknown names, listing the valid ones."""
    out = list(dict.fromkeys(methods))
    for name in out:
        if name not in m.METHODS:
            raise InputError(
                "unknown IFN scoring method",
                file="--method",
                value=name,
                expected=f"one of {', '.join(m.METHODS)}",
                rule="ifn.method",
            )
    if not out:
        raise InputError(
            "no scoring method chosen", file="--method", expected=f"any of {m.METHODS}", rule="ifn.method"
        )
    return out


def score_matrix(
    log: pd.DataFrame,
    *,
    reference: ScoreReference,
    gene_sets: Mapping[str, GeneSet],
    methods: Sequence[str] = m.METHODS,
    min_genes: int = DEFAULT_MIN_GENES,
    present_genes: Iterable[str] | None = None,
    ctrl_size: int = 50,
    n_bins: int = 25,
    random_state: int = 0,
) -> IfnScores:
    """Score every set by every method.

    Parameters
    ----------
    log
        Samples x genes, ``log2(normalised count + 1)``; its columns must be ``reference.genes``.
    reference
        The frozen reference (per-gene statistics, thresholds, ssGSEA span, control genes).
    gene_sets
        Set name -> :class:`GeneSet`.
    methods
        Any of :data:`myocit_omics.interferon.methods.METHODS`.
    min_genes
        A set with fewer usable genes is refused (reported in the coverage, not scored).
    present_genes
        Every gene symbol of the input matrix, before filtering (tells "missing" from
        "unexpressed"); defaults to the universe.
    ctrl_size, n_bins, random_state
        Of the scanpy ``score_genes`` control genes.

    Returns
    -------
    IfnScores
        Long scores (:data:`SCORE_COLUMNS`), coverage (:data:`COVERAGE_COLUMNS`), thresholds.
    """
    methods = check_methods(methods)
    if int(min_genes) < 1:
        raise InputError(
            "min_genes must be at least 1",
            file="interferon.min_genes",
            value=min_genes,
            expected="an integer >= 1",
            rule="ifn.min_genes",
        )
    if list(log.columns) != list(reference.genes):
        raise ValueError("the scored matrix's genes differ from the reference's universe")
    present = set(present_genes) if present_genes is not None else set(reference.genes)
    gidx = reference.gene_index
    usable = reference.usable
    cov_rows, ok_sets = [], []
    for name, gs in gene_sets.items():
        missing = [g for g in gs.genes if g not in present]
        used = [g for g in gs.genes if g in gidx and usable[gidx.get_loc(g)]]
        unexpressed = [g for g in gs.genes if g in present and g not in used]
        status = "ok" if len(used) >= min_genes else f"refused: {len(used)} usable genes < {min_genes}"
        cov_rows.append(
            [
                name,
                gs.label,
                gs.source,
                len(gs.genes),
                len(gs.genes) - len(missing),
                len(used),
                status,
                ",".join(missing),
                ",".join(unexpressed),
                int(min_genes),
                reference.label,
            ]
        )
        if status == "ok":
            ok_sets.append((name, gs.label, np.array([gidx.get_loc(g) for g in used])))
    coverage = pd.DataFrame(cov_rows, columns=COVERAGE_COLUMNS)

    x = log.to_numpy(dtype=float)
    ref = reference.log
    per_method: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # method -> (samples x sets, ref x sets)
    if ok_sets:

        def both(fun):  # type: ignore[no-untyped-def]
            return (
                np.column_stack([fun(x, c) for _, _, c in ok_sets]),
                np.column_stack([fun(ref, c) for _, _, c in ok_sets]),
            )

        if "median_fc" in methods:
            per_method["median_fc"] = both(
                lambda a, c: m.median_fc(np.exp2(a[:, c]), reference.median_linear[c])
            )
        if "mean_z" in methods:
            per_method["mean_z"] = both(
                lambda a, c: m.mean_z(a[:, c], reference.mean_log[c], reference.sd_log[c])
            )
        if "ssgsea" in methods:
            cols = [c for _, _, c in ok_sets]
            raw_x, raw_ref = m.ssgsea_raw(x, cols), m.ssgsea_raw(ref, cols)
            span = reference.ssgsea_span if reference.ssgsea_span else m.ssgsea_span(raw_ref)
            per_method["ssgsea"] = (raw_x / span, raw_ref / span)
        if "score_genes" in methods:

            def sg(a: np.ndarray, c: np.ndarray) -> np.ndarray:
                genes = [reference.genes[i] for i in c]
                ctrl = reference.controls(
                    genes, ctrl_size=ctrl_size, n_bins=n_bins, random_state=random_state
                )
                if not ctrl:
                    raise InputError(
                        "scanpy score_genes found no control genes",
                        file="gene set",
                        value=genes[:5],
                        expected="a larger universe of genes",
                        rule="ifn.score_genes",
                    )
                return m.score_genes(a, c, gidx.get_indexer(ctrl))

            per_method["score_genes"] = both(sg)

    frames, thr_rows = [], []
    samples = log.index.astype(str).to_numpy()
    for method in methods:
        if method not in per_method:
            continue
        vals, ref_vals = per_method[method]
        for j, (name, label, cols) in enumerate(ok_sets):
            thr = positive_threshold(ref_vals[:, j])
            thr_rows.append([name, label, method, thr, reference.label, len(reference.sample_ids)])
            frames.append(
                pd.DataFrame(
                    {
                        "sample_id": samples,
                        "gene_set": name,
                        "label": label,
                        "method": method,
                        "score": vals[:, j],
                        "n_genes": len(cols),
                        "reference": reference.label,
                        "positive": vals[:, j] > thr,
                    }
                )
            )
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCORE_COLUMNS)
    thresholds = pd.DataFrame(
        thr_rows, columns=["gene_set", "label", "method", "threshold", "reference", "n_reference"]
    )
    return IfnScores(scores=scores, coverage=coverage, thresholds=thresholds, reference=reference)
