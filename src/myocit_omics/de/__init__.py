"""Paired differential expression (pydeseq2) and gene-set enrichment (gseapy).

Modules: :mod:`~myocit_omics.de.contrasts` (contrasts as data),
:mod:`~myocit_omics.de.design` (design matrix, rank check, missing-visit rule),
:mod:`~myocit_omics.de.fit` (the pydeseq2 fit and the result schema),
:mod:`~myocit_omics.de.gsea` (preranked GSEA and ORA), :mod:`~myocit_omics.de.plots`
(volcano and MA plots) and :mod:`~myocit_omics.de.pipeline` (the analysis step ``run_de``).
"""
