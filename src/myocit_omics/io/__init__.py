"""Readers of hand-in files, one module per format.

``tables`` (any CSV/TSV/xlsx), ``counts`` (RNA-seq count matrices), ``sample_sheet``,
``clinical`` (patients and core set), ``pk``, ``archive`` (safe zip extraction), and the
``cytokine`` subpackage (one module per cytokine instrument export, a registry, the plate
map; ``cytokine_exports`` is an alias kept for older imports).
Readers return plain DataFrames (or a :class:`~myocit_omics.io.counts.CountMatrix`) and raise
:class:`~myocit_omics.errors.InputError` / :class:`~myocit_omics.errors.ValidationFailed`
naming the file, row, column and value of every problem.
"""
