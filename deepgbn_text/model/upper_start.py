"""Start a deep model's upper links from its pretrained bottom layer, as PGBN grows a layer on the one below.

Each upper layer's loadings start as a partition of the layer below: a non-negative factorisation of that
layer's latents (documents x children) finds parents made of children that documents use together, and an
assignment rounds it to the partition nearest to it in which every parent has the same number of children
(a vertex of the balanced links' transport polytope, where the trained links end). The parents' latents,
the sums of their children's, are then factorised for the next layer up. With the links started there, the
deep stage needs a shorter KL warm-up than a start from random links (docs/model.md).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning

START_FLOOR = 1e-3
"""The logits start at log(partition / size + START_FLOOR / children). A softer start (0.1) gave more coherent
upper topics but let near-duplicates back (20NG: 16-19% of layer 2), so the start is nearly hard
(docs/benchmarks.md)."""
NMF_ITERATIONS = 300
"""Multiplicative-update steps of each layer's factorisation (KL divergence, as the Poisson likelihood)."""
START_DOCUMENTS = 20_000
"""The most training documents whose latents the factorisation reads (a seeded sample of them beyond that)."""


def partition(theta: np.ndarray, n_parents: int, seed: int) -> np.ndarray:
    """(children x parents) 0/1 matrix with every child in exactly one parent and at most
    ceil(children / parents) children in a parent, nearest to the KL non-negative factorisation of ``theta``
    (documents x children) with ``n_parents`` components: the assignment of children to parents' places
    that maximises the sum of the log shares the factorisation gives each child in its parent."""
    n_children = theta.shape[1]
    init = "nndsvda" if n_parents <= min(theta.shape) else "random"  # the SVD start needs that many
    nmf = NMF(n_components=n_parents, beta_loss="kullback-leibler", solver="mu", init=init,
              max_iter=NMF_ITERATIONS, random_state=seed)
    with warnings.catch_warnings():  # the iterations are capped on purpose: a start, not a fit
        warnings.simplefilter("ignore", ConvergenceWarning)
        nmf.fit(theta)
    loadings = nmf.components_.T  # children x parents
    shares = loadings / np.maximum(loadings.sum(0, keepdims=True), np.finfo(float).tiny)
    size = math.ceil(n_children / n_parents)
    cost = -np.log(np.repeat(shares, size, axis=1) + np.finfo(float).tiny)  # children x (parent slots)
    children, slots = linear_sum_assignment(cost)
    result = np.zeros((n_children, n_parents))
    result[children, slots // size] = 1.0
    return result


def start_upper_links(module: torch.nn.Module, theta: np.ndarray, seed: int) -> None:
    """Set every upper link's logits of ``module`` (a GBN) from the partitions of the bottom latents
    ``theta`` (documents x bottom topics) and of the parent sums above them; a parent that gets no child
    (a layer wider than the one below) keeps its random logits."""
    latents = np.asarray(theta, dtype=np.float64)
    for link in module.links[1:]:
        n_children, n_parents = link.logits.shape
        groups = partition(latents, n_parents, seed)
        sizes = groups.sum(0)
        start = np.log(groups / np.maximum(sizes, 1.0) + START_FLOOR / n_children)
        with torch.no_grad():
            used = torch.as_tensor(sizes > 0, device=link.logits.device)
            link.logits[:, used] = torch.as_tensor(start, dtype=link.logits.dtype, device=link.logits.device)[:, used]
        latents = latents @ groups
