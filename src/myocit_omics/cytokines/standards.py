"""Damaged standard series: find the standard that breaks a constant dilution series, repair or drop it.

A kit's standards are a dilution series with one constant ratio (1:2, 1:3, 1:4 ...): on a log
scale the expected concentrations lie on a straight line against the standard's number
(``Standard1``, ``S2``, ``S003`` ...; numbers may skip a level). A spreadsheet re-save in a
comma-decimal locale turns ``215.625`` into ``215625`` (../shared/domain/cytokine_exports.md
1.1); a typing slip turns it into anything.

How a series is judged (:func:`judge_series`):

1. **clean**: consecutive steps (per standard number) agree with their median step within
   ``tolerance`` (0.5 of a step: a 1:4 series may have one 1:3 step) and keep one direction.
2. Otherwise the largest set of standards that lies on one line (within ``tolerance`` of a
   step) is found; the others are the *breaks*. At least 4 standards and more than half of
   the series must be on the line, else the series **cannot be reconstructed** (no constant
   ratio). Two or more breaks cannot be reconstructed either: a 1:2 series with several
   power-of-ten slips is also a 1:5 series with others (2^k x 5^k = 10^k), so the data do not
   tell which standards are damaged.
3. The one break is **repairable** when a power of ten times its value (10^-9 .. 10^9, never 1)
   equals the value the line pins at its number within ``repair_tolerance`` (2 %, the
   rounding of printed values); the line is fitted on the unbroken standards.

What happens (parameter ``standards_series``; every decision is named in the QC table's
``flag``, the standards table, the long table's ``curve_note`` and the run's warnings):

``repair`` (the default: what a lab does by hand, re-type the lost decimal point, keeping
    every standard level in the curve)
    a repairable break is restored to the pinned value; a break that is not repairable is
    left out of the fit.
``exclude``
    no value is changed: the break is left out of the fit.
``refuse``
    a break refuses the analyte's curve (the behaviour before this rule existed).

Two or more breaks, or no constant ratio, refuse the curve in every mode.

A refused curve is flagged ``standards_invalid`` (values ``fit_failed``) with the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

#: Values of the ``standards_series`` parameter.
SERIES_MODES: tuple[str, ...] = ("repair", "exclude", "refuse")


@dataclass
class SeriesVerdict:
    """What was decided about one analyte's standard series.

    Attributes
    ----------
    status
        ``clean``, ``repaired``, ``excluded`` or ``refused``.
    repaired
        Standard name -> (value as exported, value restored).
    excluded
        Standard name -> value as exported (left out of the fit).
    reason
        Why the series was refused, or what was done (one line, names standards and values).
    ratio
        The series' dilution ratio (e.g. 2.0 for 1:2), NaN when none.
    """

    status: str
    repaired: dict[str, tuple[float, float]] = field(default_factory=dict)
    excluded: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    ratio: float = float("nan")

    def expected_of(self, standard: str, value: float) -> float:
        """Return the expected concentration to fit with (NaN for an excluded standard)."""
        if standard in self.excluded:
            return float("nan")
        if standard in self.repaired:
            return self.repaired[standard][1]
        return value

    def note(self) -> str:
        """Short per-value note: ``standard_repaired(Standard5:215625->215.625)`` etc., or ""."""
        parts = [f"standard_repaired({s}:{a:.12g}->{b:.12g})" for s, (a, b) in self.repaired.items()]
        parts += [f"standard_excluded({s}:{v:.12g})" for s, v in self.excluded.items()]
        if self.status == "refused":
            parts.append("standards_invalid")
        return ";".join(parts)


def standard_number(name: str) -> int | None:
    """Return the number a standard's name ends with (``Standard12`` -> 12, ``S003`` -> 3), else None."""
    m = re.search(r"(\d+)\s*$", str(name))
    return int(m.group(1)) if m else None


def _consistent(idx: np.ndarray, lv: np.ndarray, tolerance: float) -> bool:
    if len(idx) < 2:
        return True
    steps = np.diff(lv) / np.diff(idx)
    med = float(np.median(steps))
    if med == 0:
        return False
    return bool(
        np.all(np.sign(steps) == np.sign(med)) and np.all(np.abs(steps - med) <= tolerance * abs(med))
    )


