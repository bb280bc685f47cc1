"""Sparse minibatches: rows of a CSR count matrix as torch tensors, never densified."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..csr_files import take_rows

CHUNK_DOCS = 8192
"""Documents gathered and copied to the device at once while training (about 30 MB for 100-word documents)."""


@dataclass
class SparseBatch:
    """A CSR block of counts on a device: ``offsets``/``cols``/``values`` as CSR, ``rows`` per entry."""

    offsets: torch.Tensor
    cols: torch.Tensor
    values: torch.Tensor
    rows: torch.Tensor
    lengths: torch.Tensor
    n_words: int

    @property
    def n_docs(self) -> int:
        return self.lengths.shape[0]

    @classmethod
    def from_csr(cls, counts: sp.csr_matrix, device: torch.device | str = "cpu") -> SparseBatch:
        """Copy a CSR block to ``device`` (pinned, non-blocking when the target is a GPU)."""
        counts = sp.csr_matrix(counts)
        indptr = counts.indptr.astype(np.int64)
        n_docs = counts.shape[0]
        rows = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(indptr))
        lengths = np.asarray(counts.sum(axis=1), dtype=np.float32).ravel()
        host = [
            torch.from_numpy(indptr[:-1].copy()),
            torch.from_numpy(counts.indices.astype(np.int64)),
            torch.from_numpy(counts.data.astype(np.float32)),
            torch.from_numpy(rows),
            torch.from_numpy(lengths),
        ]
        device = torch.device(device)
        if device.type == "cuda":
            host = [t.pin_memory() for t in host]
        moved = [t.to(device, non_blocking=True) for t in host]
        return cls(*moved, n_words=counts.shape[1])

    def row_slice(self, start: int, stop: int, entry_start: int, entry_stop: int) -> SparseBatch:
        """Documents ``start:stop`` as views. The entry bounds come from the host's copy of the CSR
        ``indptr``, so slicing a batch that already lives on a GPU never waits for it."""
        return SparseBatch(
            self.offsets[start:stop] - entry_start,
            self.cols[entry_start:entry_stop],
            self.values[entry_start:entry_stop],
            self.rows[entry_start:entry_stop] - start,
            self.lengths[start:stop],
            self.n_words,
        )

    def to_dense(self) -> torch.Tensor:
        """A dense (n_docs x n_words) copy, for tests and small evaluation batches only."""
        dense = torch.zeros(self.n_docs, self.n_words, dtype=self.values.dtype, device=self.values.device)
        dense[self.rows, self.cols] = self.values
        return dense


def iter_batches(
    counts: sp.csr_matrix,
    rows: np.ndarray,
    batch_size: int,
    device: torch.device,
    first_step: int = 0,
    chunk_docs: int = CHUNK_DOCS,
) -> Iterator[tuple[int, SparseBatch]]:
    """Yield ``(step, batch)`` over the documents ``counts[rows]`` in order, ``batch_size`` at a time,
    from step ``first_step`` on. Rows are gathered and copied to the device a chunk of many batches
    at a time (one scipy gather and one transfer per chunk), and batches are views into the chunk.
    Memory-mapped counts give their pages back after each gather, so a pass holds one chunk's rows."""
    steps_per_chunk = max(1, chunk_docs // batch_size)
    docs_per_chunk = steps_per_chunk * batch_size
    for chunk_start in range(first_step // steps_per_chunk * docs_per_chunk, len(rows), docs_per_chunk):
        block = take_rows(counts, rows[chunk_start : chunk_start + docs_per_chunk])
        on_device = SparseBatch.from_csr(block, device)
        indptr = block.indptr
        for start in range(0, block.shape[0], batch_size):
            step = (chunk_start + start) // batch_size
            if step >= first_step:
                stop = min(start + batch_size, block.shape[0])
                yield step, on_device.row_slice(start, stop, int(indptr[start]), int(indptr[stop]))
