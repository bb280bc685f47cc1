"""The (Generalized) Gamma Belief Network as a torch module: generative links + Weibull encoder + ELBO.

Layers are indexed 0..L-1 from the bottom (words) up. ``links[0]`` maps layer 0's latents to Poisson
word rates (always linear, so the likelihood needs rates only at non-zero counts); ``links[i]`` for
i >= 1 maps layer i's latents to the gamma shapes a of layer i-1. The top layer's prior is Gam(r, 1); a
layer below it has Gam(a, 1), or with ``gamma_concentration`` c > 0 the prior of the same mean whose total
shape grows as c sqrt(sum a) instead of sum a (``GBN._layer_kl``).
With ``everyday_pools`` P > 0 the first P bottom topics are everyday-word pools under a fixed prior: a
one-layer model's top shapes r of those topics are held at ``pool_shapes`` instead of learned, and a deeper
model adds ``pool_shapes`` to the bottom layer's prior shape from the layer above (``set_pool_shape``).
The variational posterior of every layer is a Weibull (``posterior="weibull"``, the default) or a gamma
(``posterior="gamma"``: implicit reparameterisation, analytic gamma-gamma KL); see distributions.py.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..distributions import (
    GAMMA_RATE,
    POSITIVE_MIN,
    capped_concentration_rate,
    check_posterior,
    poisson_log_likelihood_at,
    product_rates_pay,
    rates_by_gather,
    rates_by_product,
    positive,
    posterior_from_mean,
    posterior_kl,
    posterior_rsample,
)
from .batch import SparseBatch
from .encoder import UpwardEncoder, WeibullHead
from .links import LinearLink, NonlinearLink

LINKS = ("linear", "nonlinear")
BOTTOM_PARAMETERS = ("links.0.", "encoder.embed.", "encoder.bias", "encoder.norm.")
"""The parameters a one-layer model shares with a deep one of the same bottom width: the bottom topics and
the encoder's word embedding (``GBN.start_bottom_from``)."""

