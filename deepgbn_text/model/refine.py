"""Closing the amortisation gap: refine each document's posterior after the encoder, by the bottom layer's
gamma-Poisson fixed point under the prior from the layers above, or by gradient steps on its ELBO; and
refine the bottom topics by EM on the training documents' counts under that inference."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from ..distributions import POSITIVE_MIN, REFINE_MEAN_MIN, CountAllocation, gamma_poisson_fixed_point, positive
from .batch import SparseBatch
from .gbn import GBN


@dataclass(frozen=True)
class PriorStrength:
    """How far the bottom layer's conjugate update trusts the prior shape a = f_2(theta^(2)) from the layer
    above: it uses ``scale`` * a * |a|^(``power`` - 1), |a| = sum_k a_k, a prior of total pseudo-count
    ``scale`` * |a|^``power`` spread as a is. The model's own prior is scale 1, power 1; with the gamma rate
    fixed at 1 its total |a| follows the document's length, and power 1/2 lets the total grow only as its
    square root, so a long document leans on its own words more (docs/model.md). ``second_layer`` > 0
    first refines theta^(2) by its own conjugate update (:func:`second_layer_update`, prior scaled by it);
    0 keeps the encoder's mean there."""

    scale: float
    power: float = 1.0
    second_layer: float = 0.0

    def __call__(self, shape: torch.Tensor) -> torch.Tensor:
        """The prior shape the conjugate update uses, from the model's ``shape`` (documents x topics)."""
        if self.power == 1.0:
            return self.scale * shape
        total = shape.sum(-1, keepdim=True).clamp_min(POSITIVE_MIN)
        return shape * (self.scale * total ** (self.power - 1.0))

    def __str__(self) -> str:
        text = (f"scaled by {self.scale:g}" if self.power == 1.0
                else f"rescaled to a total of {self.scale:g} x its total^{self.power:g}")
        if self.second_layer:
            text += f", after layer 2's own conjugate update with its prior scaled by {self.second_layer:g}"
        return text


PRIOR_STRENGTHS = (*(PriorStrength(scale) for scale in (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)),
                   *(PriorStrength(scale, 0.5) for scale in (1 / 2, 1.0, 2.0, 4.0)),
                   *(PriorStrength(scale, 0.5, 0.5) for scale in (2.0, 4.0)))
"""The prior strengths the fit chooses from, on its validation documents, for :func:`conjugate_bottom_means`
(the model's prior scaled, then totals that grow as the square root of its mass, then those after layer 2's
own update, for models of two layers or more; on a tie the first)."""
DEFAULT_PRIOR = PriorStrength(1 / 8)
"""The prior strength of a model fitted without validation documents (the choice on most corpora tried)."""
TOPIC_EM_SMOOTHING = 0.01
"""The pseudo-count every word gets in every topic at an EM update of the bottom topics (log Phi stays finite)."""


@torch.no_grad()
def conjugate_bottom_means(module: GBN, batch: SparseBatch, means: list[torch.Tensor], steps: int,
                           prior: PriorStrength) -> torch.Tensor:
    """The bottom layer's posterior mean from its conjugate update over ``batch``'s counts: start from
    ``means`` (every layer's, bottom first, e.g. the encoder's) and take ``steps`` fixed-point steps of
    :func:`~deepgbn_text.distributions.gamma_poisson_fixed_point` with the prior shape f_2(theta^(2)) from
    the layer above, weakened by ``prior``: the model's own prior is too strong for the words a document
    has not shown yet (docs/model.md)."""
    return conjugate_update(module, batch, means, steps, prior)[0]


def conjugate_update(module: GBN, batch: SparseBatch, means: list[torch.Tensor], steps: int,
                     prior: PriorStrength) -> tuple[torch.Tensor, CountAllocation]:
    """:func:`conjugate_bottom_means` and the batch's counts against the bottom topics it used."""
    if prior.second_layer and module.n_layers > 1:
        means = [means[0], second_layer_update(module, batch, means, steps, prior.second_layer), *means[2:]]
    allocation = CountAllocation(batch.offsets, batch.cols, batch.values, batch.rows, module.links[0].phi)
    return gamma_poisson_fixed_point(allocation, prior(module.bottom_prior_shape(means)), means[0], steps), allocation


@torch.no_grad()
def second_layer_update(module: GBN, batch: SparseBatch, means: list[torch.Tensor], steps: int,
                        scale: float) -> torch.Tensor:
    """theta^(2) by its own conjugate update on ``batch``'s counts, from ``means[1]``: the words as
    Pois(Phi^(1) Phi^(2) theta^(2)) (the link's linear part; the columns of the product are on the simplex)
    under the prior shape from the layer above (f_3(theta^(3)), or r for two layers) times ``scale``."""
    words = module.links[0].phi @ module.links[1].phi
    allocation = CountAllocation(batch.offsets, batch.cols, batch.values, batch.rows, words)
    above = positive(module.links[2](means[2])) if module.n_layers > 2 else module.top_shape.expand_as(means[1])
    return gamma_poisson_fixed_point(allocation, scale * above, means[1], steps)


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


@torch.no_grad()
def em_topics(module: GBN, batches: Iterable[SparseBatch], steps: int, prior: PriorStrength) -> torch.Tensor:
    """The bottom topics Phi^(1) after one EM step, everything else fixed (V x K, columns on the simplex).
    E: every document's theta^(1) by :func:`conjugate_bottom_means` (``steps``, ``prior``) under the
    current topics. M: each topic's words from the counts allocated to it, Phi_vk proportional to
    TOPIC_EM_SMOOTHING + sum_d x_dv Phi_vk theta_dk / (Phi_v . theta_d), the update of Poisson
    factorisation (and of PLSA)."""
    phi = module.links[0].phi
    allocated = torch.zeros_like(phi)
    for batch in batches:
        theta, allocation = conjugate_update(module, batch, module.posterior_means(batch), steps, prior)
        allocated += allocation.per_word(theta)
    topics = phi * allocated + TOPIC_EM_SMOOTHING
    return topics / topics.sum(0)


@torch.no_grad()
def set_bottom_topics(module: GBN, phi: torch.Tensor) -> None:
    """Make ``phi`` (V x K, columns on the simplex) the bottom topics."""
    module.links[0].logits.copy_(torch.log(positive(phi)))
