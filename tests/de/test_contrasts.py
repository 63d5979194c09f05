from __future__ import annotations

import pandas as pd
import pytest

from myocit_omics.config import default_study_config
from myocit_omics.de.contrasts import (
    ContrastSpec,
    check_contrasts,
    contrasts_from_config,
    interaction_contrasts,
    parse_contrast,
)
from myocit_omics.errors import InputError, ValidationFailed


def test_config_defaults_are_w4_and_w24_against_w0_paired_by_patient():
    cs = contrasts_from_config(default_study_config())
    assert [(c.id, c.target, c.reference, c.paired_by) for c in cs] == [
        ("W4_vs_W0", "W4", "W0", "patient_id"), ("W24_vs_W0", "W24", "W0", "patient_id")]


def test_parse_contrast_names_it_by_levels_and_accepts_an_explicit_id():
    assert parse_contrast("visit:W4:W0").id == "W4_vs_W0"
    c = parse_contrast("time:act 6h:0h")
    assert (c.variable, c.target, c.reference) == ("time", "act 6h", "0h")
    assert c.id == "time_act_6h_vs_0h"
    assert parse_contrast("early=visit:W4:W0").id == "early"


@pytest.mark.parametrize("text", ["visit:W4", "visit::W0", "visit:W4:W4", "bad id=visit:W4:W0"])
def test_parse_contrast_refuses_malformed_text(text):
    with pytest.raises(InputError) as err:
        parse_contrast(text)
    assert text.split("=")[0] in str(err.value) or text in str(err.value)


def test_unknown_level_lists_the_valid_levels():
    obs = pd.DataFrame({"patient_id": ["A", "A"], "visit": ["W0", "W4"]})
    with pytest.raises(ValidationFailed) as err:
        check_contrasts([ContrastSpec(id="W8_vs_W0", variable="visit", reference="W0", target="W8")],
                        obs, source="samples.csv")
    text = str(err.value)
    assert "'W8'" in text and "['W0', 'W4']" in text and "samples.csv" in text


def test_unknown_variable_and_duplicate_ids_are_all_reported():
    obs = pd.DataFrame({"patient_id": ["A"], "visit": ["W0"]})
    cs = [ContrastSpec(id="x", variable="arm", reference="a", target="b"),
          ContrastSpec(id="x", variable="visit", reference="W0", target="W0")]
    with pytest.raises(ValidationFailed) as err:
        check_contrasts(cs, obs, source="s")
    rules = {p.rule for p in err.value.problems}
    assert {"contrast.variable", "contrast.duplicate_id"} <= rules


def test_interaction_contrasts_are_named_after_the_plain_ones():
    cs = interaction_contrasts(contrasts_from_config(default_study_config()), variable="responder")
    assert [c.id for c in cs] == ["W4_vs_W0_x_responder", "W24_vs_W0_x_responder"]
    assert all(c.interaction == "responder" and c.interaction_level == "True" for c in cs)
