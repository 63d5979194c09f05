"""The pydeseq2 fit (once per design and sample set) and the DE result schema.

The inference engine is chosen in one place, :func:`make_inference`: the project's fast
engine (``myocit_omics.deseq.make_inference``) when it is installed, else pydeseq2's
``DefaultInference``. This module never re-implements DESeq2.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.de.contrasts import ContrastSpec
from myocit_omics.de.design import Design
from myocit_omics.errors import InputError

log = logging.getLogger(__name__)

#: Columns of ``tables/de/<contrast>.tsv`` (docs/contracts.md section 5), in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "gene_id", "gene_name", "base_mean", "log2_fc", "lfc_se", "stat", "p_value", "padj",
    "log2_fc_shrunk", "contrast",
)


#: Whose rules the DESeq2 fit follows where R DESeq2 and pydeseq2 differ (docs/deseq_agreement.md).
DESEQ_BEHAVIOUR = "R"


def make_inference(*, n_cpus: int = 1, behaviour: str = DESEQ_BEHAVIOUR) -> tuple[Any, str]:
    """Return the pydeseq2 inference engine to use and its name.

    Parameters
    ----------
    n_cpus
        Worker processes for pydeseq2's default engine.
    behaviour
        ``"R"`` (default) or ``"pydeseq2"``: whose rules the fast engine follows where they differ.

    Returns
    -------
    inference : pydeseq2.inference.Inference
        ``myocit_omics.deseq.make_inference(fast=True)`` when that module exists, else
        ``pydeseq2.default_inference.DefaultInference(n_cpus=n_cpus)``.
    name : str
        Which engine it is, for the manifest.
    """
    try:
        from myocit_omics.deseq import make_inference as fast_inference  # type: ignore[attr-defined]
    except ImportError:
        fast_inference = None
    if fast_inference is not None:
        from myocit_omics.dask_kernels import inference_on_dask_worker  # issue 16: Dask task runner

        engine = "myocit_omics.deseq FastInference"
        if behaviour != "R":
            engine += f" ({behaviour} rules)"
        if (on_dask := inference_on_dask_worker(n_cpus=n_cpus, behaviour=behaviour)) is not None:
            return on_dask, engine.replace("FastInference", "FastInference (gene blocks as Dask tasks)", 1)
        return fast_inference(fast=True, n_cpus=n_cpus, behaviour=behaviour), engine
    from pydeseq2.default_inference import DefaultInference

    return DefaultInference(n_cpus=n_cpus), f"pydeseq2 DefaultInference(n_cpus={n_cpus})"


@contextlib.contextmanager
def captured_warnings(notes: list[str], *, where: str) -> Iterator[None]:
    """Record the warnings raised inside the block into ``notes`` (and the log) instead of raising them.

    pydeseq2 and numpy warn about single genes (non-convergence, overflow in the line search);
    those are facts about the data, so they are kept as notes of the run, not turned into errors.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: set[str] = set()
    for w in caught:
        text = f"{where}: {w.category.__name__}: {str(w.message).strip()}"
        if text not in seen:
            seen.add(text)
            notes.append(text)
            log.info(text)


@dataclass
class FittedModel:
    """A fitted pydeseq2 model and what it was fitted on.

    Attributes
    ----------
    dds
        The fitted ``pydeseq2.dds.DeseqDataSet``.
    design
        The design.
    samples
        Sample ids fitted.
    engine
        Inference engine name.
    notes
        Warnings recorded during the fit.
    """

    dds: Any
    design: Design
    samples: tuple[str, ...]
    engine: str
    notes: list[str] = field(default_factory=list)


def check_counts(counts: pd.DataFrame, *, source: str) -> None:
    """Check that a samples x genes count table holds non-negative integers without gaps.

    Raises
    ------
    InputError
        Naming the first offending sample, gene and value.
    """
    values = counts.to_numpy()
    if not np.issubdtype(values.dtype, np.number):
        raise InputError("counts are not numeric", file=source, value=str(values.dtype),
                         expected="integer read counts", rule="counts.type")
    bad = ~np.isfinite(values.astype(float)) | (values < 0) | (values != np.round(values))
    if bad.any():
        i, j = (int(a[0]) for a in np.nonzero(bad))
        raise InputError("a count is missing, negative or not a whole number", file=source,
                         row=None, column=str(counts.columns[j]), value=values[i, j],
                         expected=f"a non-negative integer (sample {counts.index[i]!r})", rule="counts.value")


