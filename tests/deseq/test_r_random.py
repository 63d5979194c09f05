"""R's random streams and loess, against values R itself printed (tests/golden/r_random).

They are what DESeq2's ``estimateDispersionsPriorVar`` uses at 3 or fewer residual df; with them
the project's prior variance is R's number (checked on the grid in ``test_grid.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from myocit_omics.deseq import r_dispersion
from myocit_omics.deseq.r_random import PRIOR_VAR_GRID, RStream, mt_state, prior_var_histograms

GOLDEN = Path(__file__).parents[1] / "golden" / "r_random" / "golden.tsv"


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    table = pd.read_csv(GOLDEN, sep="\t", dtype={"value": str})
    return {
        what: grp.sort_values("i")["value"].astype(float).to_numpy() for what, grp in table.groupby("what")
    }


def test_set_seed_state_and_uniforms(golden):
    state = mt_state(2)
    assert state.shape == (624,) and state.dtype == np.uint32
    np.testing.assert_array_equal(RStream(2).unif(5), golden["runif"])
    assert not np.array_equal(RStream(3).unif(5), golden["runif"])


def test_normals_by_inversion(golden):
    np.testing.assert_allclose(RStream(2).rnorm(5), golden["rnorm"], rtol=1e-15, atol=0)
    # rnorm with sd 0 draws nothing: the stream goes on where it was
    s = RStream(2)
    np.testing.assert_allclose(
        np.concatenate([s.rnorm(3, 0.0, 0.0), s.rnorm(2)]), golden["rnorm_sd0_then_rnorm"], rtol=1e-15
    )


@pytest.mark.parametrize("df", [1, 2, 3])
def test_chi_squared(golden, df):
    draws = RStream(2).rchisq(2000, df)
    np.testing.assert_allclose(draws[np.r_[0:5, 1995:2000]], golden[f"rchisq_df{df}"], rtol=1e-13)


def test_gamma_both_algorithms_and_a_mixed_stream(golden):
    np.testing.assert_allclose(RStream(2).rgamma(5, 0.3), golden["rgamma_shape0.3"], rtol=1e-13)
    np.testing.assert_allclose(RStream(2).rgamma(5, 5.0), golden["rgamma_shape5"], rtol=1e-13)
    s = RStream(2)
    mixed = np.concatenate([s.rchisq(5, 2), s.rnorm(3, 0.0, 0.5), s.rchisq(2, 1)])
    np.testing.assert_allclose(mixed, golden["mixed"], rtol=1e-13)


@pytest.mark.parametrize("df", [1, 2, 3])
def test_stored_histograms_are_rs_draws(golden, df):
    probs = r_dispersion._r_simulated_probs(df)
    assert probs.shape == (200, 40)
    for row in (0, 1, 100, 199):
        counts = golden[f"hist_df{df}_row{row}"]
        np.testing.assert_allclose(probs[row], counts / counts.sum(), rtol=0, atol=1e-15)


def test_loess_is_rs_interpolated_loess(golden):
    y = np.sin(PRIOR_VAR_GRID) + 0.1 * np.cos(7 * PRIOR_VAR_GRID) + 0.05 * PRIOR_VAR_GRID
    fine = np.linspace(0, 8, 1000)
    pred = r_dispersion.loess_predict(PRIOR_VAR_GRID, y, fine, span=0.2)
    idx = [0, 1, 249, 499, 500, 749, 998, 999]
    np.testing.assert_allclose(pred[idx], golden["loess_interpolate"], rtol=0, atol=1e-12)
    assert np.argmin(pred) == int(golden["loess_interpolate_which_min"][0])
    # the interpolated surface is not the direct local fit (the k-d tree vertices matter)
    direct = r_dispersion._local_quadratic(PRIOR_VAR_GRID, y, fine, 0.2)[:, 0]
    assert np.max(np.abs(direct - pred)) > 1e-4


def test_prior_variance_methods():
    rng = np.random.default_rng(5)
    fit = np.full(3000, 0.1)
    gene = fit * rng.chisquare(2, 3000) / 2 * np.exp(rng.normal(0, np.sqrt(1.0), 3000))
    r_value, _ = r_dispersion.prior_variance(gene, fit, n_samples=6, n_coefs=4)
    integrated, _ = r_dispersion.prior_variance(gene, fit, n_samples=6, n_coefs=4, method="integrated")
    # both find the simulated spread (1.0) within R's 1000-point grid and sampling noise
    assert abs(r_value - 1.0) < 0.3 and abs(integrated - 1.0) < 0.3
    # R's value sits on its 1000-point grid
    assert np.min(np.abs(np.linspace(0, 8, 1000) - r_value)) < 1e-12
    with pytest.raises(ValueError, match="method"):
        r_dispersion.prior_variance(gene, fit, n_samples=6, n_coefs=4, method="simulated")


@pytest.mark.slow
def test_stored_table_is_rebuilt_by_the_generators():
    """The stored histograms are what the Python port of R's streams draws (all 3 x 200 rows)."""
    for df in (1, 2, 3):
        counts = prior_var_histograms(df)
        np.testing.assert_allclose(
            r_dispersion._r_simulated_probs(df),
            counts / counts.sum(axis=1, keepdims=True),
            rtol=0,
            atol=1e-15,
        )
