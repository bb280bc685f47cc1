"""Sparse minibatches: rows of a CSR count matrix as torch tensors, never densified."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch


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

    def to_dense(self) -> torch.Tensor:
        """A dense (n_docs x n_words) copy, for tests and small evaluation batches only."""
        dense = torch.zeros(self.n_docs, self.n_words, dtype=self.values.dtype, device=self.values.device)
        dense[self.rows, self.cols] = self.values
        return dense
