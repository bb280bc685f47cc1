"""Training steps replayed from CUDA graphs.

A training step of the 20NG model is about 800 small kernels, and on a GPU their launches, not their
arithmetic, set its time (H200, batch 256: 13 ms a step, 2.2 ms of it in kernels). A CUDA graph launches
a whole captured step -- forward, backward, gradient clipping and the Adam update -- in one call.

A graph replays fixed shapes at fixed addresses, so every batch is first copied into static buffers, its
entries padded up to a size bucket with zero counts spread over its documents. A zero count adds exactly
nothing to the ELBO (0 * log rate - lgamma(1) = 0 for the likelihood, a zero weight in the encoder's bag
of words), so a padded batch has the batch's ELBO and gradient (up to the order of one sum). One graph is
captured per shape (documents, bucket), and all share one memory pool: they run one after another and
keep nothing between steps.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from ..model.batch import SparseBatch

BUCKETS_PER_DOUBLING = 8
"""Entry counts are padded up to one of this many sizes per doubling (at most 1/8 of padding), so an
epoch's batches fall into a handful of shapes, one graph each."""
EAGER_WARMUP_STEPS = 3
"""Steps run without a graph before the first capture: they create what is made lazily on first use
(Adam's moments, the cuBLAS workspace of the capture stream), which a capture may not allocate."""
GROWTH = 1.25
"""When a batch outgrows the static buffers they are reallocated this much larger than it needs."""

log = logging.getLogger(__name__)

Update = Callable[[SparseBatch, torch.Tensor], None]
"""One whole training step on a batch with a KL weight, leaving all its results on the device."""


def entry_bucket(n_entries: int) -> int:
    """The padded size of a batch with ``n_entries`` entries: the next multiple of 1/BUCKETS_PER_DOUBLING of
    the power of two at or below it."""
    grain = max(1, (1 << (max(n_entries, 1).bit_length() - 1)) // BUCKETS_PER_DOUBLING)
    return -(-max(n_entries, 1) // grain) * grain


class StaticBatch:
    """The buffers every graph reads its batch from: documents up to ``max_docs``, entries up to a
    capacity that grows when a batch needs more."""

    def __init__(self, max_docs: int, n_words: int, device: torch.device) -> None:
        self.n_words, self.device = n_words, device
        self.offsets = torch.zeros(max_docs, dtype=torch.long, device=device)
        self.lengths = torch.zeros(max_docs, device=device)
        self.documents = torch.arange(max_docs + 1, device=device)
        self.capacity = 0
        self.cols = self.values = self.rows = self.positions = torch.empty(0, device=device)

    def fits(self, n_entries: int) -> bool:
        return entry_bucket(n_entries) <= self.capacity

    def grow(self, n_entries: int) -> None:
        """Room for ``n_entries`` with GROWTH to spare (new addresses: graphs made before are void)."""
        self.capacity = entry_bucket(int(n_entries * GROWTH))
        self.cols = torch.zeros(self.capacity, dtype=torch.long, device=self.device)
        self.values = torch.zeros(self.capacity, device=self.device)
        self.rows = torch.zeros(self.capacity, dtype=torch.long, device=self.device)
        self.positions = torch.arange(self.capacity, device=self.device)

    def load(self, batch: SparseBatch) -> SparseBatch:
        """Copy ``batch`` in, padded to its bucket with zero counts of word 0 spread evenly over its
        documents (one long document would be one long serial loop in the encoder's bag-of-words
        kernel); return the padded batch as views of the buffers. Device kernels only."""
        n_docs, n_entries = batch.n_docs, batch.values.shape[0]
        size = entry_bucket(n_entries)
        padding_before = self.documents[: n_docs + 1] * (size - n_entries) // n_docs  # of each document
        offsets = self.offsets[:n_docs]
        torch.add(batch.offsets, padding_before[:n_docs], out=offsets)
        self.lengths[:n_docs].copy_(batch.lengths)
        cols, values, rows = self.cols[:size], self.values[:size], self.rows[:size]
        cols.zero_()
        values.zero_()
        moved = self.positions[:n_entries] + padding_before[batch.rows]  # where each entry goes
        cols[moved] = batch.cols
        values[moved] = batch.values
        torch.searchsorted(offsets, self.positions[:size], right=True, out=rows)
        rows.sub_(1)
        return SparseBatch(offsets, cols, values, rows, self.lengths[:n_docs], self.n_words)


class GraphedSteps:
    """Runs ``update`` on every batch from a CUDA graph captured for the batch's padded shape."""

    def __init__(self, update: Update, max_docs: int, n_words: int, device: torch.device) -> None:
        self.update, self.device = update, device
        self.static = StaticBatch(max_docs, n_words, device)
        self.kl_weight = torch.zeros((), device=device)
        self.kl_weight_value = 0.0
        self.stream = torch.cuda.Stream(device)
        self.graphs: dict[tuple[int, int], torch.cuda.CUDAGraph] = {}
        self.pool: tuple[int, int] | None = None
        self.eager_steps = 0
        self.captures = 0
        self.failed = False

    def forget(self) -> None:
        """Drop the graphs: parameters, optimiser state or the learning rate they captured were replaced."""
        self.graphs.clear()
        self.pool = None

    def step(self, batch: SparseBatch, kl_weight: float) -> None:
        """One training step on ``batch``: eagerly during the warm-up, else by replaying (or first
        capturing) the graph of its padded shape."""
        if self.failed:  # no graphs: the plain step, on the batch as it is
            self.update(batch, kl_weight)
            return
        n_entries = batch.values.shape[0]
        if not self.static.fits(n_entries):
            self.forget()
            self.static.grow(n_entries)
        padded = self.static.load(batch)
        if kl_weight != self.kl_weight_value:
            self.kl_weight.fill_(kl_weight)
            self.kl_weight_value = kl_weight
        if self.eager_steps < EAGER_WARMUP_STEPS:
            self._eager(padded)
            return
        shape = (padded.n_docs, padded.values.shape[0])
        graph = self.graphs.get(shape)
        if graph is None:
            graph = self._capture(padded)
            if graph is None:
                self._eager(padded)
                return
            self.graphs[shape] = graph
        graph.replay()

    def _eager(self, padded: SparseBatch) -> None:
        """The step without a graph, on the capture stream (as the warm-up before a capture must run)."""
        current = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(current)
        with torch.cuda.stream(self.stream):
            self.update(padded, self.kl_weight)
        current.wait_stream(self.stream)
        self.eager_steps += 1

    def _capture(self, padded: SparseBatch) -> torch.cuda.CUDAGraph | None:
        """Capture ``update`` on ``padded`` (capturing runs nothing); None, and no graphs from then on,
        when the step cannot be captured."""
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.device(self.device), torch.cuda.graph(graph, pool=self.pool, stream=self.stream):
                self.update(padded, self.kl_weight)  # on the trainer's device, which need not be the current one
        except RuntimeError as error:
            log.warning("the training step could not be captured as a CUDA graph (%s); training goes on "
                        "without graphs", str(error).splitlines()[0])
            self.failed = True
            self.forget()
            return None
        self.pool = graph.pool() if self.pool is None else self.pool
        self.captures += 1
        return graph
