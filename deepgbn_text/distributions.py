"""Gamma/Weibull/Poisson numerics of the GBN: every clamp constant lives here, named.

Gamma is written Gam(shape alpha, rate beta); Weibull(k, lam) has density
k/lam (x/lam)^(k-1) exp(-(x/lam)^k) and mean lam * Gamma(1 + 1/k).
"""
from __future__ import annotations

import torch

EULER_GAMMA = 0.5772156649015329

WEIBULL_SHAPE_MIN = 0.1
"""Smallest Weibull shape k the encoder may output (as WHAI)."""
WEIBULL_SHAPE_MAX = 10.0
"""Largest Weibull shape k (a very peaked posterior)."""
POSITIVE_MIN = 1e-10
"""Floor for every rate, mean, scale and gamma shape that enters a log or lgamma."""
UNIFORM_EPS = 1e-6
"""Uniform draws for the inverse-CDF sampler are kept in [UNIFORM_EPS, 1 - UNIFORM_EPS]."""
THETA_MAX = 1e4
"""Ceiling on a sampled latent; keeps a rare extreme draw (small k) from overflowing the next layer."""


def clamp_shape(k: torch.Tensor) -> torch.Tensor:
    """Keep a Weibull shape inside [WEIBULL_SHAPE_MIN, WEIBULL_SHAPE_MAX]."""
    return k.clamp(WEIBULL_SHAPE_MIN, WEIBULL_SHAPE_MAX)


def positive(x: torch.Tensor) -> torch.Tensor:
    """Floor a non-negative quantity at POSITIVE_MIN so logs and lgammas stay finite."""
    return x.clamp_min(POSITIVE_MIN)


def weibull_scale_from_mean(k: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """The scale lam whose Weibull(k, lam) has the given mean: lam = mean / Gamma(1 + 1/k)."""
    return positive(mean) / torch.exp(torch.lgamma(1.0 + 1.0 / k))


def weibull_mean(k: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """E[Weibull(k, lam)] = lam * Gamma(1 + 1/k)."""
    return lam * torch.exp(torch.lgamma(1.0 + 1.0 / k))


def weibull_rsample(k: torch.Tensor, lam: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Reparameterised draw lam * (-log(1 - u))^(1/k), u ~ U(0, 1), differentiable in k and lam."""
    u = torch.rand(lam.shape, device=lam.device, dtype=lam.dtype, generator=generator)
    u = u.clamp(UNIFORM_EPS, 1.0 - UNIFORM_EPS)
    return (lam * (-torch.log1p(-u)).pow(1.0 / k)).clamp(max=THETA_MAX)


def kl_weibull_gamma(k: torch.Tensor, lam: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor | float) -> torch.Tensor:
    """KL( Weibull(k, lam) || Gam(alpha, rate beta) ), elementwise, in closed form."""
    beta = torch.as_tensor(beta, dtype=lam.dtype, device=lam.device)
    lam = positive(lam)
    alpha = positive(alpha)
    return (
        EULER_GAMMA * alpha / k
        - alpha * torch.log(lam)
        + torch.log(k)
        + beta * lam * torch.exp(torch.lgamma(1.0 + 1.0 / k))
        - EULER_GAMMA
        - 1.0
        - alpha * torch.log(beta)
        + torch.lgamma(alpha)
    )


def poisson_log_likelihood(counts: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """Per-document sum_v x_v log(rate_v) - rate_v - lgamma(x_v + 1) for dense counts and rates."""
    return (counts * torch.log(positive(rate)) - rate - torch.lgamma(counts + 1.0)).sum(-1)


def poisson_log_likelihood_sparse(
    rows: torch.Tensor,
    cols: torch.Tensor,
    values: torch.Tensor,
    theta: torch.Tensor,
    phi: torch.Tensor,
) -> torch.Tensor:
    """Per-document Poisson log-likelihood with rate = theta @ phi.T, phi's columns on the simplex.

    Because every column of ``phi`` (V x K) sums to one, sum_v rate_v = sum_k theta_k, so the rate
    is needed only at the non-zero counts (``rows``, ``cols``, ``values`` in COO form): O(nnz K).
    """
    rate_nz = (theta[rows] * phi[cols]).sum(-1)
    per_entry = values * torch.log(positive(rate_nz)) - torch.lgamma(values + 1.0)
    loglik = torch.zeros(theta.shape[0], dtype=theta.dtype, device=theta.device)
    loglik = loglik.index_add(0, rows, per_entry)
    return loglik - theta.sum(-1)

