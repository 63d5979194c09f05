"""The cytokine analysis step: exports -> curves -> flags -> log2 -> bridging -> tables, AnnData, plots.

Entry point of the trial-analysis flow: :func:`run_cytokines`. ``myocit cytokines`` calls the
same function with ad-hoc batches (:class:`ExportBatch`).

Parameters (``cytokines:`` section of study.yaml; every one is written to the outputs):

=========================  ============  ================================================
key                        default       meaning
=========================  ============  ================================================
substitution               lloq_half     ``lloq_half``, ``lloq_sqrt2`` or ``censored``
recovery_range             [70, 130]     standard recovery (%) that counts as quantifiable
standard_max_cv_pct        null          optional precision rule: a standard level counts as
                                         quantifiable only if its replicate %CV is <= this
                                         too (e.g. 20); null = recovery alone
model                      auto          ``4pl``, ``5pl`` or ``auto`` (AICc)
standards_series           repair        a standard that breaks the constant dilution series:
                                         ``repair`` (restore a power-of-ten slip the series
                                         pins exactly, else leave it out of the fit),
                                         ``exclude`` (leave it out), ``refuse`` (no curve);
                                         see :mod:`myocit_omics.cytokines.standards`
instrument_tolerance_pct   10            agreement with the instrument's own concentrations:
                                         a well agrees when within this (%)
instrument_min_agreement_pct 90          share (%) of quantifiable wells that must agree;
                                         below it the QC flags ``instrument_disagrees`` and
                                         warns with the likely cause
                                         (:mod:`myocit_omics.cytokines.agreement`)
min_bridge_pairs           3             bridge samples with ok values needed to bridge
bridge_reference           (first)       reference plate id for bridging
max_cv_pct                 20            replicate %CV above which the QC flags the analyte
min_bead_count             35            bead count below which the QC flags wells
max_censored_share         0.5           censored share above which the QC flags the analyte
analytes                   (any)         list of expected analytes; any other is refused
plots                      true          draw the standard-curve and bridging figures
=========================  ============  ================================================

Output (results tree): ``tables/cytokines_long.tsv`` (one row per well and analyte: the value
back-calculated on its own plate, before bridging and substitution), ``tables/
cytokines_by_visit.tsv`` (patient and visit: bridged, substituted, replicate wells and plates
averaged on log2), ``tables/cytokine_qc.tsv`` (plate x analyte), ``tables/
cytokine_standards.tsv`` (recovery and %CV per standard level), ``tables/
cytokine_bridging.tsv`` (adjustments), ``anndata/cytokines.h5ad`` (samples x analytes; layers
``concentration``, ``log2``, ``flags`` as integer codes in ``uns["flag_codes"]``), plots
``plots/cytokines/standard_curves_<plate>.png`` and ``plots/cytokines/bridge_before_after.png``.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from myocit_omics import drawing
from myocit_omics.cytokines.agreement import AGREEMENT_COLUMNS, agreement_row
from myocit_omics.cytokines.bridging import bridge_plates
from myocit_omics.cytokines.censoring import FLAG_CODES, SUBSTITUTIONS, flag_values, substitute
from myocit_omics.cytokines.curves import CurveFit, back_calculate, fit_standard_curve
from myocit_omics.cytokines.qc import qc_table
from myocit_omics.cytokines.standards import SERIES_MODES, judge_series
from myocit_omics.errors import InputError, Problem, ValidationFailed
from myocit_omics.io.cytokine import CytokineExport, read_export, read_plate_map
from myocit_omics.results import ResultsTree, write_h5ad, write_json, write_tsv

#: Columns of the contract tables (docs/contracts.md section 5). ``curve_note`` says what the
#: standard-series check did to the curve the value comes from (``standard_repaired(...)``,
#: ``standard_excluded(...)``, ``standards_invalid``; empty when nothing).
LONG_COLUMNS = (
    "sample_id",
    "patient_id",
    "visit",
    "plate_id",
    "well",
    "analyte",
    "raw",
    "value",
    "unit",
    "flag",
    "instrument_value",
    "cv_pct",
    "bead_count",
    "curve_note",
)
BY_VISIT_COLUMNS = ("patient_id", "visit", "analyte", "value", "log2_value", "flag", "unit", "substitution")


@dataclass
class CytokineParams:
    """Parameters of the cytokine step (see the module docstring)."""

    substitution: str = "lloq_half"
    recovery_range: tuple[float, float] = (70.0, 130.0)
    standard_max_cv_pct: float | None = None
    model: str = "auto"
    standards_series: str = "repair"
    instrument_tolerance_pct: float = 10.0
    instrument_min_agreement_pct: float = 90.0
    min_bridge_pairs: int = 3
    bridge_reference: str | None = None
    max_cv_pct: float = 20.0
    min_bead_count: float = 35.0
    max_censored_share: float = 0.5
    analytes: list[str] | None = None
    plots: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        d = asdict(self)
        d["recovery_range"] = list(self.recovery_range)
        return d


def params_from_config(section: dict[str, Any] | None, *, file: str = "study.yaml") -> CytokineParams:
    """Validate the ``cytokines`` section of the study configuration.

    Raises
    ------
    ValidationFailed
        Naming every bad key or value, with the valid alternatives.
    """
    section = dict(section or {})
    p = CytokineParams()
    problems: list[Problem] = []
    valid = set(CytokineParams.__dataclass_fields__)

    def bad(key: str, value: Any, expected: str) -> None:
        problems.append(
            Problem(
                file=file,
                column=f"cytokines.{key}",
                value=value,
                expected=expected,
                message="invalid cytokine parameter",
                rule="config.cytokines",
            )
        )

    for key, value in section.items():
        if key not in valid:
            bad(key, value, f"one of {', '.join(sorted(valid))}")
            continue
        if key == "substitution":
            if value not in SUBSTITUTIONS:
                bad(key, value, f"one of {', '.join(SUBSTITUTIONS)}")
            else:
                p.substitution = value
        elif key == "model":
            if value not in ("4pl", "5pl", "auto"):
                bad(key, value, "4pl, 5pl or auto")
            else:
                p.model = value
        elif key == "standards_series":
            if value not in SERIES_MODES:
                bad(key, value, f"one of {', '.join(SERIES_MODES)}")
            else:
                p.standards_series = value
        elif key == "recovery_range":
            try:
                lo, hi = (float(v) for v in value)
                if not 0 < lo < 100 < hi:
                    raise ValueError
                p.recovery_range = (lo, hi)
            except (TypeError, ValueError):
                bad(key, value, "[low, high] with 0 < low < 100 < high, e.g. [70, 130]")
        elif key == "standard_max_cv_pct":
            try:
                if value is not None:
                    num = float(value)
                    if not num > 0 or math.isinf(num):
                        raise ValueError
                    p.standard_max_cv_pct = num
            except (TypeError, ValueError):
                bad(key, value, "a positive number (%), e.g. 20, or null for recovery alone")
        elif key == "bridge_reference":
            p.bridge_reference = None if value is None else str(value)
        elif key == "plots":
            if not isinstance(value, bool):
                bad(key, value, "true or false")
            else:
                p.plots = value
        elif key == "analytes":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                bad(key, value, "a list of analyte names")
            else:
                p.analytes = value
        else:
            try:
                num = float(value)
                if num < 0 or math.isnan(num):
                    raise ValueError
            except (TypeError, ValueError):
                bad(key, value, "a non-negative number")
                continue
            setattr(p, key, int(num) if key == "min_bridge_pairs" else num)
    if problems:
        raise ValidationFailed(problems, context=f"{file}: cytokines")
    return p


@dataclass
class ExportBatch:
    """A minimal batch (what the store's BatchRecord offers): files by role, manifest, id, name."""

    files: dict[str, Path]
    manifest: dict[str, Any] = field(default_factory=dict)
    batch_id: str = ""
    name: str = ""


@dataclass
class CytokineResult:
    """Everything the step computes, before writing."""

    long: pd.DataFrame
    by_visit: pd.DataFrame
    qc: pd.DataFrame
    standards: pd.DataFrame
    adjustments: pd.DataFrame
    fits: dict[tuple[str, str], CurveFit]
    work: pd.DataFrame
    problems: list[Problem]
    params: CytokineParams
    series: list[dict[str, Any]] = field(default_factory=list)
    agreement: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(AGREEMENT_COLUMNS)))


