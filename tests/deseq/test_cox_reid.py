"""The Schur-complement Cox-Reid kernels against the plain p x p linear algebra they replace."""

import numpy as np
import pytest

from myocit_omics.deseq import dispersion as D
from myocit_omics.deseq.cox_reid import CoxReid, disjoint_columns
from myocit_omics.deseq.r_dispersion import _value_grad


def _paired_design(n_patients: int = 6, n_visits: int = 3, extra: bool = True) -> np.ndarray:
    """``~ patient + visit`` (treatment coding), plus a continuous column when ``extra``."""
    patient = np.repeat(np.arange(n_patients), n_visits)
    visit = np.tile(np.arange(n_visits), n_patients)
    cols = [np.ones(patient.size)]
    cols += [(patient == k).astype(float) for k in range(1, n_patients)]
    cols += [(visit == v).astype(float) for v in range(1, n_visits)]
    if extra:
        cols.append(np.random.default_rng(0).normal(size=patient.size))
    return np.column_stack(cols)


DESIGNS = {
    "intercept": np.ones((8, 1)),
    "two_groups": np.column_stack([np.ones(8), np.r_[np.zeros(4), np.ones(4)]]),
    "polynomial": np.column_stack([np.ones(9), np.arange(9.0), np.arange(9.0) ** 2]),
    "paired": _paired_design(extra=False),
    "paired_covariate": _paired_design(),
}


def test_disjoint_columns_are_the_patient_indicators():
    x = _paired_design(extra=False)
    assert disjoint_columns(x) == list(range(1, 6))


@pytest.mark.parametrize("name", list(DESIGNS))
def test_log_det_trace_solve_and_leverages_match_dense_algebra(name):
    x = DESIGNS[name]
    rng = np.random.default_rng(3)
    w = rng.uniform(0.05, 20.0, (7, x.shape[0]))
    dw = -(w * w)
    rhs = rng.normal(size=(7, x.shape[1]))
    cr = CoxReid(x)
    m = np.einsum("gn,ni,nj->gij", w, x, x)
    dm = np.einsum("gn,ni,nj->gij", dw, x, x)
    m_inv = np.linalg.inv(m)
    half, half_trace = cr.terms(w, dw)
    np.testing.assert_allclose(half, 0.5 * np.linalg.slogdet(m)[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(half_trace, 0.5 * (m_inv * dm).sum(axis=(1, 2)), rtol=1e-10)
    ridged = m + 1e-6 * np.eye(x.shape[1])
    np.testing.assert_allclose(
        cr.solve(w, rhs, ridge=1e-6), np.linalg.solve(ridged, rhs[:, :, None])[:, :, 0], rtol=1e-9, atol=1e-12
    )
    lev = np.einsum("ni,gij,nj->gn", x, np.linalg.inv(ridged), x)
    np.testing.assert_allclose(cr.leverages(w, ridge=1e-6), lev, rtol=1e-9, atol=1e-12)


def test_value_and_slope_match_the_dense_objective():
    x = DESIGNS["paired_covariate"]
    rng = np.random.default_rng(4)
    mu = rng.uniform(1.0, 200.0, (5, x.shape[0]))
    y = rng.poisson(mu).astype(float)
    a = np.log(np.array([0.5, 0.1, 0.02, 1e-3, 1e-6]))  # both branches of the NB terms
    prior = np.log(np.full(5, 0.05))
    cr = CoxReid(x)
    f, slope = _value_grad(y, mu, a, cr=cr, prior_mean=prior, prior_var=0.5)
    ref = D._objective(y, mu, a, cr=D.Gram(x), prior_mean=prior, prior_var=0.5)
    ref_grad, _ = D._derivatives(y, mu, a, cr=D.Gram(x), prior_mean=prior, prior_var=0.5)
    np.testing.assert_allclose(f, ref, rtol=1e-13)
    np.testing.assert_allclose(slope, ref_grad, rtol=1e-10, atol=1e-12)
