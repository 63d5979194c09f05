"""Clinical outcomes of JDM: core set, response definitions, disease activity and PK exposure.

Modules
-------
core_set
    Reading and checking the per-visit core set; which measures are missing.
tis
    The 2016 ACR/EULAR Total Improvement Score (TIS) and minimal/moderate/major response.
printo
    PRINTO clinically inactive disease (3 of 4) and the PRINTO 2010 definition of improvement.
das
    Disease Activity Score: total with its skin and muscle parts.
outcomes
    Outcomes per patient and visit (``clinical_outcomes.tsv``) and at W24 (``response_w24.tsv``).
pk
    Baricitinib exposure: observed concentrations and a one-compartment oral model.
plots
    TIS waterfall and CMAS trajectories.
pipeline
    ``run_clinical``: the step of the trial-analysis flow.
"""
