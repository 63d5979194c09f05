"""Linking the omics to the clinic: IFN scores and cytokines against clinical change and response.

Modules
-------
stats
    Paired Wilcoxon with median/IQR, Spearman with bootstrap CI, ROC AUC with CI and Youden, BH q.
mixed
    Mixed model of an IFN score over visits with corticosteroid dose.
pkpd
    Exposure against the fall of the IFN score.
plots
    Trajectories, change-vs-change scatter, ROC curves.
pipeline
    ``run_linking``: the step of the trial-analysis flow.
"""
