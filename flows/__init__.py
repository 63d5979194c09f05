"""Prefect flows of myocit-omics: thin orchestration over the ``myocit_omics`` library.

Each task takes and returns paths or small values and calls one library function;
the computation lives in ``src/myocit_omics``.
"""
