"""The training loop: Adam on minibatches of CSR rows, KL warm-up, an optional parameter average (see
averaging.py), early stopping on held-out ELBO, checkpoints that resume exactly, roll-back on numerical
faults, and data-parallel training."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from .averaging import ParameterAverage
from .checkpoint import load_checkpoint, save_checkpoint
from ..storage.csr_files import row_sums, take_rows
from .distributed import Ranks
from ..distributions import POSITIVE_MIN
from ..errors import UserInputError
from ..evaluate.perplexity import completion_perplexity, completion_split
from .graphed_steps import GraphedSteps
from ..model.batch import DeviceCSR, SparseBatch, iter_batches
from ..model.gbn import GBN
from ..model.refine import (DEFAULT_PRIOR, PRIOR_STRENGTHS, PriorStrength, conjugate_bottom_means, em_topics,
                            refine_posterior_means, set_bottom_topics)
from .state_store import StateStore

EVAL_BATCH_SIZE = 1024
BEST, LAST_GOOD = "best", "last_good"
"""Names of the two states kept aside: the best on validation so far, and the roll-back point."""
MAX_BAD_STEP_SHARE = 0.5
"""An epoch in which more than this share of steps had a non-finite loss or gradient is rolled back."""

log = logging.getLogger(__name__)


class TrainingDiverged(UserInputError):
    """Training produced NaN/Inf too often; the message names the epoch and what to change."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: a checkpoint was written; the message says how to continue."""


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
    patience: int = 10
    grad_clip: float = 20.0
    max_rollbacks: int = 2
    """A faulty epoch goes back to the state before it with half the learning rate, at most this often."""
    lr_decay_patience: int = 0
    """Halve the learning rate after every this many epochs in a row without a better held-out ELBO (0:
    never). It settles the fit in its best region instead of letting it wander there at full step size."""
    ema_decay: float = 0.0
    """Validate, keep and return an exponential moving average of the parameters with this decay per
    step (0: the parameters themselves; the average costs 4 bytes a parameter); see averaging.py."""
    torch_compile: bool = False
    """Run the training forward through ``torch.compile`` (dynamic shapes: batches differ in documents
    and non-zeros), which fuses the many small element-wise kernels of a step; validation stays eager."""
    cuda_graphs: bool = True
    """On a GPU, in one process and without ``torch_compile``: replay every training step from a CUDA
    graph (graphed_steps.py), which launches the step's hundreds of small kernels at once."""


@dataclass
class Validation:
    """The held-out documents: their rows, their number of tokens and their completion split."""

    rows: np.ndarray
    tokens: int
    observed: sp.csr_matrix
    heldout: sp.csr_matrix


@dataclass
class CheckpointPlan:
    """Where and how often to checkpoint (at every epoch end, and every ``every_steps`` steps when > 0);
    ``fingerprint`` names the run (settings and data) a checkpoint belongs to."""

    path: Path
    fingerprint: dict[str, Any]
    every_steps: int = 0
    resume: bool = False


