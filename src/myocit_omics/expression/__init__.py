"""Expression QC, frozen normalisation and the expression step of the trial analysis."""
