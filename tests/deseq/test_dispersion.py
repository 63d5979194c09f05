"""The dispersion kernels: analytic derivatives and the large-r (near-Poisson) series."""

import numpy as np
import pytest
from scipy.special import digamma, gammaln, polygamma

from myocit_omics.deseq import dispersion as D


@pytest.mark.parametrize("p", [1, 2])
def test_objective_derivatives_match_finite_differences(p):
    rng = np.random.default_rng(p)
    y = rng.poisson(20, (4, 10)).astype(float)
    mu = 20.0 * np.array([[1.0], [1.1], [0.9], [1.3]]) * np.ones((1, 10))
    x = np.column_stack([np.ones(10), np.r_[np.zeros(5), np.ones(5)]])[:, :p]
    cr = D.Gram(x)
    a = np.log(np.array([0.5, 0.1, 0.02, 1e-5]))  # both branches of the NB terms
    prior = np.log(np.full(4, 0.05))

    def f(v):
        return D._objective(y, mu, v, cr=cr, prior_mean=prior, prior_var=0.5)

    grad, hess = D._derivatives(y, mu, a, cr=cr, prior_mean=prior, prior_var=0.5)
    e = 1e-4
    np.testing.assert_allclose(grad, (f(a + e) - f(a - e)) / (2 * e), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(hess, (f(a + e) - 2 * f(a) + f(a - e)) / e**2, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("r", [60.0, 1e3, 1e5])
def test_large_r_series_match_exact_terms(r):
    rng = np.random.default_rng(0)
    y = rng.poisson(30, (1, 20)).astype(float)
    mu = np.full((1, 20), 30.0)
    rr = np.array([[r]])
    t, g, dg = D._nb_terms(y, mu, rr, order=2)
    exact_t = rr * np.log1p(mu / rr) + y * np.log(rr + mu) - (gammaln(y + rr) - gammaln(rr))
    exact_g = digamma(rr) - digamma(y + rr) + np.log1p(mu / rr) + (y - mu) / (mu + rr)
    exact_dg = polygamma(1, rr) - polygamma(1, y + rr) - mu / (rr * (mu + rr)) - (y - mu) / (mu + rr) ** 2
    # the exact forms lose digits to cancellation as r grows: compare at their precision
    np.testing.assert_allclose(t, exact_t, rtol=1e-12, atol=1e-15 * r * 1e3)
    np.testing.assert_allclose(g, exact_g, atol=1e-14 * np.log(r) * 10)
    np.testing.assert_allclose(dg, exact_dg, rtol=1e-6, atol=1e-15)


def test_dispersion_mle_recovers_the_simulated_dispersion():
    rng = np.random.default_rng(5)
    n, g, alpha = 200, 50, 0.3
    mu = np.full((n, g), 50.0)
    y = rng.negative_binomial(1 / alpha, 1 / (1 + mu * alpha)).astype(float)
    est, conv = D.alpha_mle(y, mu, np.full(g, 1.0), design=np.ones((n, 1)), min_disp=1e-8, max_disp=10.0)
    assert conv.all()
    assert abs(np.median(est) - alpha) < 0.03


def test_gene_blocks_cover_all_genes_once():
    blocks = D.gene_blocks(10_001, 300, n_coefs=20, block_elements=40_000)
    covered = np.concatenate([np.arange(b.start, b.stop) for b in blocks])
    np.testing.assert_array_equal(covered, np.arange(10_001))
    assert all(b.stop - b.start == 100 for b in blocks[:-1])  # 40,000 cells / max(300, 20 * 20)
