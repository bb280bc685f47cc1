"""Start a deep model's bottom topics from collapsed Gibbs LDA, as PGBN's layer-wise Gibbs sampler starts
its first layer.

The one-layer VAE pretraining gives the deep stage an encoder and a start for its bottom topics; Gibbs
sampling from a random start (tomotopy's LDA, its asymmetric document-topic prior re-estimated every 10
sweeps) finds sharper, more coherent topics than the gradient training does, and the deep stage keeps them:
on the sample and 20NG-3000 a start from Gibbs LDA's topics gave both a lower completion perplexity and a
layer-1 NPMI above tomotopy's own (docs/benchmarks.md). The upper links' partition start then reads the
documents' LDA topic proportions times their lengths instead of the VAE's latents.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import UserInputError

SAMPLER_USE = "the Gibbs start of the bottom topics (gibbs_sweeps, --gibbs-sweeps; 0 turns it off)"
"""How an error names what needs tomotopy."""
GIBBS_MAX_DOCUMENTS = 50_000
"""The most training documents the sampler reads (a seeded sample of them beyond that): it holds every
token in memory, and the deep stage trains the topics on all the documents afterwards."""


def import_tomotopy(name: str):  # type: ignore[no-untyped-def]
    """The tomotopy module, or a UserInputError saying that ``name`` needs it."""
    try:
        import tomotopy
    except ImportError:
        raise UserInputError(f"{name} needs tomotopy: pip install tomotopy") from None
    return tomotopy


def document_words(counts: sp.csr_matrix, row: int, vocab: Sequence[str]) -> list[str]:
    """Document ``row`` of ``counts`` as the list of its tokens (each word repeated by its count)."""
    s, e = counts.indptr[row], counts.indptr[row + 1]
    return [vocab[j] for j, c in zip(counts.indices[s:e], counts.data[s:e]) for _ in range(int(c))]


def train_tomotopy(model, counts: sp.csr_matrix, vocab: Sequence[str], iterations: int,  # type: ignore[no-untyped-def]
                   workers: int) -> None:
    """Add every non-empty document of ``counts`` to a tomotopy ``model`` and run its Gibbs sweeps."""
    for row in range(counts.shape[0]):
        words = document_words(counts, row, vocab)
        if words:  # tomotopy aborts the process on an empty document
            model.add_doc(words)
    model.train(iterations, workers=workers)


def fit_tomotopy_lda(counts: sp.csr_matrix, vocab: Sequence[str], n_topics: int, seed: int, iterations: int,
                     name: str, alpha: float = 0.1, eta: float = 0.01, optim_interval: int = 10,
                     workers: int = 1) -> tuple[Any, np.ndarray]:
    """tomotopy's ``LDAModel`` trained by ``iterations`` collapsed Gibbs sweeps on the non-empty documents of
    ``counts`` (``optim_interval`` > 0: alpha re-estimated every that many sweeps). Returns the model and
    its topics x words matrix of unnormalised n_kv + eta over ``vocab`` (a word it never saw gets eta)."""
    tp = import_tomotopy(name)
    model = tp.LDAModel(k=n_topics, alpha=alpha, eta=eta, seed=seed)
    model.optim_interval = optim_interval
    train_tomotopy(model, counts, vocab, iterations, workers)
    index = {w: j for j, w in enumerate(model.used_vocabs)}
    cols = np.array([index.get(w, -1) for w in vocab])
    topic_word = np.full((n_topics, len(vocab)), float(model.eta))
    for k in range(n_topics):
        raw = np.asarray(model.get_topic_word_dist(k, normalize=False), dtype=np.float64)
        topic_word[k, cols >= 0] = raw[cols[cols >= 0]]
    return model, topic_word


def check_sampler() -> None:
    """A UserInputError naming the option and how to go on when tomotopy cannot be imported."""
    import_tomotopy(SAMPLER_USE)


def gibbs_topics(counts: sp.csr_matrix, rows: np.ndarray, n_topics: int, sweeps: int, seed: int,
                 latent_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit LDA with ``n_topics`` topics by ``sweeps`` collapsed Gibbs sweeps on the documents ``rows`` of
    ``counts`` (non-empty; at most GIBBS_MAX_DOCUMENTS of them, seeded). Returns the topics (V x K, columns on
    the simplex: n_kv + eta normalised) and the latents of the documents ``latent_rows`` (a subset of
    ``rows``; documents x K): each document's topic proportions times its length, the scale of the deep
    model's bottom latents. A document the sampler did not read gets its proportions by tomotopy's inference."""
    if len(rows) > GIBBS_MAX_DOCUMENTS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, GIBBS_MAX_DOCUMENTS, replace=False))
    vocab = [f"w{i}" for i in range(counts.shape[1])]
    model, topic_word = fit_tomotopy_lda(counts[rows], vocab, n_topics, seed, sweeps, SAMPLER_USE)
    topics = topic_word.T / topic_word.sum(1)
    position = {row: i for i, row in enumerate(rows)}
    read = np.array([row in position for row in latent_rows], dtype=bool)
    shares = np.empty((len(latent_rows), n_topics))
    if read.any():  # tomotopy's documents iterate in the order they were added (indexing them fails in 0.14)
        fitted = np.array([doc.get_topic_dist() for doc in model.docs])
        shares[read] = fitted[[position[row] for row in latent_rows[read]]]
    if not read.all():  # tomotopy's inference, 100 sweeps, for documents the sampler did not read
        unread = counts[latent_rows[~read]]
        docs = [model.make_doc(document_words(unread, r, vocab)) for r in range(unread.shape[0])]
        dists, _ = model.infer(docs, iterations=100, workers=1)
        shares[~read] = np.vstack([np.asarray(d, dtype=np.float64) for d in dists])
    lengths = np.asarray(counts[latent_rows].sum(1), dtype=np.float64)
    return topics.astype(np.float32), (shares * lengths).astype(np.float32)
