"""The reference of the IFN scores: which samples define 'normal', frozen.

Two kinds (``reference`` in study.yaml, ``--reference`` on the command line):

``healthy_control``
    The samples with role ``healthy_control`` in the sample sheet.
``pooled:<visit>``
    The pooled patient samples of one visit, ``pooled:W0`` for MYOCIT, which has no healthy
    controls. Scores are then relative to the cohort's baseline and a positive call means
    "above the baseline mean + 2 SD", not "IFN-high against healthy children" (domain notes,
    caveat c): every output says which reference it used.

A :class:`ScoreReference` holds the reference samples' log expression on the universe of genes;
all per-gene quantities (median, mean, SD), the scanpy control genes, the ssGSEA span and the
positive thresholds (mean + 2 SD of the reference samples' own scores) derive from it, so they
are frozen with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from myocit_omics.errors import InputError

#: Smallest number of reference samples: an SD needs several.
MIN_REFERENCE_SAMPLES = 3


def parse_reference(spec: str) -> tuple[str, str | None]:
    """Parse ``healthy_control`` or ``pooled:<visit>`` into (kind, visit).

    Raises
    ------
    InputError
        For anything else.
    """
    spec = str(spec).strip()
    if spec == "healthy_control":
        return "healthy_control", None
    m = re.fullmatch(r"pooled:(\S+)", spec)
    if m:
        return "pooled_visit", m.group(1)
    raise InputError(
        "unknown IFN score reference",
        file="--reference",
        value=spec,
        expected="'healthy_control' or 'pooled:<visit>' (e.g. 'pooled:W0')",
        rule="reference.spec",
    )


def reference_label(kind: str, visit: str | None) -> str:
    """Inverse of :func:`parse_reference` (``pooled_visit``, ``W0`` -> ``pooled:W0``)."""
    return "healthy_control" if kind == "healthy_control" else f"pooled:{visit}"


def select_reference_samples(samples: pd.DataFrame, spec: str, *, file: str = "sample sheet") -> list[str]:
    """Return the ids of the reference samples of a sample table.

    Parameters
    ----------
    samples
        Indexed by sample id, with columns ``visit`` and, optionally, ``role``.
    spec
        ``healthy_control`` or ``pooled:<visit>``.
    file
        Named in error messages.

    Raises
    ------
    InputError
        If fewer than :data:`MIN_REFERENCE_SAMPLES` samples qualify.
    """
    kind, visit = parse_reference(spec)
    role = samples["role"].astype(str) if "role" in samples else pd.Series("patient", index=samples.index)
    if kind == "healthy_control":
        mask = role == "healthy_control"
        expected = f"at least {MIN_REFERENCE_SAMPLES} samples with role 'healthy_control'"
    else:
        if "visit" not in samples:
            raise InputError(
                "no 'visit' column, so a pooled-visit reference cannot be chosen",
                file=file,
                column="visit",
                expected="a visit per sample",
                rule="reference.visit",
            )
        mask = (samples["visit"].astype(str) == visit) & (role != "healthy_control")
        expected = f"at least {MIN_REFERENCE_SAMPLES} patient samples at visit {visit!r}"
    ids = [str(s) for s in samples.index[mask.to_numpy()]]
    if len(ids) < MIN_REFERENCE_SAMPLES:
        raise InputError(
            "too few reference samples for the IFN scores",
            file=file,
            column="role" if kind == "healthy_control" else "visit",
            value=len(ids),
            expected=expected,
            rule="reference.too_few",
            fix="choose another reference (healthy_control or pooled:<visit>)",
        )
    return ids


@dataclass
class ScoreReference:
    """Frozen reference quantities of the IFN scores.

    Parameters
    ----------
    label
        ``healthy_control`` or ``pooled:<visit>`` (written in every output).
    sample_ids
        The reference samples.
    genes
        The universe: gene symbols, the columns of ``log`` (and of any matrix scored against it).
    log
        Reference samples x genes, ``log2(normalised count + 1)``.
    ssgsea_span
        Frozen ssGSEA normaliser; when None, the range of the reference samples' raw scores over
        the sets scored in the call.
    version, checksum
        Of the frozen expression reference this came from, when there is one.
    """

    label: str
    sample_ids: list[str]
    genes: list[str]
    log: np.ndarray
    ssgsea_span: float | None = None
    version: str | None = None
    checksum: str | None = None
    _controls: dict[tuple[str, ...], list[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.log = np.asarray(self.log, dtype=float)
        if self.log.shape != (len(self.sample_ids), len(self.genes)):
            raise ValueError(
                f"log has shape {self.log.shape}, expected ({len(self.sample_ids)}, {len(self.genes)})"
            )
        if len(self.sample_ids) < MIN_REFERENCE_SAMPLES:
            raise InputError(
                "too few reference samples for the IFN scores",
                file="reference",
                value=len(self.sample_ids),
                expected=f">= {MIN_REFERENCE_SAMPLES}",
                rule="reference.too_few",
            )

    @cached_property
    def gene_index(self) -> pd.Index:
        """Universe as an index (position lookup)."""
        return pd.Index(self.genes)

    @cached_property
    def median_linear(self) -> np.ndarray:
        """Per-gene median of ``normalised count + 1`` (linear scale, for ``median_fc``)."""
        return np.median(np.exp2(self.log), axis=0)

    @cached_property
    def mean_log(self) -> np.ndarray:
        """Per-gene mean of the log expression."""
        return self.log.mean(axis=0)

    @cached_property
    def sd_log(self) -> np.ndarray:
        """Per-gene SD (ddof 1) of the log expression."""
        return self.log.std(axis=0, ddof=1)

    @cached_property
    def usable(self) -> np.ndarray:
        """Genes that vary among the reference samples (a z-score needs SD > 0)."""
        return self.sd_log > 1e-12

    def controls(
        self, genes: list[str], *, ctrl_size: int = 50, n_bins: int = 25, random_state: int = 0
    ) -> list[str]:
        """Scanpy ``score_genes`` control genes of a set, drawn from the reference bins (cached)."""
        from myocit_omics.interferon.methods import score_genes_controls

        key = (*sorted(genes), f"{ctrl_size}/{n_bins}/{random_state}")
        if key not in self._controls:
            self._controls[key] = score_genes_controls(
                self.log, self.genes, genes, ctrl_size=ctrl_size, n_bins=n_bins, random_state=random_state
            )
        return self._controls[key]

    def manifest(self) -> dict[str, object]:
        """Small dict for the run manifest."""
        return {
            "reference": self.label,
            "n_samples": len(self.sample_ids),
            "samples": list(self.sample_ids),
            "version": self.version,
            "checksum_sha256": self.checksum,
            "ssgsea_span": self.ssgsea_span,
        }


def positive_threshold(reference_scores: np.ndarray) -> float:
    """Mean + 2 SD (ddof 1) of the reference samples' scores: the positive call threshold."""
    s = np.asarray(reference_scores, dtype=float)
    s = s[np.isfinite(s)]
    if len(s) < 2:
        return float("nan")
    return float(s.mean() + 2 * s.std(ddof=1))
