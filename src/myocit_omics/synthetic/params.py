"""Every parameter of the synthetic MYOCIT study, in one place (documented in docs/synthetic.md).

The values are plausible, not estimates from trial data: the MYOCIT measurements are not
public. Paediatric PK values in particular are UNCONFIRMED (allometric scaling of adult values).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Visits of the protocol and the week of each.
VISIT_WEEKS: dict[str, int] = {"W0": 0, "W4": 4, "W8": 8, "W12": 12, "W24": 24}
OMICS_VISITS: tuple[str, ...] = ("W0", "W4", "W24")
PK_VISITS: tuple[str, ...] = ("W4", "W8", "W12", "W24")


@dataclass(frozen=True)
class CohortParameters:
    """Patients, treatment and the latent response."""

    n_patients: int = 16
    n_female: int = 10
    age_range: tuple[float, float] = (3.0, 18.0)
    #: median weight (kg) by age (years), both sexes, interpolated; then log-normal scatter.
    weight_by_age: tuple[tuple[float, float], ...] = (
        (3, 14.3),
        (6, 20.7),
        (9, 28.5),
        (12, 40.0),
        (15, 54.0),
        (18, 62.0),
    )
    weight_log_sd: float = 0.12
    #: MSA group sizes (anti-TIF1g, anti-NXP2, anti-MDA5, other).
    msa_counts: tuple[tuple[str, int], ...] = (
        ("anti-TIF1g", 6),
        ("anti-NXP2", 4),
        ("anti-MDA5", 2),
        ("other", 4),
    )
    #: response classes: complete (major response and inactive disease by W24), partial, non.
    response_counts: tuple[tuple[str, int], ...] = (("complete", 6), ("partial", 4), ("non", 6))
    #: protocol dose rule: >= 6 years 4 mg once daily, < 6 years 2 mg once daily.
    dose_age_cut_years: float = 6.0
    dose_mg_old: float = 4.0
    dose_mg_young: float = 2.0
    #: prednisone schedule (mg/kg/day) by week from which it applies; capped at 60 mg/day.
    prednisone_schedule: tuple[tuple[int, float], ...] = (
        (0, 2.0),
        (4, 1.5),
        (8, 1.0),
        (12, 0.6),
        (16, 0.4),
        (20, 0.25),
    )
    prednisone_cap_mg_day: float = 60.0
    #: non-responders taper more slowly: dose x this factor from W12 on (not above the W4 dose).
    prednisone_slow_taper_factor: float = 1.6
    #: latent type I IFN activity at W0 (log2 units for a gene of loading 1): normal, clipped.
    ifn_w0_mean: float = 3.2
    ifn_w0_sd: float = 0.6
    ifn_w0_clip: tuple[float, float] = (1.8, 4.5)
    ifn_mda5_bonus: float = 0.4
    #: two IFN-low patients at W0 (one partial, one non-responder): uniform in this range.
    ifn_low_range: tuple[float, float] = (0.3, 0.8)
    #: IFN activity relative to W0 by response class and visit (then x log-normal noise).
    ifn_trajectory: tuple[tuple[str, tuple[float, ...]], ...] = (
        ("complete", (1.0, 0.30, 0.22, 0.16, 0.10)),
        ("partial", (1.0, 0.45, 0.40, 0.35, 0.30)),
        ("non", (1.0, 0.85, 0.82, 0.80, 0.75)),
    )
    ifn_trajectory_log_sd: float = 0.15
    #: clinical activity relative to W0 by response class and visit (then x log-normal noise).
    activity_trajectory: tuple[tuple[str, tuple[float, ...]], ...] = (
        ("complete", (1.0, 0.45, 0.25, 0.12, 0.03)),
        ("partial", (1.0, 0.78, 0.68, 0.62, 0.56)),
        ("non", (1.0, 0.96, 0.93, 0.91, 0.89)),
    )
    activity_log_sd: float = 0.12
    #: first enrolment, and the enrolment window (days) over which W0 dates are spread.
    first_enrolment: str = "2022-11-10"
    enrolment_window_days: int = 330


@dataclass(frozen=True)
class RnaseqParameters:
    """Whole-blood RNA-seq counts."""

    n_genes: int = 20000
    library_size_range: tuple[float, float] = (10e6, 40e6)
    low_depth_reads: float = 1.5e6
    #: NB dispersion: alpha = (a0 + a1 / mean) * exp(N(0, scatter_sd)); mean = mean count at 20 M reads.
    dispersion_a0: float = 0.05
    dispersion_a1: float = 2.0
    dispersion_scatter_sd: float = 0.35
    #: synthetic genes: share not expressed, and log10 mean count at 20 M reads ~ N(mu, sd).
    share_not_expressed: float = 0.12
    log10_mean_mu: float = 1.9
    log10_mean_sd: float = 0.9
    #: IFN genes: log10 mean ~ N(mu, sd); loading (log2 FC per unit of IFN activity) ~ lognormal.
    ifn_log10_mean_mu: float = 2.6
    ifn_log10_mean_sd: float = 0.6
    ifn_loading_median: float = 0.8
    ifn_loading_log_sd: float = 0.4
    #: loadings of the published core ISGs (Rice 6, Feng 5, Bilgic 3, JDM 5): uniform range.
    core_isg_loading: tuple[float, float] = (1.1, 1.6)
    min_ifn_loading: float = 0.2
    #: log2 effect per mg/kg/day of prednisone on neutrophil / steroid-response and lymphocyte genes.
    neutrophil_per_mgkg: float = 0.4
    steroid_gene_per_mgkg: float = 1.0
    lymphocyte_per_mgkg: float = -0.5
    #: log2 effect per mg/kg/day of prednisone on the monocyte share (glucocorticoids lower monocytes).
    monocyte_per_mgkg: float = -0.5
    #: cell-type dependence of the ISGs: log2 change of an IFN gene per log2 change of the monocyte
    #: share, uniform in this range (ISGs are expressed more in monocytes than in the other cells), so a
    #: fall in monocytes lowers the bulk ISG level with no change of IFN activity.
    isg_monocyte_loading: tuple[float, float] = (0.3, 0.6)
    #: sample-level cell-composition scatter (log2 SD) per cell type.
    celltype_sd: tuple[tuple[str, float], ...] = (
        ("neutrophil", 0.3),
        ("monocyte", 0.3),
        ("t_cell", 0.2),
        ("b_cell", 0.25),
        ("nk_cell", 0.25),
        ("platelet", 0.3),
        ("erythroid", 0.5),
    )
    #: the demo's sorted-cell signature (docs/synthetic.md): each cell type's share of the blood
    #: transcripts at the mean W0 composition, and the share of the cells the generator does not move
    #: (``other``). UNCONFIRMED: plausible whole-blood values, not measured.
    signature_shares: tuple[tuple[str, float], ...] = (
        ("neutrophil", 0.40),
        ("monocyte", 0.06),
        ("t_cell", 0.15),
        ("b_cell", 0.03),
        ("nk_cell", 0.03),
        ("platelet", 0.05),
        ("erythroid", 0.08),
        ("other", 0.20),
    )
    #: per-patient, per-gene effect (natural-log SD) shared by the patient's samples.
    patient_effect_sd: float = 0.2
    #: per-gene offset of sequencing batch seq2 against seq1 (natural-log SD).
    batch_effect_sd: float = 0.15
    #: sex genes: mean count at 20 M reads in the expressing sex, and in the other sex.
    xist_mean: float = 3000.0
    chry_means: tuple[tuple[str, float], ...] = (
        ("RPS4Y1", 2000.0),
        ("DDX3Y", 800.0),
        ("UTY", 300.0),
        ("KDM5D", 400.0),
        ("EIF1AY", 500.0),
        ("ZFY", 150.0),
        ("USP9Y", 300.0),
    )
    off_sex_mean: float = 0.3
    #: ids: ENSG9 + 10 digits (not a real Ensembl range); named genes from 1, synthetic from 100001.
    id_prefix: str = "ENSG9"


@dataclass(frozen=True)
class CytokineParameters:
    """Luminex plates and Simoa IFN-alpha."""

    n_standards: int = 7
    standard_dilution: float = 4.0
    sample_dilution: float = 2.0
    n_bridge: int = 8
    n_plate1_samples: int = 32
    #: multiplicative offset of plate 2 on sample concentrations: global x per-analyte log-normal.
    plate2_offset_global: float = 1.45
    plate2_offset_log_sd: float = 0.08
    #: well-to-well noise of the median MFI: multiplicative (CV) on the specific signal, plus an
    #: additive background noise (MFI) in every well, background wells included.
    mfi_cv: float = 0.02
    mfi_additive_sd: float = 0.5
    #: the kit's standard range: the lowest standard's specific signal (net MFI above A) is drawn
    #: log-uniform in this range and the 5PL's C solved for it, as a kit sets its standards so that
    #: the lowest one is measurable above the background.
    lowest_standard_net_mfi: tuple[float, float] = (25.0, 60.0)
    #: the kit's 5PL shape: |D| (xPONENT's D is negative) and F, uniform in these ranges; with the
    #: lowest standard fixed above, they decide where the top standard sits on the curve.
    hill_slope_range: tuple[float, float] = (0.85, 1.0)
    asymmetry_range: tuple[float, float] = (0.75, 1.05)
    #: bridge samples: chosen after plate 1 as the plate-1 samples quantifiable for the most
    #: analytes (a lab re-runs high/pooled samples, not random ones); ties by IL-6.
    bridge_rank_analyte: str = "IL-6"
    background_mfi: tuple[float, float] = (18.0, 36.0)
    bead_count_range: tuple[int, int] = (45, 130)
    min_bead_count: int = 50
    #: error of the instrument's own 5PL fit: coefficients x exp(N(0, sd)).
    fit_coefficient_log_sd: float = 0.02
    patient_log_sd: float = 0.25
    noise_log_sd: float = 0.2
    simoa_lloq_fg_ml: float = 3.0
    simoa_uloq_fg_ml: float = 50000.0
    simoa_dilution: float = 3.0
    simoa_cv: float = 0.08


@dataclass(frozen=True)
class PkParameters:
    """One-compartment oral model, allometric clearance.

    Adult values from the SmPC; the paediatric values they give are UNCONFIRMED.
    """

    cl_70_l_h: float = 8.1
    v_70_l: float = 76.0
    ka_per_h: float = 3.0
    bioavailability: float = 0.79
    cl_exponent: float = 0.75
    v_exponent: float = 1.0
    tau_h: float = 24.0
    iiv_cl_sd: float = 0.25
    iiv_v_sd: float = 0.20
    proportional_error_sd: float = 0.15
    lloq_ng_ml: float = 0.5
    #: sampling: share drawn pre-dose (20-28 h after the last dose), after a missed dose (30-50 h),
    #: the rest 0.5-6 h after the dose.
    share_trough: float = 0.55
    share_missed_dose: float = 0.06


@dataclass(frozen=True)
class DemoParameters:
    """All parameters of the demo study."""

    cohort: CohortParameters = field(default_factory=CohortParameters)
    rnaseq: RnaseqParameters = field(default_factory=RnaseqParameters)
    cytokines: CytokineParameters = field(default_factory=CytokineParameters)
    pk: PkParameters = field(default_factory=PkParameters)

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as plain data (for the truth folder)."""
        return _plain(asdict(self))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [_plain(v) for v in obj]
    return obj
