"""Plate QC per analyte: curve quality, standard recovery, bridge %CV, censored share, bead counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from myocit_omics.cytokines.bridging import bridge_cv
from myocit_omics.cytokines.censoring import CENSORED

#: Columns of ``tables/cytokine_qc.tsv`` (docs/contracts.md section 5).
QC_COLUMNS = (
    "plate_id",
    "analyte",
    "model",
    "r2",
    "lloq",
    "uloq",
    "n_standards_ok",
    "bridge_cv_pct",
    "censored_share",
    "flag",
)


def qc_table(
    qc_rows: list[dict[str, Any]], work: pd.DataFrame, adjustments: pd.DataFrame, params: Any
) -> pd.DataFrame:
    """Build ``tables/cytokine_qc.tsv``: one row per plate and analyte.

    ``flag`` is ``ok`` or ``;``-joined codes: ``fit_failed``, ``standards_invalid`` (the
    export's standard series cannot be reconstructed: several breaks, no constant ratio),
    ``standards_out_of_recovery(n)``, ``instrument_disagrees(k/n)`` (k of the n quantifiable
    wells differ from the instrument's own concentration by more than the tolerance, and too
    few agree; tables/cytokine_agreement.tsv gives the figures and the likely cause),
    ``standard_repaired(<standard>)`` / ``standard_excluded(<standard>)`` (the standard broke
    the dilution series: restored, or left out of the fit), ``no_standard_curve`` (no
    standard concentrations: values are MFI), ``censored_share_high``,
    ``low_bead_count(n)``, ``replicate_cv_high(n)``, ``not_bridged``, ``bridge_cv_high``,
    ``instrument_qc_warning(n)`` (Olink QC/assay warnings, xPONENT ``***`` results),
    ``control_out_of_recovery(n)`` (control wells back-calculated outside the recovery range of
    their expected concentration).
    """
    cv_after = bridge_cv(work)
    meas = work[work["role"].isin(["sample", "bridge"])]
    empty = work.iloc[0:0]
    keys = ["plate_id", "analyte"]
    meas_by = {k: meas.loc[idx] for k, idx in meas.groupby(keys, sort=False).groups.items()}
    all_by = {k: work.loc[idx] for k, idx in work.groupby(keys, sort=False).groups.items()}
    status = {
        (a, p): st for a, p, st in adjustments[["analyte", "plate_id", "status"]].itertuples(index=False)
    }
    rows = []
    for r in qc_rows:
        plate, analyte = r["plate_id"], r["analyte"]
        g = meas_by.get((plate, analyte), empty)
        share = float(g["flag"].isin(CENSORED).mean()) if len(g) else float("nan")
        flags = list(r["_flags"])
        if np.isfinite(share) and share > params.max_censored_share:
            flags.append("censored_share_high")
        all_wells = all_by.get((plate, analyte), empty)
        inst = int(all_wells["instrument_flag"].isin(["qc_warning", "instrument_error"]).sum())
        if inst:
            flags.append(f"instrument_qc_warning({inst})")
        low_beads = int((all_wells["bead_count"] < params.min_bead_count).sum())
        if low_beads:
            flags.append(f"low_bead_count({low_beads})")
        high_cv = int((g.drop_duplicates(["sample_id"])["cv_pct"] > params.max_cv_pct).sum())
        if high_cv:
            flags.append(f"replicate_cv_high({high_cv})")
        if status.get((analyte, plate), "bridged") != "bridged":
            flags.append("not_bridged")
        bcv = float(cv_after.get(analyte, np.nan))
        if np.isfinite(bcv) and bcv > params.max_cv_pct:
            flags.append("bridge_cv_high")
        r2 = r["r2"] if np.isfinite(r["r2"]) else r.get("_instrument_r2", float("nan"))
        rows.append(
            {
                "plate_id": plate,
                "analyte": analyte,
                "model": r["model"],
                "r2": r2,
                "lloq": r["lloq"],
                "uloq": r["uloq"],
                "n_standards_ok": r["n_standards_ok"],
                "bridge_cv_pct": bcv,
                "censored_share": share,
                "flag": ";".join(flags) if flags else "ok",
            }
        )
    return pd.DataFrame(rows, columns=list(QC_COLUMNS))