def judge_series(
    series: list[tuple[str, float]],
    *,
    mode: str = "repair",
    tolerance: float = 0.5,
    repair_tolerance: float = 0.02,
    min_levels: int = 4,
) -> SeriesVerdict:
    """Judge one analyte's standard series and decide what to fit with.

    Parameters
    ----------
    series
        (standard name, expected concentration) for every standard with a value, any order.
    mode
        ``repair``, ``exclude`` or ``refuse`` (see the module docstring).
    tolerance
        Largest deviation of a step from the series' step, as a share of the step.
    repair_tolerance
        Largest relative difference between a power-of-ten repair and the value the series pins.
    min_levels
        Fewest standards that must remain on the line.

    Returns
    -------
    SeriesVerdict
    """
    if mode not in SERIES_MODES:
        raise ValueError(f"standards_series must be one of {', '.join(SERIES_MODES)}, not {mode!r}")
    names = [s for s, _ in series]
    vals = np.array([v for _, v in series], dtype=float)
    if len(series) < 2:
        return SeriesVerdict("clean")
    nums = [standard_number(s) for s in names]
    if any(n is None for n in nums) or len(set(nums)) != len(nums):
        nums = list(range(1, len(names) + 1))  # export order
    order = np.argsort(nums, kind="stable")
    names = [names[i] for i in order]
    vals = vals[order]
    idx = np.array([nums[i] for i in order], dtype=float)
    bad_sign = [names[i] for i in range(len(vals)) if not vals[i] > 0]
    pos = vals > 0
    lv = np.where(pos, np.log(np.where(pos, vals, 1.0)), np.nan)
    if not bad_sign and _consistent(idx, lv, tolerance):
        step = float(np.median(np.diff(lv) / np.diff(idx)))
        return SeriesVerdict("clean", ratio=math.exp(abs(step)))

    # the largest set of standards on one line (lines through every pair of positive points)
    n = len(vals)
    best: np.ndarray | None = None
    best_key: tuple[int, float] = (0, math.inf)
    cand = [i for i in range(n) if pos[i]]
    for a in range(len(cand)):
        for b in range(a + 1, len(cand)):
            i, j = cand[a], cand[b]
            slope = (lv[j] - lv[i]) / (idx[j] - idx[i])
            if slope == 0:
                continue
            pred = lv[i] + slope * (idx - idx[i])
            res = np.where(pos, np.abs(lv - pred), np.inf)
            inl = res <= tolerance * abs(slope)
            if inl.sum() < 2 or not _consistent(idx[inl], lv[inl], tolerance):
                continue
            key = (int(inl.sum()), float(np.sum(res[inl] ** 2)))
            if key[0] > best_key[0] or (key[0] == best_key[0] and key[1] < best_key[1]):
                best, best_key = inl, key
    kept = int(best.sum()) if best is not None else 0
    listing = ", ".join(f"{s}={v:.12g}" for s, v in zip(names, vals, strict=True))
    if best is None or kept < min_levels or kept * 2 <= n:
        return SeriesVerdict(
            "refused",
            reason=(
                f"the standards do not form a constant-ratio dilution series (at most {kept} of {n} "
                f"lie on one; {min_levels} and a majority are needed), so the series cannot be "
                f"reconstructed: {listing}"
            ),
        )
    # the line of the unbroken standards
    slope, icept = np.polyfit(idx[best], lv[best], 1)
    ratio = math.exp(abs(float(slope)))
    breaks = [int(k) for k in np.flatnonzero(~best)]
    if len(breaks) > 1:
        return SeriesVerdict(
            "refused",
            reason=(
                f"{len(breaks)} standards break the 1:{ratio:.3g} dilution series "
                f"({', '.join(f'{names[k]} {vals[k]:.12g}' for k in breaks)}); one break can be restored or "
                "left out, several cannot be told apart from a different series: correct the expected "
                "concentrations and export again"
            ),
            ratio=ratio,
        )
    k = breaks[0]
    name, value = names[k], float(vals[k])
    pinned = math.exp(float(icept + slope * idx[k]))
    fix = None
    if value > 0:
        p = round(math.log10(pinned / value))
        restored = float(f"{value * 10.0**p:.12g}")
        if p != 0 and abs(p) <= 9 and abs(restored / pinned - 1.0) <= repair_tolerance:
            fix = restored
    if mode == "refuse":
        what = (
            f"{value:.12g} restored would be {fix:.12g}"
            if fix is not None
            else f"{value:.12g}, expected about {pinned:.4g}"
        )
        return SeriesVerdict(
            "refused",
            reason=f"standard {name} breaks the 1:{ratio:.3g} dilution series ({what}); "
            "standards_series is 'refuse'",
            ratio=ratio,
        )
    if mode == "repair" and fix is not None:
        return SeriesVerdict(
            "repaired",
            repaired={name: (value, fix)},
            reason=f"standard {name}: expected concentration {value:.12g} restored to {fix:.12g}, the value "
            f"the 1:{ratio:.3g} dilution series pins (a power-of-ten slip, e.g. a lost decimal point)",
            ratio=ratio,
        )
    return SeriesVerdict(
        "excluded",
        excluded={name: value},
        reason=f"standard {name}: expected concentration {value:.12g} breaks the 1:{ratio:.3g} dilution "
        f"series (about {pinned:.4g} expected"
        + (
            ", not a power-of-ten slip"
            if fix is None
            else f"; restorable to {fix:.12g} with standards_series=repair"
        )
        + "); left out of the fit",
        ratio=ratio,
    )
