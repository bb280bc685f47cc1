"""LDA baselines (scikit-learn, gensim, tomotopy) behind the interface our evaluators use.

Every baseline has ``fit(corpus) -> self``, ``transform_layers(X) -> [theta]`` (one layer),
``word_distribution(observed, layer=1)`` (theta inferred by the library itself from the observed
counts only, times the topic-word matrix), ``word_probabilities`` (the same at given entries only),
``topic_word(layer=1)``, ``topics(layer=1, top_n)``, ``n_layers = 1``, ``topics_ = [K]`` and ``vocab_``. They are scored only by our evaluator, never by
their own likelihood bound.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ..storage.corpus import Corpus, counts_for_vocab
from ..errors import UserInputError
from ..model.lda_start import document_words, fit_tomotopy_lda


def training_corpus(X: Corpus | sp.spmatrix, vocab: Sequence[str] | None = None) -> Corpus:
    """The non-empty documents of a Corpus or of a count matrix with its vocabulary (at least 2 of them)."""
    corpus = X if isinstance(X, Corpus) else Corpus(X, list(vocab) if vocab is not None else
                                                      [f"w{i}" for i in range(X.shape[1])])
    corpus = corpus.nonempty()
    if corpus.n_docs < 2:
        raise UserInputError(f"the corpus has {corpus.n_docs} non-empty documents; at least 2 are needed")
    return corpus


class LDABaseline:
    """Common plumbing; subclasses implement ``_fit(counts)``, ``_theta(counts)`` and set ``topic_word_``."""

    name = "lda"
    inference = ""
    n_layers = 1

    def __init__(self, n_topics: int = 50, seed: int = 0) -> None:
        if not isinstance(n_topics, (int, np.integer)) or n_topics < 1:
            raise UserInputError(f"n_topics must be a positive integer, got {n_topics!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UserInputError(f"seed must be a non-negative integer, got {seed!r}")
        self.n_topics = int(n_topics)
        self.seed = int(seed)

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X: Corpus | sp.spmatrix, vocab: Sequence[str] | None = None) -> LDABaseline:
        corpus = training_corpus(X, vocab)
        if self.n_topics > corpus.n_words:
            raise UserInputError(f"{self.n_topics} topics but the vocabulary has only {corpus.n_words} words")
        self.vocab_ = list(corpus.vocab)
        self.topics_ = [self.n_topics]
        started = time.perf_counter()
        self._fit(corpus.counts)
        self.fit_seconds_ = time.perf_counter() - started
        tw = np.asarray(self.topic_word_, dtype=np.float64)
        self.topic_word_ = tw / tw.sum(axis=1, keepdims=True)
        return self

    def _fit(self, counts: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _theta(self, counts: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    # -- inference ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "topic_word_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit() first")

    def _check_layer(self, layer: int) -> None:
        if layer != 1:
            raise UserInputError(f"LDA has one layer; layer must be 1, got {layer}")

    def _counts(self, X: Corpus | sp.spmatrix) -> sp.csr_matrix:
        self._check_fitted()
        return counts_for_vocab(X, self.vocab_)

    def transform_layers(self, X: Corpus | sp.spmatrix) -> list[np.ndarray]:
        """Topic proportions of each document (rows sum to one), as a one-element list (one layer)."""
        theta = np.asarray(self._theta(self._counts(X)), dtype=np.float64)
        theta = np.where(np.isfinite(theta), np.maximum(theta, 0.0), 0.0)
        sums = theta.sum(axis=1, keepdims=True)
        theta = np.where(sums > 0, theta / np.where(sums > 0, sums, 1.0), 1.0 / self.n_topics)
        return [theta]

    def word_distribution(self, observed: sp.spmatrix, layer: int = 1) -> np.ndarray:
        """theta(observed) @ topic_word: dense (docs x V), rows sum to one."""
        self._check_layer(layer)
        probs = self.transform_layers(observed)[0] @ self.topic_word_
        return probs / probs.sum(axis=1, keepdims=True)

    def word_probabilities(self, observed: sp.spmatrix, rows: np.ndarray, cols: np.ndarray, layer: int = 1) -> np.ndarray:
        """``word_distribution(observed)[rows, cols]``, computed at those entries only."""
        self._check_layer(layer)
        theta = self.transform_layers(observed)[0]
        totals = theta @ self.topic_word_.sum(axis=1)
        return (theta[rows] * self.topic_word_[:, cols].T).sum(axis=1) / totals[rows]

    def topic_word(self, layer: int = 1) -> np.ndarray:
        """(K x V) word distributions of the topics."""
        self._check_fitted()
        self._check_layer(layer)
        return self.topic_word_.copy()

    def topics(self, layer: int = 1, top_n: int = 10) -> list[list[tuple[str, float]]]:
        dist = self.topic_word(layer)
        top = np.argsort(-dist, axis=1, kind="stable")[:, :top_n]
        return [[(self.vocab_[v], float(row[v])) for v in idx] for row, idx in zip(dist, top)]


class SklearnLDA(LDABaseline):
    """scikit-learn ``LatentDirichletAllocation``, batch variational Bayes."""

    name = "lda-sklearn"
    inference = "scikit-learn variational E-step on the observed counts"

    def __init__(self, n_topics: int = 50, seed: int = 0, max_iter: int = 50, n_jobs: int | None = 1) -> None:
        super().__init__(n_topics, seed)
        self.max_iter = max_iter
        self.n_jobs = n_jobs

    def _fit(self, counts: sp.csr_matrix) -> None:
        from sklearn.decomposition import LatentDirichletAllocation

        self.model_ = LatentDirichletAllocation(n_components=self.n_topics, learning_method="batch",
                                                max_iter=self.max_iter, random_state=self.seed, n_jobs=self.n_jobs)
        self.model_.fit(counts.astype(np.float64))
        self.topic_word_ = self.model_.components_

    def _theta(self, counts: sp.csr_matrix) -> np.ndarray:
        return self.model_.transform(counts.astype(np.float64))


def _bow(counts: sp.csr_matrix) -> list[list[tuple[int, int]]]:
    counts = sp.csr_matrix(counts)
    return [list(zip(counts.indices[s:e].tolist(), counts.data[s:e].tolist()))
            for s, e in zip(counts.indptr[:-1], counts.indptr[1:])]


class GensimLDA(LDABaseline):
    """gensim ``LdaModel`` (online variational Bayes); ``workers > 1`` uses ``LdaMulticore``."""

    name = "lda-gensim"
    inference = "gensim variational inference (gamma) on the observed counts"

    def __init__(self, n_topics: int = 50, seed: int = 0, passes: int = 10, iterations: int = 100,
                 chunksize: int = 2000, workers: int = 1) -> None:
        super().__init__(n_topics, seed)
        self.passes = passes
        self.iterations = iterations
        self.chunksize = chunksize
        self.workers = workers

    def _fit(self, counts: sp.csr_matrix) -> None:
        from gensim.models import LdaModel, LdaMulticore

        id2word = dict(enumerate(self.vocab_))
        common = dict(corpus=_bow(counts), id2word=id2word, num_topics=self.n_topics, passes=self.passes,
                      iterations=self.iterations, chunksize=self.chunksize, random_state=self.seed)
        if self.workers > 1:
            self.model_ = LdaMulticore(workers=self.workers, **common)
        else:
            self.model_ = LdaModel(**common)
        self.topic_word_ = self.model_.get_topics()

    def _theta(self, counts: sp.csr_matrix) -> np.ndarray:
        # gensim starts inference from random gammas drawn from the model's own generator; a fresh one
        # seeded the same each time makes theta (and the perplexity) the same on every call
        self.model_.random_state = np.random.RandomState(self.seed)
        gamma, _ = self.model_.inference(_bow(counts))
        return gamma


class TomotopyLDA(LDABaseline):
    """tomotopy ``LDAModel`` (collapsed Gibbs sampling); theta of new documents by ``model.infer``.

    ``optim_interval``: tomotopy's own default 10 re-estimates an asymmetric document-topic prior alpha (one
    value per topic, Minka's fixed point) every 10 sweeps, starting from ``alpha``; 0 keeps the symmetric
    ``alpha`` throughout."""

    name = "lda-tomotopy"
    inference = "tomotopy Gibbs sampling (infer) on the observed counts"

    def __init__(self, n_topics: int = 50, seed: int = 0, iterations: int = 1000, infer_iterations: int = 100,
                 alpha: float = 0.1, eta: float = 0.01, workers: int = 1, optim_interval: int = 10) -> None:
        super().__init__(n_topics, seed)
        if not isinstance(optim_interval, (int, np.integer)) or optim_interval < 0:
            raise UserInputError(f"optim_interval must be a non-negative integer, got {optim_interval!r}")
        self.iterations = iterations
        self.infer_iterations = infer_iterations
        self.alpha = alpha
        self.eta = eta
        self.workers = workers
        self.optim_interval = int(optim_interval)

    def _words(self, counts: sp.csr_matrix, row: int) -> list[str]:
        return document_words(counts, row, self.vocab_)

    def _fit(self, counts: sp.csr_matrix) -> None:
        self.model_, self.topic_word_ = fit_tomotopy_lda(counts, self.vocab_, self.n_topics, self.seed, self.iterations,
                                                         self.name, self.alpha, self.eta, self.optim_interval,
                                                         self.workers)

    def _theta(self, counts: sp.csr_matrix) -> np.ndarray:
        alpha = np.asarray(self.model_.alpha, dtype=np.float64).reshape(-1)
        theta = np.tile(alpha / alpha.sum(), (counts.shape[0], 1))  # prior mean for empty documents
        rows = [r for r in range(counts.shape[0]) if counts.indptr[r + 1] > counts.indptr[r]]
        if rows:
            docs = [self.model_.make_doc(self._words(counts, r)) for r in rows]
            dists, _ = self.model_.infer(docs, iterations=self.infer_iterations, workers=self.workers)
            theta[rows] = np.vstack([np.asarray(d, dtype=np.float64) for d in dists])
        return theta
