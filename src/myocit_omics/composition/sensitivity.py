"""DE sensitivity model: the paired design of the DE step plus the composition estimates as covariates.

The design, contrasts and sample selection are those of the DE step (``de`` section of
study.yaml); the marker scores of the chosen cell types (centred) are appended as numeric
covariates and DESeq2 is fitted again on the genes expressed in the frozen reference. For
each contrast, an IFN-gene call is a gene of the shipped IFN sets with padj < 0.05 in
``tables/de/<contrast>.tsv``; it survives when it also has padj < 0.05 with the same sign in
the sensitivity model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from myocit_omics.config import StudyConfig
from myocit_omics.manifest import wait_for_step
from myocit_omics.results import ResultsTree, write_tsv

ALPHA = 0.05
SENSITIVITY_COLUMNS = [
    "contrast",
    "design",
    "n_ifn_genes_tested",
    "n_ifn_calls",
    "n_surviving",
    "share_surviving",
    "n_ifn_calls_sensitivity",
    "covariates",
    "note",
]


def de_sensitivity(
    adata: ad.AnnData, scores: pd.DataFrame, cell_types: list[str], *, config: StudyConfig, tree: ResultsTree
) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Fit the sensitivity model and count the IFN-gene calls that survive it.

    Returns
    -------
    table : pandas.DataFrame
        One row per contrast (:data:`SENSITIVITY_COLUMNS`).
    paths : dict
        Tables written.
    notes : list of str
    """
    from myocit_omics.de.contrasts import contrasts_from_config
    from myocit_omics.de.fit import contrast_results, fit_model
    from myocit_omics.de.pipeline import DEParams, plan_fits, select_analysed_samples
    from myocit_omics.genesets import ifn_genes

    notes: list[str] = []
    params = DEParams.from_config(config.de)
    contrasts = [c for c in contrasts_from_config(config) if not getattr(c, "interaction", None)]
    obs = adata.obs.copy()
    obs.index = obs.index.astype(str)
    obs, _ = select_analysed_samples(
        obs, contrasts, source="expression.h5ad", extra_levels={"visit": list(config.omics_visits)}
    )
    plans = plan_fits(
        obs, contrasts, formula=params.formula, rule=params.missing_visit_rule, source="expression.h5ad"
    )
    expressed = (
        adata.var["expressed"].to_numpy(dtype=bool)
        if "expressed" in adata.var
        else np.ones(adata.n_vars, bool)
    )
    counts = adata.layers["counts"]
    counts = np.asarray(counts.toarray() if hasattr(counts, "toarray") else counts)
    frame = pd.DataFrame(
        np.rint(counts[:, expressed]).astype(np.int64),
        index=adata.obs_names.astype(str),
        columns=adata.var_names[expressed].astype(str),
    )
    names = adata.var["gene_name"].astype(str) if "gene_name" in adata.var else None
    if names is not None:
        names.index = adata.var_names.astype(str)
    isg = set(ifn_genes())
    rows, paths = [], {}
    for plan in plans:
        samples = list(plan.samples)
        cov = scores.loc[samples, cell_types]
        cov = cov - cov.mean(axis=0)
        matrix = plan.design.matrix.copy()
        columns = dict(plan.design.columns)
        for ct in cell_types:
            name = f"composition_{ct}"
            matrix[name] = cov[ct].to_numpy(dtype=float)
            columns[name] = ((name, None),)
        formula = plan.formula + "".join(f" + composition_{ct}" for ct in cell_types)
        design = replace(plan.design, matrix=matrix, columns=columns, formula=formula)
        if np.linalg.matrix_rank(matrix.to_numpy(dtype=float)) < matrix.shape[1]:
            notes.append(f"sensitivity design {formula} is not of full rank: not fitted")
            continue
        model = fit_model(frame.loc[samples], design, n_cpus=params.threads)
        for c in plan.contrasts:
            table, cnotes = contrast_results(model, c, gene_names=names, alpha=params.alpha)
            notes.extend(cnotes)
            paths[f"composition_de_{c.id}"] = str(write_tsv(table, tree.table(f"composition_de/{c.id}")))
            rows.append(_survival(c.id, formula, table, tree, isg, cell_types))
    return (
        pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS),
        {
            **paths,
            "composition_de_sensitivity": str(
                write_tsv(
                    pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS), tree.table("composition_de_sensitivity")
                )
            ),
        },
        notes,
    )


def _survival(
    contrast: str, formula: str, sens: pd.DataFrame, tree: ResultsTree, isg: set[str], cell_types: list[str]
) -> dict[str, Any]:
    s = sens[sens["gene_name"].isin(isg)].set_index("gene_id")
    sens_calls = s[(s["padj"] < ALPHA)]
    row: dict[str, Any] = {
        "contrast": contrast,
        "design": formula,
        "n_ifn_genes_tested": len(s),
        "n_ifn_calls_sensitivity": len(sens_calls),
        "covariates": ", ".join(cell_types),
    }
    wait_for_step(tree.root, "de")  # started beside the DE step (flows/trial_analysis.py): its calls first
    path = tree.table(f"de/{contrast}")
    if not path.is_file():
        row.update(
            n_ifn_calls=None,
            n_surviving=None,
            share_surviving=None,
            note=f"tables/de/{contrast}.tsv absent (DE step not run): no comparison",
        )
        return row
    main = pd.read_csv(path, sep="\t", na_values=["NA"], keep_default_na=False)
    main = main[main["gene_name"].astype(str).isin(isg)].set_index("gene_id")
    calls = main[main["padj"] < ALPHA]
    joined = calls.join(s[["padj", "log2_fc"]], rsuffix="_sens", how="left")
    survive = (joined["padj_sens"] < ALPHA) & (np.sign(joined["log2_fc_sens"]) == np.sign(joined["log2_fc"]))
    n = len(calls)
    row.update(
        n_ifn_calls=n,
        n_surviving=int(survive.sum()),
        share_surviving=round(float(survive.mean()), 4) if n else None,
        note="",
    )
    return row
