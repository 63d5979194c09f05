"""myocit-omics: transcriptomics and cytokine workflow of the MYOCIT trial.

The library is pure: functions on DataFrames and AnnData objects, no Prefect imports.
Prefect flows live in the top-level ``flows/`` folder and call into this package.
"""

from myocit_omics.settings import apply_offline_defaults

__all__ = ["__version__"]
__version__ = "0.1.0"

apply_offline_defaults()
