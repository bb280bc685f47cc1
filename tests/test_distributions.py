"""Gamma/Weibull numerics against Monte Carlo and scipy.stats."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
import torch

from deepgbn_text.distributions import (
    GAMMA_SHAPE_MAX,
    GAMMA_SHAPE_MIN,
    WEIBULL_SHAPE_MAX,
    gamma_rsample,
    kl_gamma_gamma,
    kl_weibull_gamma,
    posterior_from_mean,
    posterior_kl,
    poisson_log_likelihood,
    poisson_log_likelihood_sparse,
    rates_by_gather,
    rates_by_product,
    weibull_mean,
    weibull_rsample,
    weibull_scale_from_mean,
)
from deepgbn_text.model.batch import SparseBatch


@pytest.mark.parametrize("k, lam, alpha, beta", [(0.5, 2.0, 0.3, 1.0), (2.0, 0.7, 1.5, 2.0), (5.0, 3.0, 4.0, 0.5)])
def test_kl_weibull_gamma_matches_monte_carlo(k, lam, alpha, beta):
    rng = np.random.default_rng(0)
    x = st.weibull_min(k, scale=lam).rvs(400_000, random_state=rng)
    log_q = st.weibull_min(k, scale=lam).logpdf(x)
    log_p = st.gamma(alpha, scale=1.0 / beta).logpdf(x)
    mc = np.mean(log_q - log_p)
    stderr = np.std(log_q - log_p) / np.sqrt(x.size)
    t = lambda v: torch.tensor(v, dtype=torch.float64)
    exact = kl_weibull_gamma(t(k), t(lam), t(alpha), beta).item()
    assert abs(exact - mc) < 5 * stderr + 1e-3


@pytest.mark.parametrize("k, lam", [(0.7, 1.5), (1.0, 3.0), (4.0, 0.2)])
def test_weibull_rsample_matches_scipy(k, lam):
    torch.manual_seed(0)
    draws = weibull_rsample(torch.full((20_000,), k, dtype=torch.float64), torch.full((20_000,), lam, dtype=torch.float64))
    result = st.kstest(draws.numpy(), st.weibull_min(k, scale=lam).cdf)
    assert result.pvalue > 1e-3
    assert weibull_mean(torch.tensor(k), torch.tensor(lam)).item() == pytest.approx(st.weibull_min(k, scale=lam).mean(), rel=1e-5)


def test_scale_from_mean_inverts_mean():
    k = torch.tensor([0.3, 1.0, 7.0])
    mean = torch.tensor([0.5, 2.0, 100.0])
    assert torch.allclose(weibull_mean(k, weibull_scale_from_mean(k, mean)), mean, rtol=1e-5)


def test_rsample_is_differentiable():
    k = torch.tensor([1.5, 2.0], requires_grad=True)
    lam = torch.tensor([1.0, 3.0], requires_grad=True)
    weibull_rsample(k, lam).sum().backward()
    assert torch.isfinite(k.grad).all() and (lam.grad > 0).all()


def test_sparse_poisson_likelihood_equals_dense():
    rng = np.random.default_rng(1)
    import scipy.sparse as sp

    counts = sp.random(7, 30, density=0.2, random_state=2, data_rvs=lambda n: rng.integers(1, 5, n)).tocsr()
    counts[3] = 0  # an empty document: its log-likelihood is -sum(theta)
    counts.eliminate_zeros()
    batch = SparseBatch.from_csr(counts)
    phi = torch.softmax(torch.randn(30, 4, dtype=torch.float64), 0)
    theta = torch.rand(7, 4, dtype=torch.float64) * 5
    dense = poisson_log_likelihood(batch.to_dense().double(), theta @ phi.T)
    sparse = poisson_log_likelihood_sparse(batch.offsets, batch.rows, batch.cols, batch.values.double(), theta, phi)
    assert torch.allclose(dense, sparse, rtol=1e-10)
    scipy_ref = st.poisson(theta.numpy() @ phi.numpy().T).logpmf(counts.toarray()).sum(1)
    assert np.allclose(sparse.numpy(), scipy_ref)


@pytest.mark.parametrize("sets", [None, 3])
def test_rates_by_product_equal_rates_by_gather_with_their_gradients(sets):
    import scipy.sparse as sp

    counts = sp.random(9, 40, density=0.15, random_state=3, format="csr")
    counts.data[:] = 1.0
    batch = SparseBatch.from_csr(counts)
    shape = (9, 5) if sets is None else (9, sets, 5)
    values = []
    for rates in (lambda t, p: rates_by_gather(batch.rows, t, p[batch.cols]),
                  lambda t, p: rates_by_product(batch.rows, batch.cols, t, p)):
        torch.manual_seed(0)
        theta = (torch.rand(shape, dtype=torch.float64) * 3).requires_grad_()
        phi = torch.softmax(torch.randn(40, 5, dtype=torch.float64), 0).requires_grad_()
        out = rates(theta, phi)
        torch.log(out).sum().backward()
        values.append((out.detach(), theta.grad, phi.grad))
    expected_shape = (counts.nnz,) if sets is None else (counts.nnz, sets)
    assert values[0][0].shape == values[1][0].shape == expected_shape
    for gathered, product in zip(*values):
        assert torch.allclose(gathered, product, rtol=1e-12)


GAMMA_PAIRS = [(0.5, 2.0, 0.3, 1.0), (2.0, 0.7, 1.5, 2.0), (5.0, 3.0, 4.0, 0.5), (40.0, 10.0, 0.2, 1.0)]
"""(alpha_q, beta_q, alpha_p, beta_p), rates; the last one a peaked posterior against a sparse prior."""


@pytest.mark.parametrize("aq, bq, ap, bp", GAMMA_PAIRS)
def test_kl_gamma_gamma_matches_monte_carlo(aq, bq, ap, bp):
    rng = np.random.default_rng(0)
    q, p = st.gamma(aq, scale=1.0 / bq), st.gamma(ap, scale=1.0 / bp)
    x = q.rvs(400_000, random_state=rng)
    diff = q.logpdf(x) - p.logpdf(x)
    stderr = np.std(diff) / np.sqrt(x.size)
    t = lambda v: torch.tensor(v, dtype=torch.float64)
    exact = kl_gamma_gamma(t(aq), t(bq), t(ap), bp).item()
    assert abs(exact - np.mean(diff)) < 5 * stderr + 1e-3


def test_kl_gamma_gamma_matches_torch_kl_divergence():
    gen = torch.Generator().manual_seed(0)
    aq, bq, ap, bp = (torch.exp(torch.randn(500, generator=gen, dtype=torch.float64) * 1.5) for _ in range(4))
    ours = kl_gamma_gamma(aq, bq, ap, bp)
    ref = torch.distributions.kl_divergence(torch.distributions.Gamma(aq, bq), torch.distributions.Gamma(ap, bp))
    assert torch.allclose(ours, ref, rtol=1e-9, atol=1e-9)
    assert (ours >= -1e-12).all()
    # a float rate for the prior (the model's fixed GAMMA_RATE) and the family dispatcher agree
    assert torch.allclose(posterior_kl("gamma", aq, bq, ap, 1.0), kl_gamma_gamma(aq, bq, ap, torch.ones_like(bq)))


@pytest.mark.parametrize("alpha, beta", [(0.3, 1.0), (1.0, 3.0), (20.0, 0.5)])
def test_gamma_rsample_matches_scipy(alpha, beta):
    torch.manual_seed(0)
    n = 20_000
    draws = gamma_rsample(torch.full((n,), alpha, dtype=torch.float64), torch.full((n,), beta, dtype=torch.float64))
    assert st.kstest(draws.numpy(), st.gamma(alpha, scale=1.0 / beta).cdf).pvalue > 1e-3


def test_gamma_rsample_gradients_are_implicit_reparameterisation():
    """E[x] = alpha / beta, so the mean pathwise gradients must be 1 / beta and -alpha / beta^2."""
    torch.manual_seed(0)
    alpha = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    n = 200_000
    gamma_rsample(alpha.expand(n), beta.expand(n)).mean().backward()
    assert alpha.grad.item() == pytest.approx(1.0 / 1.5, rel=0.02)
    assert beta.grad.item() == pytest.approx(-2.5 / 1.5**2, rel=0.02)


def test_gamma_posterior_from_mean_keeps_the_mean_and_clamps_the_shape():
    k = torch.tensor([0.01, 1.0, 30.0, 1e3])
    mean = torch.tensor([0.5, 2.0, 100.0, 3.0])
    shape, rate, out_mean = posterior_from_mean("gamma", k, mean)
    assert torch.equal(shape, torch.tensor([GAMMA_SHAPE_MIN, 1.0, 30.0, GAMMA_SHAPE_MAX]))
    assert torch.allclose(shape / rate, mean, rtol=1e-6) and out_mean is mean
    w_shape, w_scale, _ = posterior_from_mean("weibull", k, mean)
    assert torch.allclose(weibull_mean(w_shape, w_scale), mean, rtol=1e-5)


def test_gamma_shape_max_is_as_peaked_as_the_weibull_max():
    """GAMMA_SHAPE_MAX is chosen so that both families have about the same smallest coefficient of variation."""
    weibull = st.weibull_min(WEIBULL_SHAPE_MAX)
    assert 1.0 / np.sqrt(GAMMA_SHAPE_MAX) == pytest.approx(weibull.std() / weibull.mean(), rel=0.01)


def test_capped_concentration_rate_keeps_the_mean_and_caps_the_total_shape():
    from deepgbn_text.distributions import capped_concentration_rate

    shape = torch.tensor([[30.0, 60.0, 10.0], [0.5, 1.0, 1.5], [1.0, 2.0, 1.0]])  # totals 100, 3, 4
    rho = capped_concentration_rate(shape, 2.0)
    assert rho.shape == (3, 1)
    assert torch.allclose((rho * shape).sum(-1), torch.tensor([2.0 * 100**0.5, 3.0, 4.0]))  # min(a, 2 sqrt(a))
    assert torch.allclose(rho * shape / (rho * 1.0), shape)  # Gam(rho a, rho) has Gam(a, 1)'s mean