# --------------------------------------------------------------------------- per export


def _export_roles(files: dict[str, Any]) -> list[str]:
    def key(role: str) -> int:
        m = re.match(r"^export(?:_(\d+))?$", role)
        return int(m.group(1) or 1) if m else 10**6

    return sorted([r for r in files if re.match(r"^export(_\d+)?$", r)], key=key)


def _match_plates(
    export_plates: list[str], map_plates: list[str], *, stem: str, used: set[str]
) -> dict[str, str]:
    """Map the export's plate ids to plate-map plate ids: same id, file stem, else in order."""
    out: dict[str, str] = {}
    free = [p for p in map_plates if p not in used]
    for p in export_plates:
        for cand in (p, stem, f"{stem}-{p}"):
            if cand in free:
                out[p] = cand
                free.remove(cand)
                break
    rest = [p for p in export_plates if p not in out]
    if rest and len(free) >= len(rest):
        for p, q in zip(rest, free, strict=False):
            out[p] = q
    return out


def link_plate_map(
    values: pd.DataFrame,
    plate_map: pd.DataFrame | None,
    *,
    export: CytokineExport,
    used: set[str],
    problems: list[Problem],
) -> pd.DataFrame:
    """Add sample_id, patient_id, visit and the plate map's role/dilution to an export's values."""
    df = values.copy()
    df["sample_id"] = df["sample"]
    df["patient_id"] = ""
    df["visit"] = ""
    if plate_map is None or plate_map.empty:
        return df
    mapping = _match_plates(
        list(dict.fromkeys(df["plate_id"])),
        list(dict.fromkeys(plate_map["plate_id"])),
        stem=export.path.stem,
        used=used,
    )
    df["plate_id"] = df["plate_id"].map(lambda p: mapping.get(p, p))
    used.update(mapping.values())
    pm_w = plate_map[plate_map["well"] != ""].set_index(["plate_id", "well"])
    pm_s = plate_map.drop_duplicates("sample_id").set_index("sample_id")
    n_unmapped = 0
    first_unmapped = ""
    roles, sids, pids, visits, dils = [], [], [], [], []
    for rec in df[["plate_id", "well", "sample", "role", "dilution_factor"]].itertuples(index=False):
        plate, well, sample, role, dil = rec
        hit = None
        if well and (plate, well) in pm_w.index:
            hit = pm_w.loc[(plate, well)]
        elif not well and sample in pm_s.index:
            hit = pm_s.loc[sample]
        if hit is None:
            if not n_unmapped:
                first_unmapped = f"plate {plate} well {well or '-'} sample {sample}"
            n_unmapped += 1
            roles.append(role)
            sids.append(sample)
            pids.append("")
            visits.append("")
            dils.append(dil)
            continue
        roles.append(hit["role"])
        sids.append(hit["sample_id"] or sample)
        pids.append(hit["patient_id"])
        visits.append(hit["visit"])
        pm_dil = float(hit["dilution_factor"])
        dils.append(pm_dil if (not np.isfinite(dil) or dil == 1.0) else dil)
    df["role"], df["sample_id"], df["patient_id"], df["visit"], df["dilution_factor"] = (
        roles,
        sids,
        pids,
        visits,
        dils,
    )
    if n_unmapped:
        problems.append(
            Problem(
                file=str(export.path),
                severity="warning",
                rule="cytokine.unmapped",
                value=first_unmapped,
                message=f"{n_unmapped} value(s) have no row in the plate map (first: {first_unmapped}); kept "
                "with the export's sample name and no patient/visit",
                expected="every measured well in plate_map.csv",
            )
        )
    measured = set(zip(df["plate_id"], df["well"], strict=True))
    mine = plate_map[plate_map["plate_id"].isin(set(mapping.values())) & (plate_map["well"] != "")]
    extra = [
        f"{p} {w}" for p, w in zip(mine["plate_id"], mine["well"], strict=True) if (p, w) not in measured
    ]
    if extra:
        problems.append(
            Problem(
                file=str(export.path),
                severity="warning",
                rule="cytokine.not_measured",
                value=", ".join(extra[:5]),
                message=f"{len(extra)} plate-map well(s) are not in the export (not measured, or wrong well)",
                expected="every plate-map well measured",
            )
        )
    return df


