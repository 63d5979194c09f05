"""The linking step: IFN scores and cytokines against clinical change, response and PK exposure.

Reads from the results tree (docs/contracts.md section 5): ``ifn_scores.tsv``,
``cytokines_by_visit.tsv``, ``clinical_outcomes.tsv``, ``response_w24.tsv``,
``pk_exposure.tsv``. Any of them may be absent: the analyses needing it are skipped and the
returned dict says which and why. Writes ``tables/linking_<analysis>.tsv`` (one schema for all,
:data:`LINK_COLUMNS`) and figures under ``plots/linking_*``.

Parameters (``linking`` section of study.yaml, all optional):

``primary_method``
    IFN scoring method used per gene set: a method name, or a mapping set -> method.
    Default: ``mean_z`` where scored, else ``median_fc``, else the first method found.
``baseline_visit`` / ``change_visits``
    Default ``W0`` and the other omics visits (``W4``, ``W24``).
``clinical_measures``
    Clinical changes correlated with biomarker changes (default cmas, mmt8, physician_global,
    das_total; the TIS at the same visit is always added when present).
``pkpd_visit``
    Visit of the IFN fall compared with exposure (default ``W4``).
``figure_set``
    IFN gene set drawn in the trajectory and scatter figures (default RICE_2013_6_ISG when
    scored, else the first set).
``n_boot``, ``n_perm``, ``roc_ci``
    2000 bootstrap resamples, 9999 permutations, ``bootstrap`` (or ``delong``).
``composition_covariates`` / ``composition_method``
    Cell types whose change (``tables/composition.tsv``, default ``monocyte`` by ``marker_btm``)
    join the change in prednisone dose as covariates of the partial Spearman of IFN change
    against clinical change (``tables/linking_partial.tsv``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics import drawing
from myocit_omics.config import StudyConfig
from myocit_omics.errors import InputError
from myocit_omics.linking.mixed import ifn_mixed_model
from myocit_omics.linking.pkpd import exposure_vs_fall
from myocit_omics.linking.plots import change_scatter, roc_curves, trajectory_panels
from myocit_omics.linking.stats import bh_qvalues, paired_change, partial_spearman, roc_auc, spearman
from myocit_omics.results import ResultsTree, write_tsv

#: Columns of every ``tables/linking_*.tsv`` (contract columns first, then the extras).
LINK_COLUMNS = ["analysis", "biomarker", "comparison", "n", "estimate", "ci_low", "ci_high", "p_value",
                "q_value", "method", "iqr_low", "iqr_high", "cutoff", "direction", "sensitivity",
                "specificity", "note"]

METHOD_PREFERENCE = ("mean_z", "median_fc")
REQUIRED = {
    "ifn_scores": ["patient_id", "visit", "gene_set", "method", "score"],
    "cytokines_by_visit": ["patient_id", "visit", "analyte", "log2_value"],
    "clinical_outcomes": ["patient_id", "visit"],
    "response_w24": ["patient_id", "major_response_w24"],
    "pk_exposure": ["patient_id"],
    "composition": ["patient_id", "visit", "cell_type", "method", "estimate"],
}


@dataclass(frozen=True)
class LinkingParams:
    """Parameters of the linking step (see the module docstring)."""

    primary_method: str | Mapping[str, str] | None = None
    baseline_visit: str = "W0"
    change_visits: tuple[str, ...] = ("W4", "W24")
    clinical_measures: tuple[str, ...] = ("cmas", "mmt8", "physician_global", "das_total")
    pkpd_visit: str = "W4"
    figure_set: str | None = None
    n_boot: int = 2000
    n_perm: int = 9999
    roc_ci: str = "bootstrap"
    composition_covariates: tuple[str, ...] = ("monocyte",)
    composition_method: str = "marker_btm"
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: StudyConfig) -> LinkingParams:
        """Build from ``config.linking`` (unknown keys are refused)."""
        section = dict(config.linking or {})
        known = set(cls.__dataclass_fields__) - {"seed", "extra"}
        unknown = sorted(set(section) - known)
        if unknown:
            raise InputError("unknown linking parameter", file="study.yaml", column="linking", value=unknown,
                             expected=f"some of {sorted(known)}", rule="config.linking")
        base = section.get("baseline_visit", "W0")
        default_changes = tuple(v for v in config.omics_visits if v != base)
        kwargs: dict[str, Any] = {k: v for k, v in section.items() if k in known}
        for key in ("change_visits", "clinical_measures", "composition_covariates"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        kwargs.setdefault("change_visits", default_changes)
        if kwargs.get("roc_ci", "bootstrap") not in ("bootstrap", "delong"):
            raise InputError("unknown ROC CI method", file="study.yaml", column="linking.roc_ci",
                             value=kwargs["roc_ci"], expected="'bootstrap' or 'delong'",
                             rule="config.linking")
        return cls(seed=config.seed, **kwargs)


def _read(tree: ResultsTree, name: str) -> tuple[pd.DataFrame | None, str | None]:
    path = tree.table(name)
    if not path.is_file():
        return None, f"tables/{name}.tsv not in the results tree"
    df = pd.read_csv(path, sep="\t", na_values=["NA"], keep_default_na=False, dtype={"patient_id": str})
    missing = [c for c in REQUIRED[name] if c not in df.columns]
    if missing:
        raise InputError("results table lacks columns", file=str(path), column=", ".join(missing),
                         expected=f"the columns of docs/contracts.md section 5: {REQUIRED[name]}",
                         rule="linking.columns")
    return df, None


def _truthy(series: pd.Series) -> pd.Series:
    """Map True/False/NA written as text (or bools) to True/False/None."""
    def conv(v: Any) -> bool | None:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        text = str(v).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        return None
    return series.map(conv).astype(object)


def choose_methods(ifn: pd.DataFrame, primary: str | Mapping[str, str] | None) -> dict[str, str]:
    """Return the scoring method used for each gene set (see ``primary_method``).

    Parameters
    ----------
    ifn
        ``ifn_scores.tsv``.
    primary
        The configured choice.

    Returns
    -------
    dict[str, str]
        gene_set -> method.

    Raises
    ------
    InputError
        When a configured method was not scored for a set.
    """
    out: dict[str, str] = {}
    for gs, sub in ifn.groupby("gene_set", sort=True):
        available = list(dict.fromkeys(sub["method"].astype(str)))
        want = primary.get(str(gs)) if isinstance(primary, Mapping) else primary
        if want is not None:
            if want not in available:
                raise InputError("configured IFN method was not scored for this gene set", file="study.yaml",
                                 column="linking.primary_method", value=want,
                                 expected=f"one of {available} for {gs}", rule="config.linking")
            out[str(gs)] = want
            continue
        out[str(gs)] = next((m for m in METHOD_PREFERENCE if m in available), available[0])
    return out


def _long_panel(ifn: pd.DataFrame | None, cyto: pd.DataFrame | None, methods: dict[str, str],
                notes: list[str]) -> pd.DataFrame:
    parts = []
    if ifn is not None:
        chosen = [methods.get(str(g)) == str(m) for g, m in zip(ifn["gene_set"], ifn["method"], strict=True)]
        sub = ifn[chosen]
        if "qc_pass" in sub.columns:
            qc = _truthy(sub["qc_pass"])
            failed = int((qc == False).sum())  # noqa: E712 (object column of True/False/None)
            if failed:
                notes.append(f"{failed} IFN score row(s) of samples failing QC left out")
            sub = sub[qc != False]  # noqa: E712
        parts.append(pd.DataFrame({
            "patient_id": sub["patient_id"].astype(str), "visit": sub["visit"].astype(str),
            "biomarker": "ifn:" + sub["gene_set"].astype(str) + ":" + sub["method"].astype(str),
            "kind": "ifn", "value": pd.to_numeric(sub["score"], errors="coerce")}))
    if cyto is not None:
        parts.append(pd.DataFrame({
            "patient_id": cyto["patient_id"].astype(str), "visit": cyto["visit"].astype(str),
            "biomarker": "cytokine:" + cyto["analyte"].astype(str), "kind": "cytokine",
            "value": pd.to_numeric(cyto["log2_value"], errors="coerce"),
            "flag": cyto["flag"].astype(str) if "flag" in cyto.columns else "ok"}))
    if not parts:
        return pd.DataFrame(columns=["patient_id", "visit", "biomarker", "kind", "value", "flag"])
    panel = pd.concat(parts, ignore_index=True)
    dup = panel.duplicated(["patient_id", "visit", "biomarker"], keep=False)
    if dup.any():
        notes.append(f"{int(dup.sum())} rows share patient, visit and biomarker: averaged")
        panel = panel.groupby(["patient_id", "visit", "biomarker", "kind"], as_index=False).agg(
            value=("value", "mean"), flag=("flag", lambda f: ";".join(sorted(set(map(str, f.dropna()))))))
    return panel


def censoring_notes(panel: pd.DataFrame) -> dict[str, str]:
    """Per cytokine, how many of its values carry a censoring flag (e.g. ``below_lloq``).

    Parameters
    ----------
    panel
        Long biomarker table with a ``flag`` column (``ok``/empty = measured in range).

    Returns
    -------
    dict[str, str]
        biomarker -> e.g. ``"12 of 48 values below_lloq (substituted upstream)"``.
    """
    out: dict[str, str] = {}
    if "flag" not in panel.columns:
        return out
    for bm, sub in panel.groupby("biomarker", sort=False):
        flags = sub["flag"].fillna("ok").astype(str)
        bad = flags[~flags.isin(["ok", "", "nan"])]
        if len(bad):
            kinds = ", ".join(f"{k} {v}" for k, v in bad.value_counts().items())
            out[str(bm)] = f"{len(bad)} of {len(sub)} values flagged ({kinds}; substituted upstream)"
    return out


def _row(analysis: str, biomarker: str, comparison: str, res: Mapping[str, Any]) -> dict[str, Any]:
    row = {c: res.get(c, math.nan) for c in LINK_COLUMNS}
    row.update(analysis=analysis, biomarker=biomarker, comparison=comparison, q_value=math.nan)
    row["direction"] = res.get("direction", "NA")
    row["note"] = res.get("note", "") or ""
    return row


def _finish(rows: list[dict[str, Any]], family: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=LINK_COLUMNS)
    if df.empty:
        return df
    df["q_value"] = np.nan
    for _, idx in df.groupby(family, sort=False).groups.items():
        df.loc[idx, "q_value"] = bh_qvalues(df.loc[idx, "p_value"].to_numpy(dtype=float))
    return df


def _panel_series(panel: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    """Value by patient of every (biomarker, visit) of the panel, split once (not per lookup)."""
    return {key: sub.set_index("patient_id")["value"].astype(float)
            for key, sub in panel.groupby(["biomarker", "visit"], sort=False)}


#: What :func:`_by_patient` returns for a biomarker and visit that the panel does not have.
_EMPTY = pd.Series([], dtype=float, name="value", index=pd.Index([], dtype=object, name="patient_id"))


def _by_patient(values: dict[tuple[str, str], pd.Series], biomarker: str, visit: str) -> pd.Series:
    """Values of one biomarker at one visit by patient (``values`` from :func:`_panel_series`)."""
    return values.get((biomarker, visit), _EMPTY)


def run_linking(tree: ResultsTree, *, config: StudyConfig) -> dict[str, Any]:
    """Run every linking analysis that its inputs allow and write the tables and figures.

    Parameters
    ----------
    tree
        Results tree holding the tables of the earlier steps.
    config
        Study configuration (``linking`` section, ``seed``).

    Returns
    -------
    dict
        ``summary``, ``paths``, ``skipped`` (analysis -> reason), ``notes``, ``n_rows`` per table.
    """
    p = LinkingParams.from_config(config)
    ifn, why_ifn = _read(tree, "ifn_scores")
    cyto, why_cyto = _read(tree, "cytokines_by_visit")
    outcomes, why_out = _read(tree, "clinical_outcomes")
    response, why_resp = _read(tree, "response_w24")
    exposure, why_pk = _read(tree, "pk_exposure")
    notes: list[str] = []
    skipped: dict[str, str] = {}
    methods = choose_methods(ifn, p.primary_method) if ifn is not None else {}
    panel = _long_panel(ifn, cyto, methods, notes)
    values = _panel_series(panel)
    biomarkers = list(dict.fromkeys(panel["biomarker"]))
    if ifn is None:
        notes.append(f"IFN scores absent: {why_ifn}")
    if cyto is None:
        notes.append(f"cytokines absent: {why_cyto}")
    patients = sorted(set(panel["patient_id"]) | set(outcomes["patient_id"] if outcomes is not None else []))
    tables: dict[str, pd.DataFrame] = {}
    base = p.baseline_visit

    # 1. paired change of every biomarker
    if biomarkers:
        rows = []
        for bm in biomarkers:
            b0 = _by_patient(values, bm, base).reindex(patients)
            for v in p.change_visits:
                res = paired_change(b0.to_numpy(), _by_patient(values, bm, v).reindex(patients).to_numpy())
                rows.append(_row("paired_change", bm, f"{v} - {base}", res))
        tables["change"] = _finish(rows, ["comparison"])
    else:
        skipped["change"] = "no IFN scores and no cytokines"

    # 2. Spearman of biomarker change with clinical change and with the TIS
    clinical = None
    if outcomes is not None:
        clinical = outcomes.copy()
        clinical["patient_id"] = clinical["patient_id"].astype(str)
    if biomarkers and clinical is not None:
        rows = []
        measures = [m for m in p.clinical_measures if m in clinical.columns]
        for v in p.change_visits:
            clin_base = clinical[clinical["visit"] == base].set_index("patient_id")
            clin_v = clinical[clinical["visit"] == v].set_index("patient_id")
            targets: dict[str, pd.Series] = {}
            for m in measures:
                before = pd.to_numeric(clin_base[m], errors="coerce").reindex(clin_v.index)
                targets[f"change in {m}"] = pd.to_numeric(clin_v[m], errors="coerce") - before
            if "tis" in clinical.columns:
                targets["TIS"] = pd.to_numeric(clin_v["tis"], errors="coerce")
            for bm in biomarkers:
                delta = (_by_patient(values, bm, v).reindex(patients)
                         - _by_patient(values, bm, base).reindex(patients))
                for label, target in targets.items():
                    res = spearman(delta.to_numpy(), target.reindex(patients).to_numpy(dtype=float),
                                   seed=p.seed, n_boot=p.n_boot, n_perm=p.n_perm)
                    rows.append(_row("spearman_change", bm, f"{v} - {base} change vs {label}", res))
        tables["correlation"] = _finish(rows, ["comparison"])
    else:
        skipped["correlation"] = why_out or "no biomarkers"

    # 3. baseline biomarker vs major response at W24
    if biomarkers and response is not None:
        resp = response.copy()
        resp["patient_id"] = resp["patient_id"].astype(str)
        major = _truthy(resp["major_response_w24"])
        label = pd.Series([None if v is None else float(v) for v in major], index=resp["patient_id"])
        rows = []
        curves: dict[str, list[tuple[str, np.ndarray, np.ndarray, float]]] = {"ifn": [], "cytokine": []}
        ids = list(label.index)
        for bm in biomarkers:
            score = _by_patient(values, bm, base).reindex(ids).to_numpy(dtype=float)
            res = roc_auc(score, label.to_numpy(dtype=object), seed=p.seed, ci=p.roc_ci, n_boot=p.n_boot)
            res["note"] = "; ".join(x for x in (res.get("note"), f"{res.get('n_positive', 0)} with major "
                                                "response") if x)
            rows.append(_row("roc_baseline", bm, f"{base} value vs major response at W24", res))
            if np.isfinite(res["estimate"]):
                lab = label.to_numpy(dtype=float)
                keep = np.isfinite(lab)
                curves[bm.split(":", 1)[0]].append((bm.split(":", 1)[1], score[keep], lab[keep].astype(int),
                                                    res["estimate"]))
        tables["roc"] = _finish(rows, ["comparison"])
    else:
        skipped["roc"] = why_resp or "no biomarkers"
        curves = {"ifn": [], "cytokine": []}

    # the figures need only the tables so far: drawn (in the figure process) while the rest runs
    ifn_markers = [b for b in biomarkers if b.startswith("ifn:")]
    figures = _figures(tree, p, panel, ifn_markers, outcomes, response, tables, curves)

    # 4. mixed model of each IFN score over visits with prednisone dose
    if ifn_markers and clinical is not None and "prednisone_mg_kg_day" in clinical.columns:
        rows = []
        dose = clinical[["patient_id", "visit", "prednisone_mg_kg_day"]]
        for bm in ifn_markers:
            data = panel[panel["biomarker"] == bm].merge(dose, on=["patient_id", "visit"], how="left")
            data = data.rename(columns={"value": "score"})
            for r in ifn_mixed_model(data, reference_visit=base):
                rows.append(_row("mixed_model", bm, r["term"], r))
            for r in ifn_mixed_model(data, reference_visit=base, dose=None):
                rows.append(_row("mixed_model", bm, f"{r['term']} (model without dose)", r))
        tables["mixed"] = _finish(rows, ["comparison"])
    else:
        skipped["mixed"] = ("no IFN scores" if not ifn_markers else
                            why_out or "no prednisone_mg_kg_day in clinical_outcomes.tsv")

    # 5. PK/PD: exposure vs the fall in IFN score at W4
    if ifn_markers and exposure is not None:
        rows = []
        exp = exposure.copy()
        exp["patient_id"] = exp["patient_id"].astype(str)
        for bm in ifn_markers:
            fall = (_by_patient(values, bm, base) - _by_patient(values, bm, p.pkpd_visit)).dropna()
            for r in exposure_vs_fall(exp, fall, seed=p.seed, n_boot=p.n_boot, n_perm=p.n_perm):
                rows.append(_row("pkpd", bm, f"{r['metric']} vs fall {base} - {p.pkpd_visit}", r))
        tables["pkpd"] = _finish(rows, ["comparison"])
    else:
        skipped["pkpd"] = "no IFN scores" if not ifn_markers else (why_pk or "")

    # 6. partial Spearman of IFN change vs clinical change given dose change and composition change
    composition, why_comp = _read(tree, "composition")
    if ifn_markers and clinical is not None and composition is not None \
            and "prednisone_mg_kg_day" in clinical.columns:
        tables["partial"] = _partial_table(p, panel, ifn_markers, clinical, composition, patients)
    elif composition is None:  # the composition step is optional (composition.enabled): a note
        notes.append(f"partial Spearman given composition not run: {why_comp}")
    else:
        skipped["partial"] = ("no IFN scores" if not ifn_markers
                              else why_out or "no prednisone_mg_kg_day in clinical_outcomes.tsv")

    censored = censoring_notes(panel)
    for df in tables.values():
        for bm, text in censored.items():
            hit = df["biomarker"] == bm
            df.loc[hit, "note"] = [f"{n}; {text}" if n else text for n in df.loc[hit, "note"].fillna("")]
    paths: dict[str, str] = {}
    for name, df in tables.items():
        paths[f"linking_{name}"] = str(write_tsv(df, tree.table(f"linking_{name}")))
    paths.update(figures)
    for part, reason in skipped.items():
        notes.append(f"{part} skipped: {reason}")
    n_sig = {k: int((v["q_value"] < 0.05).sum()) for k, v in tables.items()}
    summary = (f"{len(biomarkers)} biomarkers, {len(patients)} patients; tables: "
               + ", ".join(f"{k} ({len(v)} rows, {n_sig[k]} with q < 0.05)" for k, v in tables.items())
               + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
    return {"summary": summary, "paths": paths, "skipped": skipped, "notes": notes,
            "n_rows": {k: len(v) for k, v in tables.items()}, "methods": methods}


def _partial_table(p: LinkingParams, panel: pd.DataFrame, ifn_markers: list[str], clinical: pd.DataFrame,
                   composition: pd.DataFrame, patients: list[str]) -> pd.DataFrame:
    """Partial Spearman of each IFN score's change against each clinical change (section 6)."""
    base = p.baseline_visit
    values = _panel_series(panel)
    comp = composition[composition["method"] == p.composition_method].copy()
    if "qc_pass" in comp:
        comp = comp[_truthy(comp["qc_pass"]).map(lambda v: v is True).to_numpy(dtype=bool)]
    comp["patient_id"] = comp["patient_id"].astype(str)
    rows = []
    clin_base = clinical[clinical["visit"] == base].set_index("patient_id")
    for v in p.change_visits:
        clin_v = clinical[clinical["visit"] == v].set_index("patient_id")
        dose = (pd.to_numeric(clin_v["prednisone_mg_kg_day"], errors="coerce")
                - pd.to_numeric(clin_base["prednisone_mg_kg_day"], errors="coerce").reindex(clin_v.index))
        covs = {"change in prednisone dose": dose.reindex(patients)}
        for ct in p.composition_covariates:
            c = comp[comp["cell_type"] == ct].set_index(["patient_id", "visit"])["estimate"]
            c = c[~c.index.duplicated()]
            before = pd.Series({pid: c.get((pid, base), np.nan) for pid in patients})
            after = pd.Series({pid: c.get((pid, v), np.nan) for pid in patients})
            covs[f"change in {ct} ({p.composition_method})"] = after - before
        z = pd.DataFrame(covs).to_numpy(dtype=float)
        given = ", ".join(covs)
        targets: dict[str, pd.Series] = {}
        for m in [m for m in p.clinical_measures if m in clinical.columns]:
            before = pd.to_numeric(clin_base[m], errors="coerce").reindex(clin_v.index)
            targets[f"change in {m}"] = pd.to_numeric(clin_v[m], errors="coerce") - before
        if "tis" in clinical.columns:
            targets["TIS"] = pd.to_numeric(clin_v["tis"], errors="coerce")
        for bm in ifn_markers:
            delta = (_by_patient(values, bm, v).reindex(patients)
                     - _by_patient(values, bm, base).reindex(patients))
            for label, target in targets.items():
                res = partial_spearman(delta.to_numpy(), target.reindex(patients).to_numpy(dtype=float), z,
                                       seed=p.seed, n_boot=p.n_boot, n_perm=p.n_perm)
                res["note"] = "; ".join(x for x in (res.get("note"), f"given {given}") if x)
                rows.append(_row("partial_spearman_change", bm, f"{v} - {base} change vs {label}", res))
    return _finish(rows, ["comparison"])


