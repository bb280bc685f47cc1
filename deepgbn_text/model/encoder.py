"""Upward-downward inference network: a deterministic upward pass, stochastic (Weibull or gamma) heads downward."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..distributions import check_posterior, posterior_from_mean
from .batch import SparseBatch


class UpwardEncoder(nn.Module):
    """h1 = act(LN(W1 log(1 + x) + b1)) with a sparse input matmul; h_l = h_{l-1} + MLP(LN(h_{l-1}))."""

    def __init__(self, n_words: int, hidden: int, n_layers: int) -> None:
        super().__init__()
        self.embed = nn.EmbeddingBag(n_words, hidden, mode="sum")
        nn.init.normal_(self.embed.weight, std=n_words**-0.5)
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.norm = nn.LayerNorm(hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
            for _ in range(n_layers - 1)
        )

    def forward(self, batch: SparseBatch) -> list[torch.Tensor]:
        x = self.embed(batch.cols, batch.offsets, per_sample_weights=torch.log1p(batch.values))
        h = F.gelu(self.norm(x + self.bias))
        states = [h]
        for block in self.blocks:
            h = h + block(h)
            states.append(h)
        return states


class WeibullHead(nn.Module):
    """Posterior of one layer from [h_l, log(1 + prior shape)]: a Weibull(k, lam) by default, or a
    Gam(k, rate) with ``posterior="gamma"``.

    The head predicts the posterior mean directly (lam~ = E[theta]) as a share of the document
    length spread over the layer's K topics, and a shape k; for the Weibull it converts them to the
    scale lam = lam~ / Gamma(1 + 1/k), for the gamma to the rate k / lam~ (distributions.posterior_from_mean).
    """

    def __init__(self, hidden: int, n_topics: int, use_prior: bool = True, posterior: str = "weibull") -> None:
        super().__init__()
        self.use_prior = use_prior
        self.n_topics = n_topics
        self.posterior = check_posterior(posterior)
        self.linear = nn.Linear(hidden + (n_topics if use_prior else 0), 2 * n_topics)

    def forward(
        self, h: torch.Tensor, prior_shape: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (k, the family's second parameter (Weibull scale or gamma rate), mean)."""
        inputs = torch.cat([h, torch.log1p(prior_shape)], dim=-1) if self.use_prior else h
        k_raw, mean_raw = self.linear(inputs).chunk(2, dim=-1)
        mean = F.softplus(mean_raw) * (lengths[:, None] / self.n_topics)
        return posterior_from_mean(self.posterior, F.softplus(k_raw), mean)


PosteriorHead = WeibullHead
"""The same head under a family-neutral name."""