Posterior = Callable[[int, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
"""(layer index, prior shape) -> the layer's posterior (k, second parameter, mean): the second parameter is
the Weibull scale lam or the gamma rate, as ``distributions.posterior_from_mean`` gives it."""


@dataclass
class ELBOTerms:
    """Per-document terms of the evidence lower bound."""

    log_likelihood: torch.Tensor
    kl_per_layer: list[torch.Tensor]
    layer_log_likelihoods: list[torch.Tensor] = field(default_factory=list)
    """log Pois(x | layer l's sample pushed down to word rates) for every layer l >= 2 (empty when the
    model has no per-layer likelihood)."""
    layer_weight: float = 0.0
    log_prior: torch.Tensor | None = None
    """log p(Phi) of the upper links' Dirichlet prior (once for the whole corpus, not per document);
    None when the prior is flat."""

    def elbo(self, kl_weight: float | torch.Tensor = 1.0) -> torch.Tensor:
        """Per-document (weighted) ELBO."""
        return self.log_likelihood - kl_weight * torch.stack(self.kl_per_layer).sum(0)

    def objective(self, kl_weight: float | torch.Tensor = 1.0) -> torch.Tensor:
        """Per-document training objective: the (weighted) ELBO plus ``layer_weight`` times every upper
        layer's own log-likelihood of the words (exactly the ELBO without them)."""
        if not self.layer_log_likelihoods:
            return self.elbo(kl_weight)
        return self.elbo(kl_weight) + self.layer_weight * torch.stack(self.layer_log_likelihoods).sum(0)


class GBN(nn.Module):
    """Deep Poisson-gamma topic model with upward-downward Weibull (or gamma) inference."""

    def __init__(
        self,
        n_words: int,
        topics: Sequence[int],
        hidden: int = 256,
        link: str = "nonlinear",
        use_prior_in_encoder: bool = True,
        posterior: str = "weibull",
        layer_likelihood: float = 0.0,
        balanced_links: bool = False,
        upper_concentration: float = 1.0,
        gate_max: float = 1.0,
        gamma_concentration: float = 0.0,
        everyday_pools: int = 0,
    ) -> None:
        super().__init__()
        self.layer_likelihood = float(layer_likelihood)
        self.gamma_concentration = float(gamma_concentration)
        self.upper_concentration = float(upper_concentration)
        if link not in LINKS:
            raise ValueError(f"link must be one of {LINKS}, got {link!r}")
        self.posterior = check_posterior(posterior)
        self.topics = list(topics)
        self.n_words = n_words
        self.encoder = UpwardEncoder(n_words, hidden, len(self.topics))
        self.heads = nn.ModuleList(WeibullHead(hidden, k, use_prior_in_encoder, posterior) for k in self.topics)
        widths = [n_words, *self.topics]
        upper = [
            NonlinearLink(widths[i + 1], widths[i], hidden, balanced=balanced_links, gate_max=gate_max)
            if link == "nonlinear"
            else LinearLink(widths[i + 1], widths[i], balanced_links)
            for i in range(1, len(self.topics))
        ]
        self.links = nn.ModuleList([LinearLink(self.topics[0], n_words), *upper])
        self.log_top_shape = nn.Parameter(torch.zeros(self.topics[-1]))
        self.everyday_pools = int(everyday_pools)
        self.register_buffer("pool_shapes", torch.zeros(self.topics[0]) if self.everyday_pools else None)

    @property
    def n_layers(self) -> int:
        return len(self.topics)

    @property
    def top_shape(self) -> torch.Tensor:
        """The top layer's gamma prior shape r (learned, positive; a one-layer model's pools held at their
        ``pool_shapes``)."""
        shape = self.log_top_shape.exp()
        if self.pool_shapes is not None and self.n_layers == 1:
            return torch.where(self.pool_shapes > 0, self.pool_shapes, shape)
        return shape

    @torch.no_grad()
    def set_pool_shape(self, shape: float) -> None:
        """Give each of the first ``everyday_pools`` bottom topics the fixed prior shape ``shape`` (> 0)."""
        self.pool_shapes.zero_()
        self.pool_shapes[: self.everyday_pools] = shape

    def _with_pools(self, prior: torch.Tensor) -> torch.Tensor:
        """The bottom layer's prior shape from the layer above, plus the pools' fixed shapes when there are pools."""
        return prior if self.pool_shapes is None else prior + self.pool_shapes

    @torch.no_grad()
    def start_bottom_from(self, single: GBN) -> None:
        """Copy a fitted one-layer model's bottom topics and word embedding (:data:`BOTTOM_PARAMETERS`)."""
        state = {name: value for name, value in single.state_dict().items() if name.startswith(BOTTOM_PARAMETERS)}
        self.load_state_dict(state, strict=False)  # the other parameters keep their values

    def upper_loadings(self) -> list[torch.Tensor | None]:
        """[None, Phi^(2), ..., Phi^(L)]: the upper links' loadings, computed once for a whole pass (a
        balanced link's takes 20 Sinkhorn steps); index i is ``links[i]``'s, the bottom one is left out."""
        return [None, *(link.phi for link in self.links[1:])]

    def _downward(
        self, batch: SparseBatch, posterior: Posterior, sample: bool, phis: list[torch.Tensor | None] | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """Go top-down: layer i's posterior (k, param, mean) comes from ``posterior(i, prior_shape)``.

        Returns (theta per layer, KL per layer, posterior shape k per layer, link output per layer),
        bottom first; theta is a reparameterised sample when ``sample`` is true and the posterior mean
        otherwise; the link output of layer i >= 1 is ``links[i](theta[i])`` before the floor that
        makes it a prior shape (empty for the bottom layer)."""
        phis = phis or self.upper_loadings()
        prior = self.top_shape.expand(batch.n_docs, -1)
        thetas: list[torch.Tensor] = [torch.empty(0)] * self.n_layers
        kls: list[torch.Tensor] = [torch.empty(0)] * self.n_layers
        shapes: list[torch.Tensor] = [torch.empty(0)] * self.n_layers
        linked: list[torch.Tensor] = [torch.empty(0)] * self.n_layers
        for i in reversed(range(self.n_layers)):
            k, param, mean = posterior(i, prior)
            thetas[i] = posterior_rsample(self.posterior, k, param) if sample else mean
            kls[i] = self._layer_kl(i, k, param, prior)
            shapes[i] = k
            if i > 0:
                linked[i] = self.links[i](thetas[i], phis[i])
                prior = positive(linked[i]) if i > 1 else self._with_pools(positive(linked[i]))
        return thetas, kls, shapes, linked

    def _layer_kl(self, i: int, k: torch.Tensor, param: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """KL of layer i's posterior (k, param) to its gamma prior, per document: Gam(prior, GAMMA_RATE), or
        below the top with ``gamma_concentration`` c > 0, Gam(rho prior, rho GAMMA_RATE) with
        rho = min(1, c / sqrt(sum prior)) (``distributions.capped_concentration_rate``)."""
        rate: torch.Tensor | float = GAMMA_RATE
        if self.gamma_concentration and i < self.n_layers - 1:
            rho = capped_concentration_rate(prior, self.gamma_concentration)
            prior, rate = rho * prior, rho * GAMMA_RATE
        return posterior_kl(self.posterior, k, param, prior, rate).sum(-1)

    def _encoder_posterior(self, batch: SparseBatch) -> Posterior:
        states = self.encoder(batch)
        return lambda i, prior: self.heads[i](states[i], prior, batch.lengths)

    def posterior_from_mean(self, k: torch.Tensor, mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(k, param, mean) of this model's posterior family from a shape and a mean (k is clamped)."""
        return posterior_from_mean(self.posterior, k, mean)

    def elbo_terms(self, batch: SparseBatch, posterior: Posterior) -> ELBOTerms:
        """One reparameterised sample of every layer from ``posterior``; the ELBO's terms per document."""
        phis = self.upper_loadings()
        thetas, kls, _, linked = self._downward(batch, posterior, sample=True, phis=phis)
        rates = self._rates_at_nonzeros(batch)
        loglik = poisson_log_likelihood_at(batch.offsets, batch.values, rates(thetas[0], False), thetas[0])
        if not self.training:
            return ELBOTerms(loglik, kls)
        uppers = []
        if self.layer_likelihood and self.n_layers > 1:
            # every upper layer at once, through the bottom topics detached: the upper layers explain the
            # words through them without moving them; layer i's first link is the one the downward pass
            # has evaluated already
            pushed = torch.stack([self._push_down(linked[i], i - 1, phis=phis) for i in range(1, self.n_layers)], 1)
            uppers = list(poisson_log_likelihood_at(batch.offsets, batch.values, rates(pushed, True), pushed).unbind(1))
        return ELBOTerms(loglik, kls, uppers, self.layer_likelihood, self.upper_log_prior(phis))

    def _rates_at_nonzeros(self, batch: SparseBatch) -> Callable[[torch.Tensor, bool], torch.Tensor]:
        """(theta, detached) -> theta Phi^T at the batch's non-zero counts, Phi the bottom topics (detached:
        no gradient to them), by a dense product or a gather, whichever is faster for this batch
        (``distributions.product_rates_pay``); the gather reads Phi's rows once for every call."""
        phi = self.links[0].phi
        if product_rates_pay(batch.values.device, batch.values.shape[0], batch.n_docs, self.n_words):
            return lambda theta, detached: rates_by_product(batch.rows, batch.cols, theta,
                                                            phi.detach() if detached else phi)
        # embedding, not phi[cols]: on CUDA its backward is 8x faster (see poisson_log_likelihood_sparse)
        phi_rows = F.embedding(batch.cols, phi)
        return lambda theta, detached: rates_by_gather(batch.rows, theta, phi_rows.detach() if detached else phi_rows)

    def upper_log_prior(self, phis: list[torch.Tensor | None] | None = None) -> torch.Tensor | None:
        """(eta - 1) sum log Phi over the upper links: a symmetric Dirichlet(eta) on every column, up to a
        constant. eta < 1 favours parents made of few children; None when eta = 1 (a flat prior)."""
        if self.upper_concentration == 1.0 or self.n_layers == 1:
            return None
        phis = phis or self.upper_loadings()
        log_phi = sum(torch.log(positive(phi)).sum() for phi in phis[1:] if phi is not None)
        return (self.upper_concentration - 1.0) * log_phi

    def _push_down(self, theta: torch.Tensor, layer: int, to_layer: int = 0,
                   phis: list[torch.Tensor | None] | None = None) -> torch.Tensor:
        """Layer ``layer``'s latents through the gamma means down to ``to_layer`` (differentiable);
        ``phis``: the upper loadings when the caller computed them already."""
        for i in range(layer, to_layer, -1):
            theta = self.links[i](theta, phis[i] if phis is not None and i > 0 else None)
        return theta

    def forward(self, batch: SparseBatch) -> ELBOTerms:
        """The ELBO's terms per document under the encoder's posterior (one sample)."""
        return self.elbo_terms(batch, self._encoder_posterior(batch))

    @torch.no_grad()
    def posterior_means(self, batch: SparseBatch) -> list[torch.Tensor]:
        """E_q[theta] of every layer (each layer's head fed the mean of the layer above), bottom first."""
        return self._downward(batch, self._encoder_posterior(batch), sample=False)[0]

    def bottom_prior_shape(self, thetas: list[torch.Tensor]) -> torch.Tensor:
        """The gamma prior shape of the bottom layer given the latents of every layer (bottom first):
        f_2(theta^(2)) (plus the pools' shapes), or the top shape r for a one-layer model."""
        if self.n_layers == 1:
            return self.top_shape.expand_as(thetas[0])
        return self._with_pools(positive(self.links[1](thetas[1])))

    @torch.no_grad()
    def posterior_samples(self, batch: SparseBatch) -> list[torch.Tensor]:
        """One reparameterised draw of theta of every layer from the encoder's posterior, bottom first."""
        return self._downward(batch, self._encoder_posterior(batch), sample=True)[0]

    @torch.no_grad()
    def posterior_params(self, batch: SparseBatch) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The encoder's posterior shapes k and means of every layer (mean pass), bottom first."""
        means, _, shapes, _ = self._downward(batch, self._encoder_posterior(batch), sample=False)
        return shapes, means

    @torch.no_grad()
    def word_rates(self, theta_bottom: torch.Tensor) -> torch.Tensor:
        """Poisson word rates (dense, n_docs x V) for bottom-layer latents."""
        return self.links[0](theta_bottom)

    @torch.no_grad()
    def propagate_down(self, theta: torch.Tensor, layer: int, to_layer: int = -1) -> torch.Tensor:
        """Push layer ``layer``'s latents down through the gamma means to ``to_layer`` (-1: word rates)."""
        return self._push_down(theta, layer, to_layer)

    @torch.no_grad()
    def unit_effects(self, layer: int, baseline: torch.Tensor, to_layer: int = -1) -> torch.Tensor:
        """Row k: what raising topic k of ``layer`` above a typical state adds, in expectation, at
        ``to_layer`` (-1: word rates), normalised to sum to one.

        The typical state is ``baseline`` (the mean posterior theta of ``layer``); topic k is raised by
        the baseline's total mass, so a non-linear link is probed near the data it was trained on. For
        linear links the result is exactly the normalised Phi^(to_layer + 2) ... Phi^(layer + 1) e_k.
        """
        base = baseline.to(self.log_top_shape.device).expand(self.topics[layer], -1)
        raised = base + base.sum(-1, keepdim=True) * torch.eye(self.topics[layer], device=base.device)
        effect = self.propagate_down(raised, layer, to_layer) - self.propagate_down(base, layer, to_layer)
        effect = effect.clamp_min(0.0)
        return effect / effect.sum(-1, keepdim=True).clamp_min(POSITIVE_MIN)