def process_export(
    export: CytokineExport,
    plate_map: pd.DataFrame | None,
    params: CytokineParams,
    *,
    batch: str = "",
    used_plates: set[str] | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[tuple[str, str], CurveFit], list[Problem]]:
    """Fit curves where the export has standards, back-calculate, flag; one export.

    Returns
    -------
    tuple
        (work table: one row per well and analyte with value, flag, limits ...; QC rows;
        fits by (plate, analyte); problems found).
    """
    problems: list[Problem] = list(export.problems)
    df = link_plate_map(
        export.values,
        plate_map,
        export=export,
        used=used_plates if used_plates is not None else set(),
        problems=problems,
    )
    df["batch"] = batch
    df["file"] = export.path.name
    df["scale"] = export.scale
    df["platform"] = export.platform
    df["value"] = np.nan
    df["side"] = 0
    df["curve"] = "none"
    df["lloq_s"] = df["lloq"]
    df["uloq_s"] = df["uloq"]
    if params.analytes is not None:
        unknown = [a for a in dict.fromkeys(df["analyte"]) if a not in params.analytes]
        if unknown:
            raise InputError(
                f"unknown analyte {unknown[0]!r} in {export.path.name}",
                file=str(export.path),
                column="analyte",
                value=unknown[0],
                rule="cytokine.unknown_analyte",
                expected=f"one of the configured analytes: {', '.join(params.analytes)}",
            )
    fits: dict[tuple[str, str], CurveFit] = {}
    qc_rows: list[dict[str, Any]] = []
    df["curve_note"] = ""
    has_std = (df["role"] == "standard") & df["expected_conc"].notna() & np.isfinite(df["signal"])
    with_std = set(zip(df.loc[has_std, "plate_id"], df.loc[has_std, "analyte"], strict=True))
    r2_of = (
        dict(zip(export.analytes["analyte"], export.analytes["r2"], strict=True))
        if "r2" in export.analytes.columns
        else {}
    )
    # instrument values (no curve of ours): vectorised, per (plate, analyte) whether any number exists
    key = df["plate_id"] + "\x00" + df["analyte"]
    any_inst = np.isfinite(df["instrument_value"]).groupby(key).transform("any")
    use_signal = (export.scale == "mfi") & ~any_inst
    df["value"] = np.where(use_signal, df["signal"], df["instrument_value"])
    df.loc[use_signal, "unit"] = "MFI"
    df.loc[use_signal, "curve"] = "mfi"
    no_curve_plates: dict[str, list[str]] = {}
    for (plate, analyte), idx in df.groupby(["plate_id", "analyte"], sort=False).groups.items():
        flags: list[str] = []
        fit: CurveFit | None = None
        if (plate, analyte) not in with_std:
            model = "npx" if export.scale == "npx" else "instrument"
            reason = "the export has no standards with expected concentrations for this analyte"
            if bool(use_signal.loc[idx].all()):
                model = "none"
                flags.append("no_standard_curve")
                no_curve_plates.setdefault(plate, []).append(analyte)
            qc_rows.append(_qc_row(plate, analyte, None, flags, model=model))
            qc_rows[-1]["_instrument_r2"] = float(r2_of.get(analyte, np.nan))
            qc_rows[-1]["_reason"] = reason
            continue
        g = df.loc[idx]
        df.loc[idx, "value"] = np.nan
        df.loc[idx, "unit"] = export.values.loc[idx, "unit"]
        df.loc[idx, "curve"] = "none"
        std = g[has_std.loc[idx]]
        series = list(dict.fromkeys(zip(std["sample"], std["expected_conc"], strict=True)))
        verdict = judge_series(series, mode=params.standards_series)
        note = verdict.note()
        df.loc[idx, "curve_note"] = note
        series_rec = {
            "plate_id": plate,
            "analyte": analyte,
            "status": verdict.status,
            "repaired": {k: list(v) for k, v in verdict.repaired.items()},
            "excluded": dict(verdict.excluded),
            "reason": verdict.reason,
        }
        if verdict.status != "clean":
            problems.append(
                Problem(
                    file=str(export.path),
                    severity="warning",
                    rule="cytokine.standards_series",
                    column=str(analyte),
                    value=", ".join([*verdict.repaired, *verdict.excluded]) or plate,
                    message=f"plate {plate}, analyte {analyte}: {verdict.reason}"
                    + ("; the curve of this analyte is not fitted" if verdict.status == "refused" else ""),
                    expected="a constant-ratio dilution series (check for a lost decimal point after a "
                    "spreadsheet re-save)",
                    extra={"analyte": analyte, "plate": plate, "status": verdict.status},
                )
            )
        if verdict.status == "refused":
            df.loc[idx, "curve"] = "failed"
            flags.append("standards_invalid")
            qc_rows.append(_qc_row(plate, analyte, None, flags, model="none"))
            qc_rows[-1]["_series"] = series_rec
            qc_rows[-1]["_reason"] = verdict.reason
            continue
        used_conc = np.array(
            [verdict.expected_of(s, v) for s, v in zip(std["sample"], std["expected_conc"], strict=True)]
        )
        flags += [f"standard_repaired({s})" for s in verdict.repaired]
        flags += [f"standard_excluded({s})" for s in verdict.excluded]
        fit = fit_standard_curve(
            used_conc,
            std["signal"].to_numpy(),
            model=params.model,
            recovery_range=params.recovery_range,
            max_cv_pct=params.standard_max_cv_pct,
        )
        fits[(plate, analyte)] = fit
        series_rec["names"] = {
            float(c): str(n) for n, c in zip(std["sample"], used_conc, strict=True) if np.isfinite(c)
        }
        series_rec["excluded_wells"] = {
            s: std.loc[std["sample"] == s, "signal"].to_numpy().tolist() for s in verdict.excluded
        }
        if not fit.ok:
            df.loc[idx, "curve"] = "failed"
            flags.append("fit_failed")
            problems.append(
                Problem(
                    file=str(export.path),
                    severity="warning",
                    rule="cytokine.fit",
                    column=analyte,
                    value=plate,
                    message=f"plate {plate}, analyte {analyte}: curve not used: {fit.reason}",
                )
            )
        else:
            conc, side = back_calculate(fit, g["signal"].to_numpy(), g["dilution_factor"].to_numpy())
            dil = np.where(
                np.isfinite(g["dilution_factor"]) & (g["dilution_factor"] > 0), g["dilution_factor"], 1.0
            )
            df.loc[idx, "value"] = conc
            df.loc[idx, "side"] = side
            df.loc[idx, "curve"] = "fitted"
            df.loc[idx, "lloq_s"] = fit.lloq * dil
            df.loc[idx, "uloq_s"] = fit.uloq * dil
            if fit.n_standards_ok < len(fit.standards):
                flags.append(f"standards_out_of_recovery({len(fit.standards) - fit.n_standards_ok})")
            ctrl = (g["role"] == "control").to_numpy() & np.isfinite(g["expected_conc"].to_numpy())
            if ctrl.any():
                rec = 100.0 * conc[ctrl] / dil[ctrl] / g["expected_conc"].to_numpy()[ctrl]
                lo, hi = params.recovery_range
                n_bad = int(np.sum(~((rec >= lo) & (rec <= hi))))
                if n_bad:
                    flags.append(f"control_out_of_recovery({n_bad})")
        qc_rows.append(_qc_row(plate, analyte, fit, flags, model=fit.model))
        qc_rows[-1]["_instrument_r2"] = float(r2_of.get(analyte, np.nan))
        qc_rows[-1]["_series"] = series_rec
        qc_rows[-1]["_reason"] = fit.reason
    # the reader's "standard wells but no expected concentrations" note is folded into the one warning
    folded = [
        p
        for p in problems
        if p.rule == "xponent.missing_standards" and "block" in p.message and "but no" in p.message
    ]
    if no_curve_plates and folded:
        problems[:] = [p for p in problems if p not in folded]
    for plate, names in no_curve_plates.items():
        problems.append(
            Problem(
                file=str(export.path),
                severity="warning",
                rule="cytokine.no_standard_curve",
                value=plate,
                column=", ".join(names[:5]) + (", ..." if len(names) > 5 else ""),
                message=f"plate {plate}: no standard concentrations for {len(names)} analyte(s) and no "
                "instrument concentrations: the values are the MFI (flag no_standard_curve), usable "
                "relative to the plate's controls and blanks, not as concentrations"
                + (f" ({folded[0].message})" if folded else ""),
                expected="standards with expected concentrations (xPONENT 'Standard Expected "
                "Concentration', Bio-Plex ExpectedConc) to get concentrations",
            )
        )
    df["flag"] = flag_values(df.assign(lloq=df["lloq_s"], uloq=df["uloq_s"]))
    _compare_instrument(df, qc_rows, params, problems, export)
    return df, qc_rows, fits, problems


