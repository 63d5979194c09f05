"""The dilution-series judgement on its own: clean, one break repaired or left out, several refused."""

from __future__ import annotations

import pytest

from myocit_omics.cytokines.standards import judge_series, standard_number

SERIES = [(f"Standard{i + 1}", 3450 / 2**i) for i in range(11)]


def _with(**changes: float) -> list[tuple[str, float]]:
    return [(s, changes.get(s, v)) for s, v in SERIES]


def test_clean_series_any_order_and_numbering():
    assert judge_series(SERIES).status == "clean"
    assert judge_series(list(reversed(SERIES))).ratio == pytest.approx(2.0)
    msd = [(f"S{i:03d}", 10000 / 4**i) for i in range(1, 8)]
    assert judge_series(msd).status == "clean"
    assert standard_number("S003") == 3 and standard_number("Std") is None


@pytest.mark.parametrize(
    "name,value,fixed",
    [("Standard5", 215625.0, 215.625), ("Standard1", 34.5, 3450.0), ("Standard11", 3369.140625, 3.369140625)],
)
def test_one_power_of_ten_slip_is_restored_anywhere_in_the_series(name, value, fixed):
    v = judge_series(_with(**{name: value}))
    assert v.status == "repaired"
    assert v.repaired == {name: (value, pytest.approx(fixed))}
    assert v.expected_of(name, value) == pytest.approx(fixed)


def test_a_break_that_is_not_a_slip_is_left_out_and_exclude_mode_never_changes_values():
    v = judge_series(_with(Standard7=99.0))
    assert v.status == "excluded" and v.excluded == {"Standard7": 99.0}
    assert "53.9" in v.reason  # the value the series expects
    v2 = judge_series(_with(Standard5=215625.0), mode="exclude")
    assert v2.status == "excluded" and not v2.repaired


def test_refused_when_the_series_cannot_be_reconstructed():
    # several breaks: the drLumi case, Standard5-9 lost their decimal points
    lost = {s: float(f"{v:.10g}".replace(".", "")) for s, v in SERIES[4:9]}
    v = judge_series(_with(**lost))
    assert v.status == "refused" and "standards break" in v.reason
    # no constant ratio at all
    assert judge_series([(f"S{i}", 2000 / i) for i in range(1, 9)]).status == "refused"
    # too few standards left on the line
    assert judge_series([("S1", 100.0), ("S2", 50.0), ("S3", 25000.0), ("S4", 12.5)]).status == "refused"
    # mode refuse: one break is enough, and the reason names it
    v = judge_series(_with(Standard5=215625.0), mode="refuse")
    assert v.status == "refused" and "Standard5" in v.reason and "215625" in v.reason
    with pytest.raises(ValueError):
        judge_series(SERIES, mode="guess")