def fit_model(
    counts: pd.DataFrame,
    design: Design,
    *,
    n_cpus: int = 1,
    refit_cooks: bool = True,
    behaviour: str = DESEQ_BEHAVIOUR,
) -> FittedModel:
    """Fit DESeq2 (size factors, dispersions, LFCs, Cook's outliers) once for a design.

    Parameters
    ----------
    counts
        Samples x genes raw counts; rows in the order of ``design.matrix``.
    design
        The checked design (see :func:`myocit_omics.de.design.check_full_rank`).
    n_cpus
        Worker processes (default engine only).
    refit_cooks
        Replace Cook's outliers and refit, as DESeq2 does (only where a cell has >= 7 samples).
    behaviour
        ``"R"`` (default): R DESeq2's dispersion rules and Wald weights where pydeseq2 departs
        from them; ``"pydeseq2"``: pydeseq2's own (see ``docs/deseq_agreement.md``).

    Returns
    -------
    FittedModel
    """
    if list(counts.index) != list(design.matrix.index):
        raise InputError("count rows and design rows are not the same samples in the same order",
                         file="counts", expected="one count row per design row", rule="de.align")
    inference, engine = make_inference(n_cpus=n_cpus, behaviour=behaviour)
    try:
        from myocit_omics.deseq import FastDeseqDataSet
    except ImportError:  # pragma: no cover - the fast engine ships with the package
        from pydeseq2.dds import DeseqDataSet

        options: dict[str, Any] = {}
    else:
        DeseqDataSet = FastDeseqDataSet
        options = {"behaviour": behaviour}
    notes: list[str] = []
    obs = pd.DataFrame(index=design.matrix.index.astype(str))  # the design matrix carries the model
    with captured_warnings(notes, where=f"fit {design.formula}"):
        dds = DeseqDataSet(
            counts=counts.astype(np.int64),
            metadata=obs,
            design=design.matrix,
            refit_cooks=refit_cooks,
            inference=inference,
            quiet=True,
            **options,
        )
        dds.deseq2()
    return FittedModel(dds=dds, design=design, samples=tuple(counts.index), engine=engine, notes=notes)


def contrast_results(
    model: FittedModel,
    contrast: ContrastSpec,
    *,
    gene_names: pd.Series | None = None,
    alpha: float = 0.05,
    shrink: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """Wald test of one contrast on a fitted model, in the project's result schema.

    Parameters
    ----------
    model
        The fitted model.
    contrast
        The contrast.
    gene_names
        Gene symbol by gene id (``var["gene_name"]``); gene ids are used where missing.
    alpha
        FDR level for the independent filtering of adjusted p-values (DESeq2's ``alpha``).
    shrink
        Add apeGLM-shrunken log2 fold changes (``log2_fc_shrunk``); possible when the contrast is one
        coefficient of the design (target level against the base level), else ``NA`` with a note.

    Returns
    -------
    results : pandas.DataFrame
        Columns :data:`RESULT_COLUMNS`, one row per gene, in the count table's gene order.
    notes : list of str
        Warnings and remarks (e.g. why no shrinkage).
    """
    from pydeseq2.ds import DeseqStats

    inference = model.dds.inference  # the fit's engine and rules
    vector, coefficient = model.design.contrast_vector(contrast)
    notes: list[str] = []
    with captured_warnings(notes, where=f"contrast {contrast.id}"):
        stats = DeseqStats(model.dds, contrast=vector, alpha=alpha, inference=inference, quiet=True)
        stats.summary()
        res = stats.results_df.copy()
        shrunk = pd.Series(np.nan, index=res.index)
        if shrink and coefficient is not None:
            stats.lfc_shrink(coeff=coefficient)
            shrunk = stats.LFC[coefficient] / np.log(2)
        elif shrink:
            notes.append(f"contrast {contrast.id}: no shrunken log2 fold change, because the contrast is not "
                         "a single coefficient of the design (its reference is not the base level)")
    genes = pd.Index(res.index.astype(str))
    names = pd.Series(genes, index=genes)
    if gene_names is not None:
        mapped = gene_names.reindex(genes)
        names = mapped.where(mapped.notna() & (mapped.astype(str) != ""), names)
    out = pd.DataFrame({
        "gene_id": genes,
        "gene_name": names.to_numpy(),
        "base_mean": res["baseMean"].to_numpy(float),
        "log2_fc": res["log2FoldChange"].to_numpy(float),
        "lfc_se": res["lfcSE"].to_numpy(float),
        "stat": res["stat"].to_numpy(float),
        "p_value": res["pvalue"].to_numpy(float),
        "padj": res["padj"].to_numpy(float),
        "log2_fc_shrunk": shrunk.reindex(res.index).to_numpy(float),
        "contrast": contrast.id,
    })
    return out[list(RESULT_COLUMNS)], notes