def _figures(tree: ResultsTree, p: LinkingParams, panel: pd.DataFrame, ifn_markers: list[str],
             outcomes: pd.DataFrame | None, response: pd.DataFrame | None, tables: dict[str, pd.DataFrame],
             curves: dict[str, list[tuple[str, np.ndarray, np.ndarray, float]]]) -> dict[str, str]:
    paths: dict[str, str] = {}
    resp_map: dict[str, object] = {}
    if response is not None:
        resp_map = dict(zip(response["patient_id"].astype(str), response["response_w24"], strict=True))
    fig_marker = None
    if ifn_markers:
        want = p.figure_set or "RICE_2013_6_ISG"
        fig_marker = next((b for b in ifn_markers if b.split(":")[1] == want), ifn_markers[0])
    panels = []
    if fig_marker is not None:
        panels.append((f"IFN score {fig_marker.split(':', 1)[1]}",
                       panel[panel["biomarker"] == fig_marker][["patient_id", "visit", "value"]]))
    if outcomes is not None and "cmas" in outcomes.columns:
        cmas = outcomes[["patient_id", "visit", "cmas"]].rename(columns={"cmas": "value"})
        panels.append(("CMAS (0-52)", cmas.assign(patient_id=cmas["patient_id"].astype(str))))
    if panels:
        paths["linking_trajectories"] = str(drawing.figure(tree.plot("linking_trajectories"),
                                                           trajectory_panels, panels, resp_map))
    if response is not None and not tree.plot("tis_waterfall").is_file():
        from myocit_omics.clinical.plots import tis_waterfall

        resp = response.copy()
        resp["tis_w24"] = pd.to_numeric(resp["tis_w24"], errors="coerce") if "tis_w24" in resp else math.nan
        paths["tis_waterfall"] = str(drawing.figure(tree.plot("tis_waterfall"), tis_waterfall, resp))
    corr = tables.get("correlation")
    if fig_marker is not None and corr is not None and outcomes is not None:
        base = p.baseline_visit
        values = _panel_series(panel)
        scatter = []
        clin = outcomes.assign(patient_id=outcomes["patient_id"].astype(str))
        for v in p.change_visits:
            delta = _by_patient(values, fig_marker, v) - _by_patient(values, fig_marker, base)
            c0 = clin[clin["visit"] == base].set_index("patient_id")
            cv = clin[clin["visit"] == v].set_index("patient_id")
            for m in [*p.clinical_measures, "tis"]:
                if m not in clin.columns:
                    continue
                y = pd.to_numeric(cv[m], errors="coerce")
                if m != "tis":
                    y = y - pd.to_numeric(c0[m], errors="coerce").reindex(cv.index)
                df = pd.DataFrame({"x": delta, "y": y}).dropna().rename_axis("patient_id").reset_index()
                label = "TIS" if m == "tis" else f"change in {m}"
                comparison = f"{v} - {base} change vs {label}"
                hit = corr[(corr["biomarker"] == fig_marker) & (corr["comparison"] == comparison)]
                rho = float(hit["estimate"].iloc[0]) if len(hit) else math.nan
                q = float(hit["q_value"].iloc[0]) if len(hit) else math.nan
                scatter.append((f"{v}: IFN change vs {label}", df, rho, q))
        if scatter:
            paths["linking_change_scatter"] = str(drawing.figure(tree.plot("linking_change_scatter"),
                                                                 change_scatter, scatter, resp_map))
    for kind, items in curves.items():
        if items:
            title = f"Baseline {'IFN scores' if kind == 'ifn' else 'cytokines'} vs major response at W24"
            paths[f"linking_roc_{kind}"] = str(drawing.figure(tree.plot(f"linking_roc_{kind}"), roc_curves,
                                                              items, title=title))
    return paths


def tables_present(tree: ResultsTree) -> dict[str, bool]:
    """Return which input tables of the linking step exist in ``tree`` (for status displays)."""
    return {name: Path(tree.table(name)).is_file() for name in REQUIRED}