class GBNWordDistribution:
    """Adapter: a GBN module as a ``WordDistributionModel``.

    Layer 1 (the model as a whole): the bottom posterior mean through Phi^(1). Layer l > 1: that layer's
    posterior mean pushed down the gamma means to word rates (the layer's own reconstruction)."""

    def __init__(self, module: GBN, device: torch.device, layer: int = 1, refine_steps: int = 0,
                 conjugate_steps: int = 0, prior: PriorStrength = DEFAULT_PRIOR) -> None:
        self.module = module
        self.device = device
        self.layer = layer
        self.refine_steps = refine_steps
        self.conjugate_steps = conjugate_steps
        self.prior = prior

    def _theta(self, observed: sp.csr_matrix) -> torch.Tensor:
        batch = SparseBatch.from_csr(observed, self.device)
        if self.refine_steps:
            means = refine_posterior_means(self.module, batch, self.refine_steps)
        else:
            means = self.module.posterior_means(batch)
        if self.layer == 1 and self.conjugate_steps:
            return conjugate_bottom_means(self.module, batch, means, self.conjugate_steps, self.prior)
        return means[self.layer - 1]

    def word_distribution(self, observed: sp.csr_matrix) -> np.ndarray:
        rates = self.module.propagate_down(self._theta(observed), self.layer - 1)
        return (rates / rates.sum(-1, keepdim=True).clamp_min(POSITIVE_MIN)).cpu().numpy()

    @functools.cached_property
    def _phi(self) -> torch.Tensor:
        with torch.no_grad():
            return self.module.links[0].phi

    def word_probabilities(self, observed: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """p(word ``cols[i]`` | document ``rows[i]``) at those entries only. The bottom link is linear with
        simplex columns, so p(w | d) = theta0_d . phi_w / sum(theta0_d) with theta0 the layer's latents
        pushed down to layer 1: O(entries x K) work, no documents x V array."""
        theta = self.module.propagate_down(self._theta(observed), self.layer - 1, to_layer=0)
        rows_t = torch.as_tensor(np.asarray(rows, dtype=np.int64), device=self.device)
        cols_t = torch.as_tensor(np.asarray(cols, dtype=np.int64), device=self.device)
        probs = (theta[rows_t] * self._phi[cols_t]).sum(-1) / theta.sum(-1)[rows_t].clamp_min(POSITIVE_MIN)
        return probs.cpu().numpy()


def choose_prior(module: GBN, device: torch.device, observed: sp.csr_matrix, heldout: sp.csr_matrix,
                 conjugate_steps: int) -> tuple[PriorStrength, float]:
    """The strength of PRIOR_STRENGTHS whose conjugate inference gives the lowest completion perplexity on
    the validation documents' held-out words (the first on a tie), and that perplexity."""
    module.eval()
    candidates = [prior for prior in PRIOR_STRENGTHS if module.n_layers > 1 or not prior.second_layer]
    scores = [completion_perplexity(GBNWordDistribution(module, device, 1, 0, conjugate_steps, prior), observed, heldout)
              for prior in candidates]
    best = int(np.argmin(scores))
    return candidates[best], scores[best]


EM_STEP_SIZES = (1.0, 0.5, 0.25)
"""The shares of an EM update of the bottom topics tried, mixed with the current topics: the validation
documents choose one (a full EM step can overfit the training documents)."""


def refine_topics_by_em(module: GBN, device: torch.device, counts: sp.csr_matrix, train_rows: np.ndarray,
                       val: Validation, conjugate_steps: int, prior: PriorStrength, max_updates: int) -> tuple[int, float]:
    """Up to ``max_updates`` EM updates of the bottom topics over the training documents
    (:func:`~deepgbn_text.model.refine.em_topics`), each taken at the share of EM_STEP_SIZES that gives the
    validation documents the lowest completion perplexity under the conjugate inference, and only if
    that is lower than before; stop at the first that is not. Returns the number of updates kept and the
    validation perplexity after them."""
    module.eval()

    def perplexity(phi: torch.Tensor) -> float:
        set_bottom_topics(module, phi)
        scorer = GBNWordDistribution(module, device, 1, 0, conjugate_steps, prior)
        return completion_perplexity(scorer, val.observed, val.heldout)

    trained = module.links[0].logits.detach().clone()
    current = module.links[0].phi.detach()
    best = perplexity(current)
    kept = 0
    while kept < max_updates:
        set_bottom_topics(module, current)  # scoring the shares left the last one in place
        batches = (batch for _, batch in iter_batches(counts, train_rows, EVAL_BATCH_SIZE, device))
        target = em_topics(module, batches, conjugate_steps, prior)
        score, size = min((perplexity((1 - size) * current + size * target), size) for size in EM_STEP_SIZES)
        if not score < best:
            break
        current, best, kept = (1 - size) * current + size * target, score, kept + 1
    if kept:
        set_bottom_topics(module, current)
    else:
        with torch.no_grad():
            module.links[0].logits.copy_(trained)
    return kept, best


def _elbo_sum(module: GBN, batches: Iterator[tuple[int, SparseBatch]], device: torch.device) -> float:
    """The ELBO summed over the documents of ``batches`` (one draw each)."""
    total = torch.zeros((), device=device)
    with torch.no_grad():
        for _, batch in batches:
            total += module(batch).elbo().sum()
    return float(total)


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


@dataclass
class Position:
    """Where training stands: the epoch under way, the next step in it and the early-stopping state."""

    epoch: int = 1
    step: int = 0
    stale: int = 0
    best_elbo: float = -math.inf
    lr_scale: float = 1.0
    rollbacks: int = 0
    finished: bool = False


class Trainer:
    """Fits a GBN module in place on the rows ``train_rows`` of a CSR count matrix (which may be
    memory-mapped: only the rows of the batches at hand are read). Under torch.distributed each rank
    trains on its share of every batch and rank 0 evaluates and writes checkpoints."""

    def __init__(
        self,
        module: GBN,
        counts: sp.csr_matrix,
        train_rows: np.ndarray,
        val_rows: np.ndarray | None,
        config: TrainConfig,
        seed: int,
        device: torch.device,
        callback: Callable[[dict[str, Any]], None] | None = None,
        checkpoint: CheckpointPlan | None = None,
    ) -> None:
        self.module, self.counts, self.config, self.device = module, counts, config, device
        self.callback, self.checkpoint = callback, checkpoint
        self.ranks = Ranks.current()
        self.train_rows = np.asarray(train_rows, dtype=np.int64)
        lengths = row_sums(counts)
        self.device_counts = DeviceCSR(counts, lengths, device) if DeviceCSR.fits(counts, device) else None
        self.train_tokens = max(1, int(lengths[self.train_rows].sum()))
        self.rng = np.random.default_rng(seed)
        split_seed = int(self.rng.integers(2**31))
        self.val: Validation | None = None
        if val_rows is not None and len(val_rows):
            rows = np.asarray(val_rows, dtype=np.int64)
            observed, heldout = completion_split(take_rows(counts, rows), seed=split_seed)
            self.val = Validation(rows, max(1, int(lengths[rows].sum())), observed, heldout)
        if self.ranks.rank:
            torch.manual_seed(seed + self.ranks.rank)  # every rank its own sampling noise
        self.params = list(module.parameters())
        self.graphs: GraphedSteps | None = None
        if config.cuda_graphs and device.type == "cuda" and not self.ranks.distributed and not config.torch_compile:
            self.graphs = GraphedSteps(self._update, self.ranks.local_batch_size(config.batch_size), module.n_words,
                                       device)
        topic_logits = [p for name, p in module.named_parameters() if name.endswith(".logits")]
        others = [p for name, p in module.named_parameters() if not name.endswith(".logits")]
        self.optimiser = torch.optim.Adam(
            [{"params": others}, {"params": topic_logits, "lr": config.lr * config.topic_lr_scale}], lr=config.lr,
            fused=True,  # one kernel for the whole update (on CPU 7% of a 20NG epoch faster than foreach)
            capturable=self.graphs is not None,
        )
        self.found_inf = torch.zeros((), device=device)
        self.optimiser.found_inf = self.found_inf  # type: ignore[attr-defined]  # read by every step()
        self.base_lrs = [group["lr"] for group in self.optimiser.param_groups]
        self.average = ParameterAverage(module, config.ema_decay) if config.ema_decay else None
        self.train_module: torch.nn.Module = module
        if self.ranks.distributed:
            self.train_module = torch.nn.parallel.DistributedDataParallel(module)
        if config.torch_compile:
            if self.ranks.distributed:  # one graph: dynamo's split at DDP's buckets failed here (torch 2.13)
                torch._dynamo.config.optimize_ddp = False
            self.train_module = torch.compile(self.train_module, dynamic=True)
        self.warmup_epochs = max(1, math.ceil(config.kl_warmup * config.epochs))
        self.position = Position()
        self.history: list[dict[str, Any]] = []
        self.states = StateStore(device)
        self.epoch_order: np.ndarray = self.train_rows
        self.elbo_sum = torch.zeros((), device=device)
        self.bad_steps = torch.zeros((), device=device, dtype=torch.int64)
        self.epoch_seconds = 0.0
        self.interrupted = False
        if checkpoint is not None and checkpoint.resume:
            self._restore(load_checkpoint(checkpoint.path, self._fingerprint()))
        self._snapshot()

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        """Train until the epoch budget or early stopping; restore the best validation state."""
        try:
            with self._ctrl_c_sets_flag():
                while not self.position.finished:
                    self._run_epoch()
            if BEST in self.states:
                self.module.load_state_dict(self.states.get(BEST))
            elif self.average is not None:
                self.average.swap()
        finally:
            self.states.close()
        self.optimiser.zero_grad(set_to_none=True)
        self.module.eval()
        return self.history

    def _run_epoch(self) -> None:
        pos, config = self.position, self.config
        if pos.step == 0:
            self.epoch_order = self.train_rows[self.rng.permutation(len(self.train_rows))]
            self.elbo_sum.zero_()
            self.bad_steps.zero_()
            self.epoch_seconds = 0.0
        started = time.perf_counter()
        kl_weight = min(1.0, pos.epoch / self.warmup_epochs)
        batch_size = self.ranks.local_batch_size(config.batch_size)
        my_rows = self.ranks.shard(self.epoch_order)
        n_steps = math.ceil(len(my_rows) / batch_size)
        self.module.train()
        for step, batch in self._batches(my_rows, batch_size, pos.step):
            self._step(batch, kl_weight)
            pos.step = step + 1
            if self.interrupted and not self.ranks.distributed:
                self.epoch_seconds += time.perf_counter() - started
                self._stop_interrupted()
            if self.checkpoint and self.checkpoint.every_steps and pos.step % self.checkpoint.every_steps == 0 \
                    and pos.step < n_steps:
                self.epoch_seconds += time.perf_counter() - started
                started = time.perf_counter()
                self._save()
        self.ranks.sum(self.elbo_sum)
        self.ranks.sum(self.bad_steps)
        record: dict[str, Any] = {
            "epoch": pos.epoch,
            "kl_weight": kl_weight,
            "train_elbo_per_token": float(self.elbo_sum) / self.train_tokens,
            "skipped_steps": int(self.bad_steps),
            "rollbacks": pos.rollbacks,
            "lr": config.lr * pos.lr_scale,
        }
        if record["skipped_steps"] > MAX_BAD_STEP_SHARE * n_steps * self.ranks.world:
            self._roll_back(record["skipped_steps"], n_steps * self.ranks.world)
            return
        with self._averaged():
            if self.val is not None:
                self._validate(record)
            record["seconds"] = self.epoch_seconds + time.perf_counter() - started
            self.history.append(record)
            if self.callback is not None and self.ranks.is_main:
                self.callback(record)
        pos.epoch, pos.step = pos.epoch + 1, 0
        pos.finished = pos.epoch > config.epochs or pos.stale >= config.patience
        self._snapshot()
        if self.checkpoint is not None:
            self._save()
        flag = self.ranks.sum(torch.tensor(float(self.interrupted), device=self.device))
        if float(flag) > 0 and not pos.finished:
            self._stop_interrupted(saved=True)

    def _averaged(self) -> contextlib.AbstractContextManager[None]:
        """Validation and the callback see the parameter average when there is one."""
        return self.average.applied() if self.average is not None else contextlib.nullcontext()

    def _batches(self, rows: np.ndarray, batch_size: int, first_step: int = 0) -> Iterator[tuple[int, SparseBatch]]:
        """Batches of the documents ``rows``: gathered on the device when the corpus lives there, else
        read from the (possibly memory-mapped) counts a chunk at a time and copied over."""
        if self.device_counts is not None:
            return self.device_counts.batches(rows, batch_size, first_step)
        return iter_batches(self.counts, rows, batch_size, self.device, first_step)

    def _step(self, batch: SparseBatch, kl_weight: float) -> None:
        """One Adam step (replayed from a CUDA graph when there are graphs), then the parameter average's."""
        if self.graphs is not None:
            self.graphs.step(batch, kl_weight)
        else:
            self._update(batch, kl_weight)
        if self.average is not None:
            self.average.update()

    def _update(self, batch: SparseBatch, kl_weight: float | torch.Tensor) -> None:
        """One Adam step. A step whose loss or gradient is NaN/Inf is skipped by the fused Adam kernel
        itself (its ``found_inf`` flag: parameters, moments and step count stay as they were) and
        counted in ``skipped_steps``, without a host sync: the check stays on the device."""
        terms = self.train_module(batch)
        weighted = terms.objective(kl_weight).sum()
        loss = -weighted / batch.lengths.sum().clamp_min(1.0)
        if terms.log_prior is not None:  # once per corpus: per token of the whole training set
            loss = loss - terms.log_prior / self.train_tokens
        self.optimiser.zero_grad(set_to_none=True)  # backward then writes the gradients: no zeroing, no add_
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip, foreach=True)
        bad = ~(torch.isfinite(loss) & torch.isfinite(grad_norm))
        self.found_inf.copy_(bad)
        self.optimiser.step()
        self.bad_steps += bad
        same = isinstance(kl_weight, float) and kl_weight == 1.0 and not terms.layer_log_likelihoods
        elbo = weighted if same else terms.elbo().sum()  # after the KL warm-up, without layer terms: the same sum
        self.elbo_sum += torch.where(bad, 0.0, elbo.detach())

    def _validate(self, record: dict[str, Any]) -> None:
        """Held-out ELBO and completion perplexity (computed on rank 0, shared with all ranks); keep
        the best state and count epochs without improvement once the KL warm-up is over."""
        assert self.val is not None
        values = torch.zeros(2, dtype=torch.float64, device=self.device)
        if self.ranks.is_main:
            self.module.eval()
            val = self.val
            values[0] = _elbo_sum(self.module, self._batches(val.rows, EVAL_BATCH_SIZE), self.device) / val.tokens
            values[1] = completion_perplexity(GBNWordDistribution(self.module, self.device), val.observed, val.heldout)
        record["val_elbo_per_token"], record["val_perplexity"] = self.ranks.from_main(values).tolist()
        pos = self.position
        if pos.epoch >= self.warmup_epochs:
            if record["val_elbo_per_token"] > pos.best_elbo:
                pos.best_elbo, pos.stale = record["val_elbo_per_token"], 0
                self.states.put(BEST, self.module.state_dict())
            else:
                pos.stale += 1
                if self.config.lr_decay_patience and pos.stale % self.config.lr_decay_patience == 0:
                    self._scale_lr(0.5)

    # -- numerical faults -----------------------------------------------------------------------
    def _snapshot(self) -> None:
        """Keep the state to roll back to if the coming epoch fails."""
        self.states.put(LAST_GOOD, {"module": self.module.state_dict(), "optimiser": self.optimiser.state_dict(),
                                    "average": self._average_state()})

    def _roll_back(self, bad: int, n_steps: int) -> None:
        """Go back to the state before this epoch with half the learning rate, or stop if that was
        tried ``max_rollbacks`` times already."""
        pos = self.position
        cause = f"{bad} of {n_steps} steps in epoch {pos.epoch} gave a NaN/Inf loss or gradient"
        if pos.rollbacks >= self.config.max_rollbacks:
            raise TrainingDiverged(
                f"training diverged: {cause}, after {pos.rollbacks} roll-backs with a halved learning rate "
                f"(now {self.config.lr * pos.lr_scale:g}); lower --lr or check the input for extreme counts"
            )
        last_good = self.states.get(LAST_GOOD)
        self.module.load_state_dict(last_good["module"])
        self._load_optimiser(last_good["optimiser"])
        self._load_average_state(last_good["average"])
        pos.rollbacks += 1
        self._scale_lr(0.5)
        pos.step = 0
        log.warning("%s; rolled back to the start of the epoch with learning rate x%g", cause, pos.lr_scale)

    def _average_state(self) -> dict[str, Any] | None:
        return self.average.state_dict() if self.average is not None else None

    def _load_average_state(self, state: dict[str, Any]) -> None:
        if self.average is not None:
            self.average.load_state_dict(state)

    def _load_optimiser(self, state: dict[str, Any]) -> None:
        """Load Adam's state (new tensors: the CUDA graphs, which captured the old ones, are dropped)."""
        self.optimiser.load_state_dict(state)
        for group in self.optimiser.param_groups:
            group["capturable"] = self.graphs is not None  # the state may come from a run without graphs
        if self.graphs is not None:
            self.graphs.forget()

    def _scale_lr(self, factor: float) -> None:
        self.position.lr_scale *= factor
        for group, base in zip(self.optimiser.param_groups, self.base_lrs):
            group["lr"] = base * self.position.lr_scale
        if self.graphs is not None:
            self.graphs.forget()  # the graphs captured the learning rate

    # -- checkpoints and Ctrl-C -----------------------------------------------------------------
    def _fingerprint(self) -> dict[str, Any]:
        assert self.checkpoint is not None
        return {**self.checkpoint.fingerprint, "processes": self.ranks.world}

    def _rank_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"torch_rng": torch.get_rng_state(), "elbo_sum": float(self.elbo_sum),
                                 "bad_steps": int(self.bad_steps)}
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def _save(self) -> None:
        """Write everything needed to continue exactly from here (rank 0 writes; all ranks take part)."""
        assert self.checkpoint is not None
        rank_states = self.ranks.gather_objects(self._rank_state())
        if not self.ranks.is_main:
            return
        state = {"position": dataclasses.asdict(self.position), "history": self.history,
                 "numpy_rng": self.rng.bit_generator.state}
        save_checkpoint(self.checkpoint.path, {
            "fingerprint": self._fingerprint(),
            "module": self.module.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "average": self._average_state(),
            "best_state": self.states.get(BEST),
            "epoch_order": torch.from_numpy(self.epoch_order),
            "ranks": rank_states,
            "state": json.dumps(state),
            "epoch_seconds": self.epoch_seconds,
        })

    def _restore(self, payload: dict[str, Any]) -> None:
        self.module.load_state_dict(payload["module"])
        self._load_optimiser(payload["optimiser"])
        self._load_average_state(payload["average"])
        if payload["best_state"] is not None:
            self.states.put(BEST, payload["best_state"])
        state = json.loads(payload["state"])
        self.position = Position(**state["position"])
        self.history = state["history"]
        self.rng.bit_generator.state = state["numpy_rng"]
        self.epoch_order = payload["epoch_order"].numpy()
        self.epoch_seconds = payload["epoch_seconds"]
        mine = payload["ranks"][self.ranks.rank]
        torch.set_rng_state(mine["torch_rng"])
        if self.device.type == "cuda" and "cuda_rng" in mine:
            torch.cuda.set_rng_state(mine["cuda_rng"], self.device)
        self.elbo_sum.fill_(mine["elbo_sum"])
        self.bad_steps.fill_(mine["bad_steps"])

    @contextlib.contextmanager
    def _ctrl_c_sets_flag(self) -> Iterator[None]:
        """With checkpoints on, the first Ctrl-C asks the loop to checkpoint and stop; a second one
        interrupts at once."""
        if self.checkpoint is None or threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_sigint(signum: int, frame: object) -> None:
            self.interrupted = True
            signal.signal(signal.SIGINT, previous)

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _stop_interrupted(self, saved: bool = False) -> None:
        assert self.checkpoint is not None
        if not saved:
            self._save()
        pos = self.position
        raise TrainingInterrupted(f"stopped in epoch {pos.epoch} after step {pos.step}; checkpoint written to "
                                  f"{self.checkpoint.path}; continue with the same command and --resume")
