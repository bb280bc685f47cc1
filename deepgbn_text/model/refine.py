"""Closing the amortisation gap: refine each document's posterior (Weibull or gamma) by gradient steps on its ELBO."""
from __future__ import annotations

import torch

from ..distributions import REFINE_MEAN_MIN
from .batch import SparseBatch
from .gbn import GBN


def refine_posterior_means(module: GBN, batch: SparseBatch, steps: int, lr: float = 0.05) -> list[torch.Tensor]:
    """Start from the encoder's (k, mean) of every layer and take ``steps`` Adam steps on the documents'
    ELBO with the model held fixed (only these local parameters move); return the posterior means.

    Uses only ``batch``'s counts, so it is fair for document completion (fit to the observed part)."""
    shapes, means = module.posterior_params(batch)
    log_k = [k.log().detach().requires_grad_() for k in shapes]
    log_mean = [m.clamp_min(REFINE_MEAN_MIN).log().detach().requires_grad_() for m in means]
    local = log_k + log_mean
    optimiser = torch.optim.Adam(local, lr=lr)

    def posterior(i: int, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return module.posterior_from_mean(log_k[i].exp(), log_mean[i].exp())

    for _ in range(steps):
        loss = -module.elbo_terms(batch, posterior).elbo().sum()
        grads = torch.autograd.grad(loss, local)
        for p, g in zip(local, grads):
            p.grad = g
        optimiser.step()
    return [m.detach().exp() for m in log_mean]