def _qc_row(
    plate: str, analyte: str, fit: CurveFit | None, flags: list[str], *, model: str
) -> dict[str, Any]:
    return {
        "plate_id": plate,
        "analyte": analyte,
        "model": model,
        "r2": fit.r2 if fit else float("nan"),
        "lloq": fit.lloq if fit else float("nan"),
        "uloq": fit.uloq if fit else float("nan"),
        "n_standards_ok": fit.n_standards_ok if fit else 0,
        "_flags": list(flags),
    }


def _compare_instrument(
    df: pd.DataFrame,
    qc_rows: list[dict[str, Any]],
    params: CytokineParams,
    problems: list[Problem],
    export: CytokineExport,
) -> None:
    """Agreement with the instrument's own concentrations (and curve), per plate and analyte.

    Olink NPX is skipped: NPX is the instrument's only number, there is nothing to compare.
    """
    if export.scale == "npx":
        return
    info = {str(r["analyte"]): r for r in export.analytes.to_dict("records")} if len(export.analytes) else {}
    groups = df.groupby(["plate_id", "analyte"], sort=False).groups
    for row in qc_rows:
        plate, analyte = row["plate_id"], row["analyte"]
        idx = groups.get((plate, analyte))
        if idx is None:
            continue
        rec = agreement_row(
            df.loc[idx],
            plate=plate,
            analyte=analyte,
            file=export.path.name,
            analyte_info=info.get(str(analyte), {}),
            our_model=row["model"],
            our_reason=row.get("_reason", ""),
            series_status=(row.get("_series") or {}).get("status", "clean"),
            tolerance_pct=params.instrument_tolerance_pct,
            min_share=params.instrument_min_agreement_pct / 100.0,
            per_sample=export.metadata.get("instrument_value_source") == "Avg Result",
        )
        if rec is None:
            continue
        row["_agreement"] = rec
        if rec["status"] != "disagrees":
            continue
        n = rec["n_compared"]
        k = n - round(rec["within_tolerance_share"] * n)
        row["_flags"].append(f"instrument_disagrees({k}/{n})")
        problems.append(
            Problem(
                file=str(export.path),
                severity="warning",
                rule="cytokine.instrument_disagrees",
                column=str(analyte),
                value=f"{rec['within_tolerance_share']:.0%} of {n} wells within "
                f"{params.instrument_tolerance_pct:g} %",
                message=f"plate {plate}, analyte {analyte}: {k} of {n} quantifiable wells differ from the "
                f"instrument's own concentration by more than {params.instrument_tolerance_pct:g} % "
                f"(median difference {rec['median_abs_diff_pct']:.1f} %); "
                f"likely cause: {rec['likely_cause']}",
                expected=f"at least {params.instrument_min_agreement_pct:g} % of wells within "
                f"{params.instrument_tolerance_pct:g} % (instrument_value keeps the instrument's number; "
                "tables/cytokine_agreement.tsv has the figures)",
            )
        )


