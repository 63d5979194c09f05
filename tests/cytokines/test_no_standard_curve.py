"""Plates without standard concentrations (serology-style MFI plates): MFI kept, one warning per plate."""

from __future__ import annotations

import numpy as np
import pytest

from myocit_omics.cytokines.pipeline import CytokineParams, process_exports
from myocit_omics.io.cytokine import read_export


@pytest.mark.parametrize(
    "name,has_standards",
    [
        ("serolyzer_New_Batch_14_20140513_082522.csv", False),  # MFI only, no standards at all
        ("serolyzer_CovidOISExPONTENT_CO_reduced.csv", True),  # standard wells 'S', no expected values
        ("allotropy_luminex_intelliflex_v2_2.csv", False),  # INTELLIFLEX flat export
        ("allotropy_bio-rad_bio-plex_manager_example_01.xml", True),  # ExpectedConc all 0
    ],
)
def test_mfi_plates_keep_mfi_with_a_flag_and_one_warning(shared, name, has_standards):
    exp = read_export(shared("fixtures", "exports", name))
    assert (exp.values["role"] == "standard").any() == has_standards
    res = process_exports([(exp, None, "t")], CytokineParams())
    long, work = res.long, res.work
    # no fit_failed storm: every value with a signal is the MFI, flagged no_standard_curve
    assert not (long["flag"] == "fit_failed").any()
    with_signal = np.isfinite(exp.values["signal"].to_numpy())
    assert (long.loc[with_signal, "flag"] == "no_standard_curve").all()
    assert (long.loc[~with_signal, "flag"] == "missing").all()
    np.testing.assert_array_equal(
        long["value"].to_numpy()[with_signal], exp.values["signal"].to_numpy()[with_signal]
    )
    assert (long["unit"] == "MFI").all()
    # kept for analysis relative to the plate's controls: substitution keeps the number
    np.testing.assert_array_equal(
        work["value_used"].to_numpy()[with_signal], exp.values["signal"].to_numpy()[with_signal]
    )
    # one warning per plate, saying what the values are
    warns = [p for p in res.problems if p.rule == "cytokine.no_standard_curve"]
    assert len(warns) == exp.values["plate_id"].nunique() == len({w.value for w in warns})
    assert all("MFI" in w.message and "no_standard_curve" in w.message for w in warns)
    assert not [p for p in res.problems if p.rule in ("cytokine.fit", "xponent.missing_standards")]
    assert res.qc["flag"].str.startswith("no_standard_curve").all()
    assert (res.qc["model"] == "none").all()
