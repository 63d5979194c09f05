"""The clinical step of the trial analysis: outcomes, W24 response, PK exposure, figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from myocit_omics import drawing
from myocit_omics.clinical.core_set import read_core_set, read_patients
from myocit_omics.clinical.outcomes import OutcomeParams, clinical_outcomes, response_at
from myocit_omics.clinical.pk import EXPOSURE_COLUMNS, PkParams, pk_exposure, read_pk
from myocit_omics.clinical.plots import tis_waterfall, trajectories
from myocit_omics.config import PROTOCOL_VISITS, StudyConfig
from myocit_omics.results import ResultsTree, write_json, write_tsv


def run_clinical(patients_path: str | Path | None, core_set_path: str | Path, pk_path: str | Path | None, *,
                 config: StudyConfig, tree: ResultsTree) -> dict[str, Any]:
    """Compute the clinical outcomes and PK exposure and write them into the results tree.

    Parameters
    ----------
    patients_path
        ``patients.csv`` (may be None: then only patients of the core set are known).
    core_set_path
        ``core_set.csv``.
    pk_path
        ``pk.csv``, or None when no PK batch was handed in (``pk_exposure.tsv`` is then not
        written and the summary says so).
    config
        Study configuration; parameters from its ``clinical`` section.
    tree
        Results tree to write into.

    Returns
    -------
    dict
        ``summary``, ``paths`` written, ``n_patients``, counts of responders, ``warnings``.
    """
    params = OutcomeParams.from_config(config.clinical)
    pk_params = PkParams.from_config(config.clinical)
    patients = read_patients(patients_path, config=config)
    core = read_core_set(core_set_path, config=config)
    expected_patients = list(patients["patient_id"]) or list(config.patients or [])
    visits = [v for v in config.visits if v in PROTOCOL_VISITS] or list(PROTOCOL_VISITS)
    outcomes = clinical_outcomes(core, params=params, patients=expected_patients, visits=visits,
                                 file=str(core_set_path))
    response = response_at(outcomes, visit=params.response_visit)
    paths: dict[str, str] = {}
    paths["clinical_outcomes"] = str(write_tsv(outcomes, tree.table("clinical_outcomes")))
    paths["response_w24"] = str(write_tsv(response, tree.table("response_w24")))
    warnings: list[str] = []
    n_missing_visits = int((outcomes["missing_measures"] == "visit not recorded").sum())
    if n_missing_visits:
        warnings.append(f"{n_missing_visits} expected patient visit(s) not recorded (rows marked, scores NA)")
    n_tis_na = int(response["tis_w24"].isna().sum())
    if n_tis_na:
        warnings.append(f"TIS at {params.response_visit} not computable for {n_tis_na} patient(s); "
                        "see tis_note in clinical_outcomes.tsv")
    pk_summary = "no PK batch: pk_exposure.tsv not written"
    if pk_path is not None:
        pk = read_pk(pk_path, config=config)
        exposure, pop = pk_exposure(pk, params=pk_params, patients=patients)
        paths["pk_exposure"] = str(write_tsv(exposure[EXPOSURE_COLUMNS], tree.table("pk_exposure")))
        paths["pk_population_fit"] = str(write_json(
            {**pop, "model": "one-compartment oral, steady state", "tau_h": pk_params.tau_h,
             "units": {"cl": "L/h (CL/F)", "v": "L (V/F)", "ka": "1/h"}},
            tree.root / "tables" / "pk_population_fit.json"))
        n_model = int(exposure["auc_model"].notna().sum())
        pk_summary = f"PK exposure for {len(exposure)} patient(s), model-based AUC for {n_model}"
        if not pop["ok"]:
            warnings.append(f"PK population fit not used: {pop.get('note', '')}")
    else:
        warnings.append(pk_summary)
    paths["tis_waterfall"] = str(drawing.figure(
        tree.plot("tis_waterfall"), tis_waterfall, response, thresholds=params.tis.thresholds,
        title=f"Total Improvement Score at {params.response_visit}"))
    paths["cmas_trajectories"] = str(drawing.figure(
        tree.plot("cmas_trajectories"), trajectories, outcomes, value="cmas", response=response,
        ylabel="CMAS (0-52)", title="CMAS by visit, coloured by W24 response"))
    counts = response["response_w24"].fillna("NA").value_counts().to_dict()
    n_major = int((response["major_response_w24"] == True).sum())  # noqa: E712 (object column)
    n_inactive = int((response["inactive_w24"] == True).sum())  # noqa: E712
    summary = (f"{len(response)} patients: {n_major} major response and {n_inactive} inactive disease at "
               f"{params.response_visit}; {pk_summary}")
    return {"summary": summary, "paths": paths, "n_patients": len(response), "response_counts": counts,
            "n_major_response": n_major, "n_inactive": n_inactive, "warnings": warnings}
