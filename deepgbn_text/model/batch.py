"""Sparse minibatches: rows of a CSR count matrix as torch tensors, never densified."""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..storage.csr_files import release_pages, take_rows

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


DEVICE_CORPUS_SHARE = 0.5
"""The largest share of a GPU's free memory that :class:`DeviceCSR` may fill with a corpus."""
UPLOAD_ENTRIES = 1 << 24
"""Entries copied to the device at a time by :class:`DeviceCSR` (128 MB of host copies)."""


class DeviceCSR:
    """A CSR count matrix copied to a device once, with minibatches of rows gathered there.

    A batch costs a few device kernels and no host work beyond slicing the host copy of the row
    lengths (which gives every batch's number of entries, so nothing waits for the device). For a GPU
    this replaces gathering rows with scipy on the host and copying them, which for 1M documents costs
    several seconds an epoch."""

    def __init__(self, counts: sp.csr_matrix, row_tokens: np.ndarray, device: torch.device | str) -> None:
        """``row_tokens``: every row's total count (:func:`~deepgbn_text.storage.csr_files.row_sums` of ``counts``)."""
        self.device = torch.device(device)
        self.n_words = counts.shape[1]
        self.row_entries = np.diff(np.asarray(counts.indptr, dtype=np.int64))
        tokens = np.asarray(row_tokens, dtype=np.float32)
        self.row_starts = torch.from_numpy(np.asarray(counts.indptr[:-1], dtype=np.int64)).to(self.device)
        self.entries = torch.from_numpy(self.row_entries).to(self.device)
        self.tokens = torch.from_numpy(tokens).to(self.device)
        self.cols = torch.empty(counts.nnz, dtype=torch.int32, device=self.device)
        self.values = torch.empty(counts.nnz, dtype=torch.float32, device=self.device)
        for start in range(0, counts.nnz, UPLOAD_ENTRIES):
            stop = min(start + UPLOAD_ENTRIES, counts.nnz)
            self.cols[start:stop] = torch.from_numpy(np.array(counts.indices[start:stop], dtype=np.int32))
            self.values[start:stop] = torch.from_numpy(np.array(counts.data[start:stop], dtype=np.float32))
            release_pages(counts)

    @staticmethod
    def fits(counts: sp.csr_matrix, device: torch.device) -> bool:
        """Whether ``counts`` should live on ``device``: a GPU with room for it to spare."""
        if device.type != "cuda":
            return False
        free, _ = torch.cuda.mem_get_info(device)
        return counts.nnz * 8 + counts.shape[0] * 20 <= DEVICE_CORPUS_SHARE * free

    def batches(self, rows: np.ndarray, batch_size: int, first_step: int = 0) -> Iterator[tuple[int, SparseBatch]]:
        """Yield ``(step, batch)`` over the documents ``rows`` in order, as :func:`iter_batches` does."""
        rows = np.asarray(rows, dtype=np.int64)
        ends = np.cumsum(self.row_entries[rows])
        on_device = torch.from_numpy(rows).to(self.device, non_blocking=True)
        for step in range(first_step, math.ceil(len(rows) / batch_size)):
            start, stop = step * batch_size, min((step + 1) * batch_size, len(rows))
            n_entries = int(ends[stop - 1] - (ends[start - 1] if start else 0))
            yield step, self._gather(on_device[start:stop], n_entries)

    def _gather(self, rows: torch.Tensor, n_entries: int) -> SparseBatch:
        entries = self.entries[rows]
        offsets = torch.cumsum(entries, 0) - entries
        doc = torch.repeat_interleave(torch.arange(rows.shape[0], device=self.device), entries, output_size=n_entries)
        source = self.row_starts[rows][doc] + torch.arange(n_entries, device=self.device) - offsets[doc]
        return SparseBatch(offsets, self.cols[source].long(), self.values[source], doc, self.tokens[rows], self.n_words)