# --------------------------------------------------------------------------- all exports


def _replicate_cv(df: pd.DataFrame) -> pd.Series:
    """%CV of replicate wells (same plate, sample, analyte) on the linear scale; NaN for singletons."""
    lin = np.where(df["scale"] == "npx", np.power(2.0, df["value"]), df["value"])
    tmp = pd.DataFrame({"k1": df["plate_id"], "k2": df["sample_id"], "k3": df["analyte"], "v": lin})
    grp = tmp.groupby(["k1", "k2", "k3"])["v"]
    mean = grp.transform("mean")
    sd = grp.transform("std").where(grp.transform("count") >= 2)
    return pd.Series(np.where(mean > 0, 100.0 * sd / mean, np.nan), index=df.index)


def _aggregate_flag(flags: pd.Series) -> str:
    """Flag of a sample's combined value: ``ok`` if any well is ok, else the commonest (censored first)."""
    if (flags == "ok").any():
        return "ok"
    counts = flags.value_counts()
    top = counts[counts == counts.max()].index.tolist()
    for f in (
        "below_lloq",
        "above_uloq",
        "instrument_oor",
        "fit_failed",
        "missing",
        "extrapolated",
        "no_standard_curve",
        "ok",
    ):
        if f in top:
            return f
    return str(top[0])


def _combine(g: pd.DataFrame) -> tuple[float, float, str]:
    """Combine a sample's wells (replicates, plates): (mean log2, value, flag).

    When any well is ``ok`` only the ok wells are averaged and the flag is ``ok``; otherwise
    all wells with a usable (substituted) number are averaged and the flag is the commonest one.
    """
    flag = _aggregate_flag(g["flag"])
    use = g[g["flag"] == "ok"] if flag == "ok" else g
    l2 = use["log2_used"].to_numpy(dtype=float)
    l2 = l2[np.isfinite(l2)]
    if not len(l2):
        return float("nan"), float("nan"), flag
    mean_l2 = float(np.mean(l2))
    return mean_l2, (mean_l2 if (g["scale"] == "npx").all() else 2.0**mean_l2), flag


