"""PRINTO inactive disease (all 16 combinations) and PRINTO 2010 improvement, worked by hand."""

from __future__ import annotations

import pytest

from myocit_omics.clinical.printo import (
    ImprovementParams,
    InactiveParams,
    inactive_disease,
    printo_improvement,
)
from myocit_omics.errors import InputError

# Each criterion met exactly at its cut-off, or missed just beyond it.
MEETS = {"ck": 150.0, "cmas": 48.0, "mmt8": 78.0, "physician_global": 0.2}
MISSES = {"ck": 151.0, "cmas": 47.0, "mmt8": 77.0, "physician_global": 0.3}

# (CK ok, CMAS ok, MMT8 ok, PhGlo ok) -> inactive; written out by hand: True iff >= 3 of 4 met.
COMBINATIONS = [
    ((0, 0, 0, 0), False), ((0, 0, 0, 1), False), ((0, 0, 1, 0), False), ((0, 0, 1, 1), False),
    ((0, 1, 0, 0), False), ((0, 1, 0, 1), False), ((0, 1, 1, 0), False), ((0, 1, 1, 1), True),
    ((1, 0, 0, 0), False), ((1, 0, 0, 1), False), ((1, 0, 1, 0), False), ((1, 0, 1, 1), True),
    ((1, 1, 0, 0), False), ((1, 1, 0, 1), True), ((1, 1, 1, 0), True), ((1, 1, 1, 1), True),
]


@pytest.mark.parametrize(("bits", "expected"), COMBINATIONS,
                         ids=["".join(map(str, b)) for b, _ in COMBINATIONS])
def test_inactive_disease_every_combination(bits, expected):
    values = {name: (MEETS if bit else MISSES)[name] for name, bit in zip(MEETS, bits, strict=True)}
    assert inactive_disease(values) is expected


def test_inactive_disease_with_missing_criteria():
    # 3 met + 1 missing: inactive whatever the missing one is
    assert inactive_disease({"ck": 100, "cmas": 50, "mmt8": 80}) is True
    # 2 met + 2 missing: undetermined -> NA
    assert inactive_disease({"ck": 100, "cmas": 50}) is None
    # 1 met, 2 missed, 1 missing: at most 2 -> not inactive
    assert inactive_disease({"ck": 100, "cmas": 40, "mmt8": 60}) is False
    assert inactive_disease({}) is None


def test_physician_global_units_are_a_parameter():
    values = {"ck": 500, "cmas": 50, "mmt8": 79, "physician_global": 2.0}  # 2 mm = 0.2 cm
    assert inactive_disease(values) is False  # read as 2 cm
    assert inactive_disease(values, InactiveParams(physician_global_scale_max=100)) is True
    params = InactiveParams.from_config({"inactive_disease": {"ck_max": 200}})
    assert inactive_disease({"ck": 180, "cmas": 50, "mmt8": 79}, params) is True
    with pytest.raises(InputError, match="unknown parameter"):
        InactiveParams.from_config({"inactive_disease": {"crp_max": 5}})


BASE = {"physician_global": 5.0, "parent_global": 5.0, "cmas": 30.0, "chaq": 2.0, "das_total": 10.0,
        "chq_phs": 30.0}


def follow(**changes):
    return {**BASE, **changes}


# Relative changes: physician 5 -> 4 = 20 %, parent 5 -> 4 = 20 %, CHAQ 2 -> 1.6 = 20 % (improved at 20).
THREE_IMPROVED = {"physician_global": 4.0, "parent_global": 4.0, "chaq": 1.6}


@pytest.mark.parametrize(("changes", "expected"), [
    (THREE_IMPROVED, True),                                            # 3 of 6 improved by exactly 20 %
    ({"physician_global": 4.0, "parent_global": 4.0}, False),          # only 2 improved
    ({"physician_global": 4.1, "parent_global": 4.0, "chaq": 1.6}, False),  # 18 % is not 20 %
    ({**THREE_IMPROVED, "das_total": 13.1}, True),                     # 1 worsened by 31 %, not strength
    ({**THREE_IMPROVED, "cmas": 20.7}, False),                         # strength worsened by 31 %
    ({**THREE_IMPROVED, "cmas": 21.0}, True),                          # strength worse by 30 %: not > 30
    ({**THREE_IMPROVED, "das_total": 13.1, "chq_phs": 20.0}, False),   # 2 worsened (31 %, 33 %)
    ({"physician_global": 0.0, "parent_global": 1.0, "cmas": 52.0, "chaq": 0.0, "das_total": 0.0,
      "chq_phs": 50.0}, True),                                         # everything improved
])
def test_printo_improvement_cases(changes, expected):
    result, note = printo_improvement(BASE, follow(**changes))
    assert result is expected, note


def test_printo_improvement_with_missing_measures():
    # 3 improved, CHQ missing: whether it improved, stayed or worsened, the answer is "improved"
    fu = follow(**THREE_IMPROVED)
    del fu["chq_phs"]
    result, note = printo_improvement(BASE, fu)
    assert result is True and "chq_phs:missing" in note
    # 2 improved, CHQ missing: a third improvement would decide -> NA with the reason
    fu = follow(physician_global=4.0, parent_global=4.0)
    del fu["chq_phs"]
    result, note = printo_improvement(BASE, fu)
    assert result is None and "depends on the missing chq_phs" in note


def test_printo_50_level_and_mmt8():
    # PRINTO 50: the 20 % improvements no longer count
    assert printo_improvement(BASE, follow(**THREE_IMPROVED), ImprovementParams(improve_pct=50))[0] is False
    base = {**BASE, "mmt8": 50.0}
    del base["cmas"]
    fu = {**follow(**THREE_IMPROVED), "mmt8": 30.0}  # MMT8 50 -> 30 = 40 % worse
    del fu["cmas"]
    assert printo_improvement(base, fu, ImprovementParams(muscle="mmt8"))[0] is False
    assert printo_improvement(base, fu, ImprovementParams(muscle="mmt8", strength_may_worsen=True))[0] is True
