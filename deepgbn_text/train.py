"""The training loop: Adam on minibatches of CSR rows, KL warm-up, early stopping on held-out ELBO."""
from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from .distributions import POSITIVE_MIN
from .errors import UserInputError
from .evaluate.perplexity import completion_perplexity, completion_split
from .model.batch import SparseBatch
from .model.gbn import GBN
from .model.refine import refine_posterior_means

EVAL_BATCH_SIZE = 1024
MAX_BAD_STEP_SHARE = 0.5
"""An epoch in which more than this share of steps had a non-finite loss or gradient stops training."""


class TrainingDiverged(UserInputError):
    """Training produced NaN/Inf too often; the message names the epoch and what to change."""


@dataclass
class TrainConfig:
    """Optimisation settings (model sizes live on the model)."""

    epochs: int = 300
    batch_size: int = 64
    lr: float = 3e-3
    topic_lr_scale: float = 10.0
    """The topic logits (softmax over words or child topics) learn this many times faster than the
    rest: a topic must move its logits by several units, and Adam moves each by about lr a step."""
    kl_warmup: float = 0.1
    patience: int = 30
    grad_clip: float = 20.0


class GBNWordDistribution:
    """Adapter: a GBN module as a ``WordDistributionModel``.

    Layer 1 (the model as a whole): the bottom posterior mean through Phi^(1). Layer l > 1: that layer's
    posterior mean pushed down the gamma means to word rates (the layer's own reconstruction)."""

    def __init__(self, module: GBN, device: torch.device, layer: int = 1, refine_steps: int = 0) -> None:
        self.module = module
        self.device = device
        self.layer = layer
        self.refine_steps = refine_steps

    def word_distribution(self, observed: sp.csr_matrix) -> np.ndarray:
        batch = SparseBatch.from_csr(observed, self.device)
        if self.refine_steps:
            theta = refine_posterior_means(self.module, batch, self.refine_steps)[self.layer - 1]
        else:
            theta = self.module.posterior_means(batch)[self.layer - 1]
        rates = self.module.propagate_down(theta, self.layer - 1)
        return (rates / rates.sum(-1, keepdim=True).clamp_min(POSITIVE_MIN)).cpu().numpy()


def _elbo_per_token(module: GBN, counts: sp.csr_matrix, device: torch.device) -> float:
    total = torch.zeros((), device=device)
    with torch.no_grad():
        for start in range(0, counts.shape[0], EVAL_BATCH_SIZE):
            batch = SparseBatch.from_csr(counts[start : start + EVAL_BATCH_SIZE], device)
            total += module(batch).elbo().sum()
    return float(total) / max(1, counts.sum())


@contextlib.contextmanager
def deterministic_on_cpu(device: torch.device) -> Iterator[None]:
    """Use torch's deterministic kernels while training on CPU: the backward of the sparse gathers
    (index_put with accumulation) otherwise sums in a thread-dependent order, and two fits with one seed
    drift apart (2e-8 after 3 epochs on the sample). CUDA fits were already bit-identical."""
    if device.type != "cpu":
        yield
        return
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def train_gbn(
    module: GBN,
    train_counts: sp.csr_matrix,
    val_counts: sp.csr_matrix | None,
    config: TrainConfig,
    rng: np.random.Generator,
    device: torch.device,
    callback: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Fit ``module`` in place; return one record per epoch. Restores the best validation state."""
    params = list(module.parameters())
    topic_logits = [p for name, p in module.named_parameters() if name.endswith(".logits")]
    others = [p for name, p in module.named_parameters() if not name.endswith(".logits")]
    optimiser = torch.optim.Adam(
        [{"params": others}, {"params": topic_logits, "lr": config.lr * config.topic_lr_scale}], lr=config.lr
    )
    warmup_epochs = max(1, math.ceil(config.kl_warmup * config.epochs))
    n_train = train_counts.shape[0]
    train_tokens = max(1, int(train_counts.sum()))
    if val_counts is not None:
        val_observed, val_heldout = completion_split(val_counts, seed=int(rng.integers(2**31)))
        scorer = GBNWordDistribution(module, device)
    history: list[dict[str, Any]] = []
    best_elbo, best_state, stale = -math.inf, None, 0
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        kl_weight = min(1.0, epoch / warmup_epochs)
        module.train()
        elbo_sum = torch.zeros((), device=device)
        bad_steps = torch.zeros((), device=device, dtype=torch.int64)
        order = rng.permutation(n_train)
        n_steps = 0
        for start in range(0, n_train, config.batch_size):
            batch = SparseBatch.from_csr(train_counts[order[start : start + config.batch_size]], device)
            terms = module(batch)
            loss = -terms.elbo(kl_weight).sum() / batch.lengths.sum().clamp_min(1.0)
            optimiser.zero_grad(set_to_none=False)
            loss.backward()
            finite = torch.isfinite(loss)
            for p in params:
                torch.nan_to_num_(p.grad, nan=0.0, posinf=0.0, neginf=0.0).mul_(finite)
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip, foreach=True)
            optimiser.step()
            bad_steps += (~finite).long()
            elbo_sum += torch.where(finite, terms.elbo().sum().detach(), 0.0)
            n_steps += 1
        record: dict[str, Any] = {
            "epoch": epoch,
            "kl_weight": kl_weight,
            "train_elbo_per_token": float(elbo_sum) / train_tokens,
            "skipped_steps": int(bad_steps),
        }
        if record["skipped_steps"] > MAX_BAD_STEP_SHARE * n_steps:
            raise TrainingDiverged(
                f"training diverged: {record['skipped_steps']} of {n_steps} steps in epoch {epoch} gave NaN/Inf; "
                "lower --lr or check the input counts"
            )
        if val_counts is not None:
            module.eval()
            record["val_elbo_per_token"] = _elbo_per_token(module, val_counts, device)
            record["val_perplexity"] = completion_perplexity(scorer, val_observed, val_heldout)
            if epoch >= warmup_epochs:
                if record["val_elbo_per_token"] > best_elbo:
                    best_elbo, stale = record["val_elbo_per_token"], 0
                    best_state = copy.deepcopy(module.state_dict())
                else:
                    stale += 1
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        if callback is not None:
            callback(record)
        if stale >= config.patience:
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    optimiser.zero_grad(set_to_none=True)
    module.eval()
    return history
