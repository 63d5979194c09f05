"""Design matrices for paired DE: formula parsing, the rank check, the missing-visit rule.

The design matrix is built here, not by pydeseq2's formula engine, so that the check
before fitting looks at exactly the matrix that will be fitted, and so that an interaction
such as ``visit:responder`` in ``~ patient + visit + visit:responder`` is coded the way a
paired design needs (responder is constant within a patient, so it has no main effect: the
interaction columns are the non-reference visit levels times the non-reference responder
level). Coding is treatment coding (R's default): an ``Intercept`` column, then one
column per non-reference level, named ``variable[T.level]``; a numeric covariate is one
column; ``C(x)`` forces a numeric column to be categorical.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from myocit_omics.de.contrasts import ContrastSpec
from myocit_omics.errors import AnalysisError, InputError, Problem, ValidationFailed

#: Short names accepted in formulas for the study's obs columns.
ALIASES: dict[str, str] = {"patient": "patient_id", "batch": "seq_batch", "donor": "patient_id"}

#: How patients without both visits of a contrast are handled.
MissingVisitRule = Literal["keep", "drop"]
RULES: dict[str, str] = {
    "keep": "patients missing a visit stay in the one model of all visits (they inform the size "
            "factors and dispersions; a patient with one sample adds nothing to the fold change)",
    "drop": "for each contrast, only the two visits of patients who have both are fitted; "
            "patients missing either visit are dropped from that contrast",
}

_TERM = re.compile(r"^(C\((?P<cat>[^()]+)\)|(?P<name>[A-Za-z_][A-Za-z0-9_.]*))$")


@dataclass(frozen=True)
class Factor:
    """One variable of the design.

    Attributes
    ----------
    column
        The obs column.
    categorical
        True for a factor (treatment coded), False for a numeric covariate.
    levels
        Factor levels, reference first (empty for a numeric covariate).
    """

    column: str
    categorical: bool
    levels: tuple[str, ...] = ()

    @property
    def reference(self) -> str | None:
        """The reference level (None for a numeric covariate)."""
        return self.levels[0] if self.levels else None


@dataclass
class Design:
    """A design matrix and what each of its columns means.

    Attributes
    ----------
    formula
        The formula as written (``~ patient + visit``).
    terms
        Each term as a tuple of obs columns (one for a main effect, two or more for an interaction).
    factors
        Column -> :class:`Factor`.
    matrix
        Samples x coefficients (float), index = sample ids.
    columns
        Coefficient name -> ((obs column, level or None), ...) it is made of; ``Intercept`` -> ().
    """

    formula: str
    terms: list[tuple[str, ...]]
    factors: dict[str, Factor]
    matrix: pd.DataFrame
    columns: dict[str, tuple[tuple[str, str | None], ...]] = field(default_factory=dict)

    @property
    def variables(self) -> list[str]:
        """Obs columns used by the design, in formula order."""
        return list(dict.fromkeys(c for t in self.terms for c in t))

    def coefficient(self, pairs: Sequence[tuple[str, str]]) -> str | None:
        """Return the coefficient whose column is made of exactly these (column, level) pairs."""
        wanted = tuple(sorted(pairs))
        for name, parts in self.columns.items():
            if tuple(sorted((c, lv) for c, lv in parts if lv is not None)) == wanted and all(
                lv is not None for _, lv in parts
            ):
                return name
        return None

    def contrast_vector(self, contrast: ContrastSpec) -> tuple[np.ndarray, str | None]:
        """Return the contrast vector of ``contrast`` and the single coefficient it equals, if any.

        Parameters
        ----------
        contrast
            A plain contrast (target minus reference level of its variable) or an interaction
            contrast (the ``variable[T.target]:interaction[T.level]`` coefficient minus the same for
            the reference level, if that is not the base level).

        Returns
        -------
        vector : numpy.ndarray
            Weights over the coefficients.
        coefficient : str or None
            The coefficient name when the vector is one coefficient (shrinkage needs it).

        Raises
        ------
        AnalysisError
            If a level needed by the contrast has no coefficient in this design.
        """
        names = list(self.matrix.columns)
        vec = np.zeros(len(names))
        extra = [(contrast.interaction, contrast.interaction_level)] if contrast.interaction else []
        base = self.factors[contrast.variable].reference
        used: list[str] = []
        for level, sign in ((contrast.target, 1.0), (contrast.reference, -1.0)):
            if level == base:
                continue
            coef = self.coefficient([(contrast.variable, level), *extra])
            if coef is None:
                raise AnalysisError(
                    f"contrast {contrast.id!r}: the design {self.formula!r} has no coefficient for "
                    f"{contrast.variable}={level}" + (f" with {extra[0][0]}={extra[0][1]}" if extra else "")
                    + f"; coefficients are {names}")
            vec[names.index(coef)] += sign
            used.append(coef)
        single = used[0] if len(used) == 1 and vec[names.index(used[0])] == 1.0 else None
        return vec, single


def _visit_sort_key(level: str) -> tuple[int, float, str]:
    m = re.fullmatch(r"W(\d+)", level)
    if m:
        return (0, float(m.group(1)), level)
    m = re.fullmatch(r"UNS-(\d+)", level)
    if m:
        return (1, float(m.group(1)), level)
    try:
        return (2, float(level), level)
    except ValueError:
        return (3, 0.0, level)


def natural_levels(values: pd.Series) -> list[str]:
    """Return the distinct values as strings in natural order (W0 < W4 < W24; False < True)."""
    levels = {str(v) for v in values.dropna().unique()}
    if levels <= {"False", "True"}:
        return [lv for lv in ("False", "True") if lv in levels]
    return sorted(levels, key=_visit_sort_key)


def parse_formula(formula: str, columns: Sequence[str], *, source: str = "design") -> list[tuple[str, ...]]:
    """Parse ``~ a + b + a:c`` into terms of obs columns.

    Parameters
    ----------
    formula
        The design formula. ``patient`` and ``batch`` stand for ``patient_id`` and ``seq_batch``
        when the sample table has no column of that name; ``C(x)`` marks ``x`` as categorical.
    columns
        The sample table's columns.
    source
        Where the formula came from, for messages.

    Returns
    -------
    list of tuple of str
        Terms; a column wrapped in ``C()`` is returned as ``"C(x)"``.

    Raises
    ------
    InputError
        If the formula is malformed or names a column the sample table does not have.
    """
    text = formula.strip()
    if not text.startswith("~"):
        raise InputError("a design formula starts with '~'", file=source, value=formula,
                         expected="e.g. '~ patient + visit'", rule="design.syntax")
    body = text[1:].strip()
    if not body:
        raise InputError("the design formula has no terms", file=source, value=formula,
                         expected="e.g. '~ patient + visit'", rule="design.syntax")
    terms: list[tuple[str, ...]] = []
    for raw in body.split("+"):
        parts = []
        for piece in raw.split(":"):
            piece = piece.strip()
            m = _TERM.match(piece)
            if not m:
                raise InputError("cannot read this term of the design formula", file=source, value=piece,
                                 expected="column names joined by '+' (and ':' for an interaction)",
                                 rule="design.syntax")
            name = m.group("cat") or m.group("name")
            name = name.strip()
            if name not in columns and ALIASES.get(name) in columns:
                name = ALIASES[name]
            if name not in columns:
                raise InputError("the design formula names a column the sample table does not have",
                                 file=source, column=name, value=formula,
                                 expected=f"one of {sorted(map(str, columns))}", rule="design.column")
            parts.append(f"C({name})" if m.group("cat") else name)
        term = tuple(parts)
        if term in terms:
            continue
        terms.append(term)
    return terms


def build_design(
    obs: pd.DataFrame,
    formula: str,
    *,
    reference_levels: Mapping[str, str] | None = None,
    source: str = "samples",
) -> Design:
    """Build the treatment-coded design matrix of ``formula`` on the samples of ``obs``.

    Parameters
    ----------
    obs
        One row per sample (index = sample id).
    formula
        ``~ patient + visit`` and the like (see :func:`parse_formula`).
    reference_levels
        Column -> reference level (e.g. ``{"visit": "W0"}``); other factors use their first
        level in natural order (W0 < W4 < W24, False < True, else alphabetical).
    source
        Name of the sample table, for messages.

    Returns
    -------
    Design

    Raises
    ------
    ValidationFailed
        If a design variable is missing for some samples (each named), or a reference level
        does not occur.
    """
    terms_raw = parse_formula(formula, list(obs.columns), source=f"{source}: design {formula!r}")
    reference_levels = dict(reference_levels or {})
    factors: dict[str, Factor] = {}
    problems: list[Problem] = []
    terms: list[tuple[str, ...]] = []
    for term in terms_raw:
        cols = []
        for name in term:
            forced = name.startswith("C(")
            col = name[2:-1] if forced else name
            cols.append(col)
            if col in factors:
                continue
            values = obs[col]
            missing = values.isna() | values.astype(str).str.strip().isin(["", "NA", "nan", "None"])
            for sid in obs.index[missing]:
                problems.append(Problem(
                    file=source, row=None, column=col, value=str(values.get(sid)),
                    message=f"sample {sid!r} has no value for design variable {col!r}",
                    expected="a value for every analysed sample (or leave the sample out explicitly)",
                    rule="design.missing_value"))
            numeric = (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))
            if numeric and not forced and col not in ("patient_id", "visit"):
                factors[col] = Factor(column=col, categorical=False)
                continue
            levels = natural_levels(values[~missing])
            ref = reference_levels.get(col)
            if ref is not None:
                if ref not in levels:
                    problems.append(Problem(
                        file=source, column=col, value=ref, message="reference level not found",
                        expected=f"one of {levels}", rule="design.reference"))
                else:
                    levels = [ref, *[lv for lv in levels if lv != ref]]
            factors[col] = Factor(column=col, categorical=True, levels=tuple(levels))
        terms.append(tuple(cols))
    if problems:
        raise ValidationFailed(problems, context=f"design {formula!r} on {source}")

    blocks: dict[str, np.ndarray] = {"Intercept": np.ones(len(obs))}
    meaning: dict[str, tuple[tuple[str, str | None], ...]] = {"Intercept": ()}

    def columns_of(col: str) -> list[tuple[str, np.ndarray, tuple[tuple[str, str | None], ...]]]:
        f = factors[col]
        if not f.categorical:
            return [(col, obs[col].to_numpy(dtype=float), ((col, None),))]
        as_str = obs[col].astype(str).to_numpy()
        return [(f"{col}[T.{lv}]", (as_str == lv).astype(float), ((col, lv),)) for lv in f.levels[1:]]

    for term in terms:
        parts = [columns_of(c) for c in term]
        combos = parts[0]
        for nxt in parts[1:]:
            combos = [(f"{n1}:{n2}", v1 * v2, m1 + m2) for n1, v1, m1 in combos for n2, v2, m2 in nxt]
        for name, values, parts_meaning in combos:
            blocks[name] = values
            meaning[name] = parts_meaning
    matrix = pd.DataFrame(blocks, index=obs.index)
    return Design(formula=formula, terms=terms, factors=factors, matrix=matrix, columns=meaning)


def _describe_column(design: Design, obs: pd.DataFrame, name: str) -> str:
    parts = design.columns[name]
    if not parts:
        return "the intercept (every sample)"
    text = " and ".join(f"{c}={lv}" if lv is not None else f"{c} (numeric)" for c, lv in parts)
    n = int((design.matrix[name] != 0).sum())
    if n == 0:
        return f"{text} (no sample has it)"
    samples = list(obs.index[design.matrix[name].to_numpy() != 0])
    shown = ", ".join(map(str, samples[:6])) + (", ..." if len(samples) > 6 else "")
    return f"{text} ({n} sample(s): {shown})"


def check_full_rank(design: Design, obs: pd.DataFrame, *, context: str) -> None:
    """Check, before any fitting, that the design has full column rank and residual degrees of freedom.

    Parameters
    ----------
    design
        The design built on ``obs``.
    obs
        The samples of the fit.
    context
        What is being fitted (contrast ids), for the message.

    Raises
    ------
    AnalysisError
        Naming the coefficients (patients, levels) that are linear combinations of each other,
        and what to do about it; or saying that there are no residual degrees of freedom.
    """
    x = design.matrix.to_numpy(dtype=float)
    n, p = x.shape
    rank = int(np.linalg.matrix_rank(x))
    patient_col = "patient_id" if "patient_id" in design.factors else None
    if rank < p:
        _, s, vt = np.linalg.svd(x, full_matrices=True)
        tol = s.max() * max(x.shape) * np.finfo(float).eps if s.size else 0.0
        null = vt[int((s > tol).sum()):]
        names = list(design.matrix.columns)
        groups: list[list[str]] = []
        for vec in null:
            involved = [names[i] for i in np.flatnonzero(np.abs(vec) > 1e-8)]
            if involved and involved not in groups:
                groups.append(involved)
        patients: set[str] = set()
        levels: set[str] = set()
        for g in groups:
            for name in g:
                for col, lv in design.columns[name]:
                    if lv is None:
                        levels.add(f"{col} (numeric)")
                    elif col == patient_col:
                        patients.add(lv)
                    else:
                        levels.add(f"{col}={lv}")
        lines = [
            f"{context}: the design {design.formula!r} is rank-deficient (rank {rank} < {p} coefficients "
            f"on {n} samples), so it cannot be fitted. These coefficients are linear combinations of "
            "each other:"
        ]
        for g in groups[:5]:
            lines.append("  - " + "; ".join(_describe_column(design, obs, name) for name in g))
        if len(groups) > 5:
            lines.append(f"  - ... and {len(groups) - 5} more dependencies")
        if patients:
            lines.append(f"Patients involved: {', '.join(sorted(patients))}.")
        if levels:
            lines.append(f"Levels involved: {', '.join(sorted(levels))}.")
        lines.append(
            "Fix: remove a covariate that is constant within patients (it is absorbed by the patient "
            "term), merge or drop a level that only one patient has, or leave out the patients named.")
        raise AnalysisError("\n".join(lines))
    if n - p < 1:
        raise AnalysisError(
            f"{context}: the design {design.formula!r} has {p} coefficients for {n} samples, so there are "
            "no residual degrees of freedom to estimate dispersions; at least two patients need both "
            "visits of the contrast")


@dataclass(frozen=True)
class SampleSelection:
    """The samples of one contrast under the missing-visit rule.

    Attributes
    ----------
    samples
        Sample ids fitted for this contrast.
    unpaired
        Patients without both visits of the contrast (with the visits they have).
    dropped
        Patients dropped from this contrast's fit (empty under rule ``keep``).
    n_pairs
        Patients with both visits.
    """

    samples: tuple[str, ...]
    unpaired: dict[str, list[str]]
    dropped: tuple[str, ...]
    n_pairs: int


def select_samples(obs: pd.DataFrame, contrast: ContrastSpec, *, rule: MissingVisitRule) -> SampleSelection:
    """Apply the missing-visit rule to one contrast.

    Parameters
    ----------
    obs
        The analysed samples (index = sample id) with the contrast's variable and pairing column.
    contrast
        The contrast.
    rule
        ``keep``: every sample of ``obs`` is fitted (one model for all contrasts); ``drop``: only
        the contrast's two levels, of the patients who have both.

    Returns
    -------
    SampleSelection

    Raises
    ------
    InputError
        If ``rule`` is unknown.
    AnalysisError
        If fewer than two patients have both visits of a paired contrast.
    """
    if rule not in RULES:
        raise InputError("unknown missing-visit rule", file="study.yaml", column="de.missing_visit_rule",
                         value=rule, expected=f"one of {sorted(RULES)}", rule="de.rule")
    var = obs[contrast.variable].astype(str)
    if contrast.paired_by is None:
        keep = obs.index if rule == "keep" else obs.index[var.isin(contrast.visits)]
        return SampleSelection(samples=tuple(keep), unpaired={}, dropped=(), n_pairs=0)
    pid = obs[contrast.paired_by].astype(str)
    have = var[var.isin(contrast.visits)].groupby(pid).agg(lambda s: sorted(set(s)))
    all_patients = sorted(pid.unique())
    paired = [p for p in all_patients if len(have.get(p, [])) == 2]
    unpaired = {p: sorted(set(var[pid == p]), key=_visit_sort_key) for p in all_patients if p not in paired}
    if len(paired) < 2:
        raise AnalysisError(
            f"contrast {contrast.id!r} ({contrast.describe()}): only {len(paired)} patient(s) have both "
            f"{contrast.reference} and {contrast.target} ({', '.join(paired) or 'none'}); a paired "
            "contrast needs at least two. Patients and the visits they have: "
            + "; ".join(f"{p}: {', '.join(v) or 'none'}" for p, v in unpaired.items()))
    if rule == "keep":
        return SampleSelection(samples=tuple(obs.index), unpaired=unpaired, dropped=(), n_pairs=len(paired))
    mask = var.isin(contrast.visits) & pid.isin(paired)
    dropped = tuple(p for p in unpaired if (var[pid == p].isin(contrast.visits)).any())
    return SampleSelection(samples=tuple(obs.index[mask]), unpaired=unpaired, dropped=dropped,
                           n_pairs=len(paired))
