"""Cytokine panels: standard curves, censoring, plate bridging, QC, and the analysis step.

Modules: :mod:`.curves` (weighted 4PL/5PL, back-calculation, LLOQ/ULOQ), :mod:`.censoring`
(flags and substitution rules), :mod:`.bridging` (plate bridging on log2), :mod:`.qc`
(per plate and analyte), :mod:`.plots`, :mod:`.pipeline` (``run_cytokines``, the entry point of
the trial-analysis flow, and ``process_exports``, shared with ``myocit cytokines``).
"""
