"""Gamma/Weibull numerics against Monte Carlo and scipy.stats."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
import torch

from deepgbn_text.distributions import (
    kl_weibull_gamma,
    poisson_log_likelihood,
    poisson_log_likelihood_sparse,
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
    batch = SparseBatch.from_csr(counts)
    phi = torch.softmax(torch.randn(30, 4, dtype=torch.float64), 0)
    theta = torch.rand(7, 4, dtype=torch.float64) * 5
    dense = poisson_log_likelihood(batch.to_dense().double(), theta @ phi.T)
    sparse = poisson_log_likelihood_sparse(batch.rows, batch.cols, batch.values.double(), theta, phi)
    assert torch.allclose(dense, sparse, rtol=1e-10)
    scipy_ref = st.poisson(theta.numpy() @ phi.numpy().T).logpmf(counts.toarray()).sum(1)
    assert np.allclose(sparse.numpy(), scipy_ref)
