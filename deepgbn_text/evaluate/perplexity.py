"""Document-completion perplexity: infer from 80% of each test document's tokens, score the other 20%."""
from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.sparse as sp

from ..storage.csr_files import row_sums

PROBABILITY_FLOOR = 1e-12
"""Smallest word probability used in a log (a model that gives a held-out word zero mass is not infinite)."""
SPLIT_BLOCK_TOKENS = 1 << 20
"""Tokens expanded at a time by :func:`completion_split` (about 80 MB of temporaries)."""
MAX_DENSE_ENTRIES = 1 << 24
"""Largest documents x words block of word probabilities asked of a model at once (64 MB of float32)."""


class WordDistributionModel(Protocol):
    """Anything that maps observed counts (CSR, docs x V) to per-document word distributions (and may
    also have ``word_probabilities``, see :func:`completion_perplexity`)."""

    def word_distribution(self, observed: sp.csr_matrix) -> np.ndarray:
        """Dense (docs x V) array whose rows sum to one."""
        ...


def completion_split(
    counts: sp.csr_matrix, heldout_fraction: float = 0.2, seed: int = 0, block_tokens: int = SPLIT_BLOCK_TOKENS
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Shuffle each document's tokens with ``seed``; hold out floor(fraction * length) of them.

    Returns (observed, heldout), two CSR matrices of the same shape that add up to ``counts``. Documents
    are split a block of about ``block_tokens`` tokens at a time (the result does not depend on it).
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    counts = sp.csr_matrix(counts)
    rng = np.random.default_rng(seed)
    token_ends = np.cumsum(row_sums(counts))
    total = int(token_ends[-1]) if len(token_ends) else 0
    cuts = np.searchsorted(token_ends, np.arange(block_tokens, total, block_tokens), side="right")
    edges = np.unique(np.concatenate([[0], cuts, [counts.shape[0]]]))
    parts = [_split_block(counts[a:b], heldout_fraction, rng) for a, b in zip(edges[:-1], edges[1:])]
    if not parts:
        return counts.copy(), counts.copy()
    return sp.vstack([o for o, _ in parts], format="csr"), sp.vstack([h for _, h in parts], format="csr")


def _split_block(
    counts: sp.csr_matrix, heldout_fraction: float, rng: np.random.Generator
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Split one block of documents: one random key per token drawn from ``rng`` in token order."""
    n_docs, n_words = counts.shape
    rows = np.repeat(np.arange(n_docs), np.diff(counts.indptr))
    token_doc = np.repeat(rows, counts.data)
    token_word = np.repeat(counts.indices, counts.data)
    keys = rng.random(token_doc.size)
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
    """exp(- sum held-out log p / number of held-out tokens), pooled over all documents.

    A model with ``word_probabilities(observed, rows, cols)`` (p of word ``cols[i]`` in document
    ``rows[i]``) is asked for the held-out entries only; others give dense ``word_distribution`` rows,
    a block of at most ``MAX_DENSE_ENTRIES`` probabilities at a time."""
    heldout = sp.csr_matrix(heldout)
    total_tokens = heldout.sum()
    if total_tokens == 0:
        raise ValueError("no held-out tokens: documents are too short for document completion")
    log_lik = 0.0
    by_entry = getattr(model, "word_probabilities", None)
    if by_entry is None:
        batch_size = max(1, min(batch_size, MAX_DENSE_ENTRIES // max(1, observed.shape[1])))
    for start in range(0, observed.shape[0], batch_size):
        stop = min(start + batch_size, observed.shape[0])
        block = heldout[start:stop].tocoo()
        if block.nnz == 0:
            continue
        if by_entry is not None:
            probs = by_entry(observed[start:stop], block.row, block.col)
        else:
            probs = model.word_distribution(observed[start:stop])[block.row, block.col]
        log_lik += float(np.sum(block.data * np.log(np.maximum(probs, PROBABILITY_FLOOR))))
    return float(np.exp(-log_lik / total_tokens))