def _combine_groups(df: pd.DataFrame, keys: list[str]) -> tuple[list[tuple[Any, ...]], np.ndarray, list[
        tuple[float, float, str]]]:
    """:func:`_combine` of every group of ``df`` by ``keys``, in order of first appearance.

    One pass over numpy arrays instead of a pandas group per sample (the same numbers:
    each group's wells are averaged in their row order).

    Returns
    -------
    tuple
        (group keys, row position of each group's first well, ``_combine`` result per group).
    """
    codes = df.groupby(keys, sort=False).ngroup().to_numpy()
    keep = np.flatnonzero(codes >= 0)
    order = keep[np.argsort(codes[keep], kind="stable")]
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    flags = df["flag"].to_numpy(dtype=object)
    l2_all = df["log2_used"].to_numpy(dtype=float)
    npx = (df["scale"] == "npx").to_numpy()
    key_cols = [df[k].to_numpy(dtype=object) for k in keys]
    out_keys, firsts, combined = [], [], []
    for rows in np.split(order, bounds) if len(order) else []:
        f = flags[rows]
        ok = f == "ok"
        if ok.any():
            flag, use = "ok", rows[ok]
        else:
            flag, use = _aggregate_flag(pd.Series(f)), rows
        l2 = l2_all[use]
        l2 = l2[np.isfinite(l2)]
        if not len(l2):
            result = (float("nan"), float("nan"), flag)
        else:
            mean_l2 = float(np.mean(l2))
            result = (mean_l2, mean_l2 if npx[rows].all() else 2.0**mean_l2, flag)
        out_keys.append(tuple(col[rows[0]] for col in key_cols))
        firsts.append(rows[0])
        combined.append(result)
    return out_keys, np.asarray(firsts, dtype=int), combined


def process_exports(
    items: list[tuple[CytokineExport, pd.DataFrame | None, str]],
    params: CytokineParams,
) -> CytokineResult:
    """Process exports (each with its plate map and batch name) into the step's tables.

    Parameters
    ----------
    items
        (export, plate map or None, batch name) in hand-in order; the first plate measuring
        an analyte is the bridging reference unless ``params.bridge_reference`` says otherwise.
    params
        The step parameters.

    Returns
    -------
    CytokineResult
        Long, by-visit, QC, standards and bridging tables, the fits and the problems found.
    """
    works, qc_rows, problems = [], [], []
    fits: dict[tuple[str, str], CurveFit] = {}
    used: dict[str, set[str]] = {}
    seen_plates: set[str] = set()
    for export, plate_map, batch in items:
        w, q, f, pr = process_export(
            export, plate_map, params, batch=batch, used_plates=used.setdefault(batch, set())
        )
        clash = set(w["plate_id"]) & seen_plates
        if clash:
            ren = {p: f"{p}@{export.path.stem}" for p in clash}
            w["plate_id"] = w["plate_id"].replace(ren)
            for r in q:
                r["plate_id"] = ren.get(r["plate_id"], r["plate_id"])
            f = {(ren.get(p, p), a): v for (p, a), v in f.items()}
        seen_plates |= set(w["plate_id"])
        works.append(w)
        qc_rows += q
        fits.update(f)
        problems += pr
    work = pd.concat(works, ignore_index=True) if works else pd.DataFrame()
    if work.empty:
        raise InputError(
            "no cytokine values in the exports",
            file=", ".join(str(e.path) for e, _, _ in items),
            rule="cytokine.empty",
            expected="at least one measured well",
        )
    own_cv = _replicate_cv(work)
    work["cv_pct"] = np.where(np.isfinite(own_cv), own_cv, work["cv_pct"])
    # log2 before bridging (NPX is already log2)
    with np.errstate(divide="ignore", invalid="ignore"):
        work["log2_value"] = np.where(
            work["scale"] == "npx", work["value"], np.where(work["value"] > 0, np.log2(work["value"]), np.nan)
        )
    work["lloq"], work["uloq"] = work["lloq_s"], work["uloq_s"]
    bridged, adjustments = bridge_plates(
        work,
        reference=params.bridge_reference,
        min_pairs=params.min_bridge_pairs,
        plate_order=list(dict.fromkeys(work["plate_id"])),
    )
    used_vals = substitute(
        bridged["value"].to_numpy(),
        bridged["flag"].to_numpy(),
        bridged["lloq"].to_numpy(),
        bridged["uloq"].to_numpy(),
        rule=params.substitution,
        scale=bridged["scale"].to_numpy(),
    )
    bridged["value_used"] = used_vals
    with np.errstate(divide="ignore", invalid="ignore"):
        bridged["log2_used"] = np.where(
            bridged["scale"] == "npx", used_vals, np.where(used_vals > 0, np.log2(used_vals), np.nan)
        )
    long = work.rename(columns={})[list(LONG_COLUMNS)].copy()
    long["value"] = work["value"]
    # by visit
    pts = bridged[
        (bridged["patient_id"] != "") & (bridged["visit"] != "") & bridged["role"].isin(["sample", "bridge"])
    ]
    by_rows = []
    groups = _combine_groups(pts, ["patient_id", "visit", "analyte"])
    units = pts["unit"].to_numpy(dtype=object)
    for (pid, visit, analyte), first, (mean_l2, value, flag) in zip(*groups, strict=True):
        by_rows.append(
            {
                "patient_id": pid,
                "visit": visit,
                "analyte": analyte,
                "value": value,
                "log2_value": mean_l2,
                "flag": flag,
                "unit": units[first],
                "substitution": params.substitution,
            }
        )
    by_visit = pd.DataFrame(by_rows, columns=list(BY_VISIT_COLUMNS))
    qc = qc_table(qc_rows, bridged, adjustments, params)
    standards, series = _standards_table(qc_rows, fits)
    agreement = pd.DataFrame(
        [r["_agreement"] | {"plate_id": r["plate_id"]} for r in qc_rows if "_agreement" in r],
        columns=list(AGREEMENT_COLUMNS),
    )
    return CytokineResult(
        long=long,
        by_visit=by_visit,
        qc=qc,
        standards=standards,
        adjustments=adjustments,
        fits=fits,
        work=bridged,
        problems=problems,
        params=params,
        series=series,
        agreement=agreement,
    )


