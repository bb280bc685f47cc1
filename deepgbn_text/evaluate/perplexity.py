"""Document-completion perplexity: infer from 80% of each test document's tokens, score the other 20%."""
from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.sparse as sp

PROBABILITY_FLOOR = 1e-12
"""Smallest word probability used in a log (a model that gives a held-out word zero mass is not infinite)."""


class WordDistributionModel(Protocol):
    """Anything that maps observed counts (CSR, docs x V) to per-document word distributions."""

    def word_distribution(self, observed: sp.csr_matrix) -> np.ndarray:
        """Dense (docs x V) array whose rows sum to one."""
        ...


def completion_split(
    counts: sp.csr_matrix, heldout_fraction: float = 0.2, seed: int = 0
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Shuffle each document's tokens with ``seed``; hold out floor(fraction * length) of them.

    Returns (observed, heldout), two CSR matrices of the same shape that add up to ``counts``.
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    counts = sp.csr_matrix(counts)
    n_docs, n_words = counts.shape
    rows = np.repeat(np.arange(n_docs), np.diff(counts.indptr))
    token_doc = np.repeat(rows, counts.data)
    token_word = np.repeat(counts.indices, counts.data)
    keys = np.random.default_rng(seed).random(token_doc.size)
    order = np.lexsort((keys, token_doc))
    token_doc, token_word = token_doc[order], token_word[order]
    lengths = np.bincount(token_doc, minlength=n_docs)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rank = np.arange(token_doc.size) - starts[token_doc]
    held = rank < np.floor(heldout_fraction * lengths[token_doc])

    def to_csr(mask: np.ndarray) -> sp.csr_matrix:
        ones = np.ones(int(mask.sum()), dtype=np.int32)
        matrix = sp.csr_matrix((ones, (token_doc[mask], token_word[mask])), shape=(n_docs, n_words))
        matrix.sum_duplicates()
        return matrix

    return to_csr(~held), to_csr(held)


def completion_perplexity(
    model: WordDistributionModel, observed: sp.csr_matrix, heldout: sp.csr_matrix, batch_size: int = 512
) -> float:
    """exp(- sum held-out log p / number of held-out tokens), pooled over all documents."""
    heldout = sp.csr_matrix(heldout)
    total_tokens = heldout.sum()
    if total_tokens == 0:
        raise ValueError("no held-out tokens: documents are too short for document completion")
    log_lik = 0.0
    for start in range(0, observed.shape[0], batch_size):
        stop = min(start + batch_size, observed.shape[0])
        block = heldout[start:stop].tocoo()
        if block.nnz == 0:
            continue
        probs = model.word_distribution(observed[start:stop])
        log_lik += float(np.sum(block.data * np.log(np.maximum(probs[block.row, block.col], PROBABILITY_FLOOR))))
    return float(np.exp(-log_lik / total_tokens))