#: Columns of ``tables/cytokine_standards.tsv``: the contract's, then the standard's name, what
#: was done to its expected concentration and the value as exported.
STANDARDS_COLUMNS = (
    "plate_id",
    "analyte",
    "model",
    "expected",
    "n",
    "mean_signal",
    "backcalc",
    "recovery_pct",
    "cv_pct",
    "ok",
    "standard",
    "series",
    "expected_exported",
)


def _standards_table(
    qc_rows: list[dict[str, Any]], fits: dict[tuple[str, str], CurveFit]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Per standard level: recovery and %CV, the standard's name and what the series check did.

    ``series`` is ``as_exported``, ``repaired`` (``expected`` is the restored value,
    ``expected_exported`` the damaged one) or ``excluded`` (left out of the fit: ``ok`` False,
    back-calculated on the curve fitted without it, recovery against the exported value).
    """
    rows: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    for r in qc_rows:
        rec = r.get("_series")
        if rec is None:
            continue
        plate, analyte = r["plate_id"], r["analyte"]
        series.append(
            {k: v for k, v in rec.items() if k not in ("names", "excluded_wells")} | {"plate_id": plate}
        )
        fit = fits.get((plate, analyte))
        if fit is None:
            continue
        names = rec.get("names", {})
        repaired = rec.get("repaired", {})
        for lv in fit.standards:
            name = names.get(float(lv["expected"]), "")
            fixed = repaired.get(name)
            rows.append(
                {
                    "plate_id": plate,
                    "analyte": analyte,
                    "model": fit.model,
                    **lv,
                    "standard": name,
                    "series": "repaired" if fixed else "as_exported",
                    "expected_exported": fixed[0] if fixed else lv["expected"],
                }
            )
        for name, exported in rec.get("excluded", {}).items():
            sig = np.asarray(rec.get("excluded_wells", {}).get(name, []), dtype=float)
            back = fit.inverse(sig)[0] if fit.ok and len(sig) else np.array([np.nan])
            mean_b = float(np.nanmean(back)) if np.isfinite(back).any() else float("nan")
            rows.append(
                {
                    "plate_id": plate,
                    "analyte": analyte,
                    "model": fit.model,
                    "expected": exported,
                    "n": len(sig),
                    "mean_signal": float(np.mean(sig)) if len(sig) else float("nan"),
                    "backcalc": mean_b,
                    "recovery_pct": 100.0 * mean_b / exported if exported > 0 else float("nan"),
                    "cv_pct": float("nan"),
                    "ok": False,
                    "standard": name,
                    "series": "excluded",
                    "expected_exported": exported,
                }
            )
    return pd.DataFrame(rows, columns=list(STANDARDS_COLUMNS)), series


# --------------------------------------------------------------------------- outputs


def build_anndata(result: CytokineResult) -> Any:
    """Build the samples x analytes AnnData (layers ``concentration``, ``log2``, ``flags``)."""
    import anndata as ad

    w = result.work[result.work["role"].isin(["sample", "bridge"])]
    samples = list(dict.fromkeys(w["sample_id"]))
    analytes = list(dict.fromkeys(w["analyte"]))
    si = {s: i for i, s in enumerate(samples)}
    ai = {a: j for j, a in enumerate(analytes)}
    log2 = np.full((len(samples), len(analytes)), np.nan)
    conc = np.full_like(log2, np.nan)
    flags = np.full(log2.shape, FLAG_CODES["missing"], dtype=np.int8)
    for (s, a), _, (mean_l2, value, flag) in zip(*_combine_groups(w, ["sample_id", "analyte"]), strict=True):
        i, j = si[s], ai[a]
        log2[i, j], conc[i, j] = mean_l2, value
        flags[i, j] = FLAG_CODES[flag]
    first = w.drop_duplicates("sample_id").set_index("sample_id")
    obs = pd.DataFrame(
        {
            "patient_id": first.loc[samples, "patient_id"].astype(str).to_numpy(),
            "visit": first.loc[samples, "visit"].astype(str).to_numpy(),
            "role": first.loc[samples, "role"].astype(str).to_numpy(),
            "batch": first.loc[samples, "batch"].astype(str).to_numpy(),
            "plates": [";".join(dict.fromkeys(w.loc[w["sample_id"] == s, "plate_id"])) for s in samples],
        },
        index=pd.Index(samples, name="sample_id"),
    )
    fa = w.drop_duplicates("analyte").set_index("analyte")
    qc = result.qc
    var = pd.DataFrame(
        {
            "unit": fa.loc[analytes, "unit"].astype(str).to_numpy(),
            "platform": fa.loc[analytes, "platform"].astype(str).to_numpy(),
            "scale": fa.loc[analytes, "scale"].astype(str).to_numpy(),
            "usable": [
                bool(((qc["analyte"] == a) & ~qc["flag"].str.contains("fit_failed|standards_invalid")).any())
                for a in analytes
            ],
        },
        index=pd.Index(analytes, name="analyte"),
    )
    for frame in (obs, var):
        for col in frame.columns:
            if frame[col].dtype == object:
                frame[col] = pd.Categorical(frame[col])
    adata = ad.AnnData(X=conc.copy(), obs=obs, var=var)
    adata.layers["concentration"] = conc
    adata.layers["log2"] = log2
    adata.layers["flags"] = flags
    adata.uns["flag_codes"] = {k: int(v) for k, v in FLAG_CODES.items()}
    adata.uns["parameters"] = {
        k: (v if v is not None else "none") for k, v in result.params.to_dict().items() if k != "analytes"
    }
    adata.uns["substitution"] = result.params.substitution
    return adata


def write_outputs(result: CytokineResult, tree: ResultsTree, *, plots: bool = True) -> dict[str, Any]:
    """Write the tables, the AnnData and the plots into the results tree; return what was written."""
    written: dict[str, Any] = {"tables": {}, "plots": [], "anndata": None}
    if plots:  # first: drawn in the figure process while the tables are written
        from myocit_omics.cytokines.plots import plot_bridging, plot_standard_curves

        for plate in dict.fromkeys(p for p, _ in result.fits):
            path = tree.plot(f"cytokines/standard_curves_{_safe(plate)}")
            drawing.call(plot_standard_curves, result, plate, path)  # in the figure process
            written["plots"].append(str(path))
        if not result.adjustments.empty:
            path = tree.plot("cytokines/bridge_before_after")
            drawing.call(plot_bridging, result, path)
            written["plots"].append(str(path))
    for name, df in (
        ("cytokines_long", result.long),
        ("cytokines_by_visit", result.by_visit),
        ("cytokine_qc", result.qc),
        ("cytokine_standards", result.standards),
        ("cytokine_bridging", result.adjustments),
        ("cytokine_agreement", result.agreement),
    ):
        written["tables"][name] = str(write_tsv(df, tree.table(name)))
    written["anndata"] = str(write_h5ad(build_anndata(result), tree.anndata("cytokines")))
    write_json(
        {"parameters": result.params.to_dict(), "problems": [p.to_dict() for p in result.problems]},
        tree.table("cytokine_parameters").with_suffix(".json"),
    )
    return written


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def run_cytokines(batches: list[Any], *, config: Any, tree: ResultsTree) -> dict[str, Any]:
    """Run the cytokine step on stored batches; write tables, AnnData and plots.

    Parameters
    ----------
    batches
        Objects with ``files`` (role -> Path: ``export``, ``export_2``, ..., ``plate_map``),
        ``manifest`` (dict; ``platform`` optional), ``batch_id`` and ``name``.
    config
        A :class:`~myocit_omics.config.StudyConfig` (parameters in ``config.cytokines``) or None.
    tree
        The run's results tree.

    Returns
    -------
    dict
        Paths written, counts, parameters (the substitution rule among them) and warnings.
    """
    params = params_from_config(getattr(config, "cytokines", None) if config is not None else None)
    items = []
    for b in batches:
        files = {k: Path(v) for k, v in dict(b.files).items()}
        manifest = dict(getattr(b, "manifest", None) or {})
        plate_map = read_plate_map(files["plate_map"]) if "plate_map" in files else None
        roles = _export_roles(files)
        if not roles:
            raise InputError(
                "cytokine batch without an export file",
                file=str(getattr(b, "name", "batch")),
                column="files",
                value=", ".join(files),
                rule="cytokine.no_export",
                expected="role 'export' (and 'export_2', ...) in manifest.yaml",
            )
        for role in roles:
            export = read_export(files[role], platform=manifest.get("platform"))
            items.append((export, plate_map, str(getattr(b, "name", "") or getattr(b, "batch_id", ""))))
    result = process_exports(items, params)
    written = write_outputs(result, tree, plots=params.plots)
    return {
        **written,
        "n_values": len(result.long),
        "n_samples": int(
            result.work.loc[result.work["role"].isin(["sample", "bridge"]), "sample_id"].nunique()
        ),
        "n_analytes": int(result.long["analyte"].nunique()),
        "n_plates": int(result.long["plate_id"].nunique()),
        "flags": {k: int(v) for k, v in result.long["flag"].value_counts().items()},
        "parameters": result.params.to_dict(),
        "substitution": result.params.substitution,
        "bridging": result.adjustments[
            ["analyte", "plate_id", "adjustment_log2", "n_pairs", "status"]
        ].to_dict("records"),
        "standards_series": [r for r in result.series if r["status"] != "clean"],
        "agreement": [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
            for rec in result.agreement[
                ["plate_id", "analyte", "n_compared", "within_tolerance_share", "status", "likely_cause"]
            ].to_dict("records")
        ],
        "warnings": [p.describe() for p in result.problems],
    }
