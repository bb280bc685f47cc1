"""Hierarchical peers from tomotopy (hLDA, PAM, HPAM) behind the evaluators' interface, as trees.

Each peer is fitted by collapsed Gibbs sampling in tomotopy and then read out as layers numbered like
ours: layer 1 is the most specific (closest to the words), layer L the top. Every layer has
``topic_word(layer)`` (rows sum to one, over our vocabulary), every layer above the first has
``topic_children(layer)`` (K_layer x K_{layer-1}, rows sum to one) and ``topic_prevalence_`` holds the
mean share of a training document per topic and layer. ``word_distribution(observed)`` infers a document
from its observed words with tomotopy's ``infer`` and mixes the topics it uses; it is defined for the
whole model only (``perplexity_layers = (1,)``). ``tree()`` gives the same :class:`~deepgbn_text.tree.Tree`
as ours, so every exporter and the HTML viewer open a peer's tree.

- ``hlda-tomotopy``: ``HLDAModel`` (nested Chinese restaurant process). Depth = number of layers; it
  learns how many topics each level has. A document follows one root-to-leaf path and mixes the topics
  on it by level; a topic's edge weight to a child is the share of its documents that continue there.
- ``pam-tomotopy``: ``PAModel``, K_1 super-topics over K_2 sub-topics. Only sub-topics have word
  distributions of their own; a super-topic's words are the mixture of its sub-topics.
- ``hpam-tomotopy``: ``HPAModel``: one root topic, K_1 super- and K_2 sub-topics, each with its own
  words (three layers). Root -> super edges are the share of the training words routed through each
  super-topic; super -> sub edges are tomotopy's sub-topic distribution of the super-topic.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..storage.corpus import Corpus, counts_for_vocab
from ..errors import UserInputError
from ..model.lda_start import document_words, import_tomotopy, train_tomotopy
from .lda import training_corpus


def _rows_normalised(matrix: np.ndarray) -> np.ndarray:
    matrix = np.maximum(np.asarray(matrix, dtype=np.float64), 0.0)
    sums = matrix.sum(axis=1, keepdims=True)
    return np.where(sums > 0, matrix / np.where(sums > 0, sums, 1.0), 1.0 / max(matrix.shape[1], 1))


class TomotopyHierarchy:
    """Common plumbing. Subclasses build and train ``model_`` (``_train``), then fill ``_read_out``:
    ``topic_word_`` (per layer, bottom first), ``children_`` (per layer; None for layer 1),
    ``topic_prevalence_`` and ``nodes_`` (tomotopy topic id of every (layer, index), or None), and
    implement ``_mixture(docs)``: per inferred document, weights over all topics (layers stacked,
    bottom first) whose product with the stacked word distributions is the document's word distribution."""

    name = "hierarchical"
    inference = ""
    perplexity_layers = (1,)

    def __init__(self, seed: int = 0, iterations: int = 1000, infer_iterations: int = 100, workers: int = 1,
                 eta: float = 0.01) -> None:
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UserInputError(f"seed must be a non-negative integer, got {seed!r}")
        if iterations < 1 or infer_iterations < 1:
            raise UserInputError("iterations and infer_iterations must be positive")
        self.seed = int(seed)
        self.iterations = int(iterations)
        self.infer_iterations = int(infer_iterations)
        self.workers = int(workers)
        self.eta = float(eta)

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X: Corpus | sp.spmatrix, vocab: Sequence[str] | None = None) -> TomotopyHierarchy:
        corpus = training_corpus(X, vocab)
        self._check_widths(corpus.n_words)
        self.vocab_ = list(corpus.vocab)
        tp = import_tomotopy(self.name)
        started = time.perf_counter()
        self.model_ = self._make(tp)
        counts = sp.csr_matrix(corpus.counts)
        train_tomotopy(self.model_, counts, self.vocab_, self.iterations, self.workers)
        index = {w: j for j, w in enumerate(self.model_.used_vocabs)}
        self._cols = np.array([index.get(w, -1) for w in self.vocab_])
        self._read_out()
        self.topics_ = [tw.shape[0] for tw in self.topic_word_]
        self.n_layers = len(self.topics_)
        self._stacked = np.vstack(self.topic_word_)
        totals = np.asarray(counts.sum(axis=0), dtype=np.float64).ravel() + self.eta
        self._background = totals / totals.sum()  # the word distribution of an empty document
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _check_widths(self, n_words: int) -> None:
        pass

    def _make(self, tp: Any) -> Any:
        raise NotImplementedError

    def _read_out(self) -> None:
        raise NotImplementedError

    def _mixture(self, docs: list[Any]) -> np.ndarray:
        raise NotImplementedError

    def _words(self, counts: sp.csr_matrix, row: int) -> list[str]:
        return document_words(counts, row, self.vocab_)

    def _word_dist(self, topic_id: int) -> np.ndarray:
        """A tomotopy topic's word distribution over our vocabulary (words it never saw get the prior eta)."""
        raw = np.asarray(self.model_.get_topic_word_dist(topic_id, normalize=False), dtype=np.float64)
        out = np.full(len(self.vocab_), float(self.model_.eta))
        keep = self._cols >= 0
        out[keep] += raw[self._cols[keep]]
        return out / out.sum()

    # -- inference ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "topic_word_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit() first")

    def _check_layer(self, layer: int, children: bool = False) -> int:
        self._check_fitted()
        low = 2 if children else 1
        if not low <= layer <= self.n_layers:
            raise UserInputError(f"layer must be between {low} and {self.n_layers}, got {layer}")
        return layer - 1

    def _mixtures(self, X: Corpus | sp.spmatrix) -> np.ndarray:
        """(n_docs x all topics) weights of each document, inferred from its words; empty rows stay zero."""
        self._check_fitted()
        counts = sp.csr_matrix(counts_for_vocab(X, self.vocab_))
        out = np.zeros((counts.shape[0], self._stacked.shape[0]))
        rows = [r for r in range(counts.shape[0]) if counts.indptr[r + 1] > counts.indptr[r]]
        if rows:
            docs = [self.model_.make_doc(self._words(counts, r)) for r in rows]
            self.model_.infer(docs, iterations=self.infer_iterations, workers=self.workers)
            out[rows] = self._mixture(docs)
        return out

    def transform_layers(self, X: Corpus | sp.spmatrix) -> list[np.ndarray]:
        """Each layer's topic proportions of every document (rows sum to one within the layer)."""
        mix = self._mixtures(X)
        bounds = np.cumsum([0, *self.topics_])
        return [_rows_normalised(self._layer_theta(mix, layer, bounds)) for layer in range(self.n_layers)]

    def _layer_theta(self, mix: np.ndarray, layer: int, bounds: np.ndarray) -> np.ndarray:
        return mix[:, bounds[layer]:bounds[layer + 1]]

    def word_distribution(self, observed: sp.spmatrix, layer: int = 1) -> np.ndarray:
        """The documents' word distributions inferred from their observed words (whole model: layer 1)."""
        self._check_scored(layer)
        mix = self._mixtures(observed)
        probs = mix @ self._stacked
        empty = mix.sum(axis=1) <= 0
        probs[empty] = self._background
        return probs / probs.sum(axis=1, keepdims=True)

    def word_probabilities(self, observed: sp.spmatrix, rows: np.ndarray, cols: np.ndarray, layer: int = 1) -> np.ndarray:
        """``word_distribution(observed)[rows, cols]``, computed at those entries only."""
        self._check_scored(layer)
        mix = self._mixtures(observed)
        totals = mix @ self._stacked.sum(axis=1)
        values = (mix[rows] * self._stacked[:, cols].T).sum(axis=1)
        empty = totals[rows] <= 0
        values = np.where(empty, self._background[cols], values / np.where(empty, 1.0, totals[rows]))
        return values

    def _check_scored(self, layer: int) -> None:
        self._check_layer(layer)
        if layer not in self.perplexity_layers:
            raise UserInputError(f"{self.name} predicts words with the whole model only (layer 1), not layer {layer}")

    # -- topics -------------------------------------------------------------------------------
    def topic_word(self, layer: int = 1) -> np.ndarray:
        """(K_layer x V) word distributions of a layer's topics."""
        return self.topic_word_[self._check_layer(layer)].copy()

    def topic_children(self, layer: int) -> np.ndarray:
        """(K_layer x K_{layer-1}) weights of each topic's children one layer down (rows sum to one)."""
        return self.children_[self._check_layer(layer, children=True)].copy()

    def topics(self, layer: int = 1, top_n: int = 10) -> list[list[tuple[str, float]]]:
        dist = self.topic_word(layer)
        top = np.argsort(-dist, axis=1, kind="stable")[:, :top_n]
        return [[(self.vocab_[v], float(row[v])) for v in idx] for row, idx in zip(dist, top)]

    def tree(self, top_n: int = 10, min_edge: float = 0.05):  # type: ignore[no-untyped-def]
        """The fitted hierarchy as a :class:`~deepgbn_text.tree.Tree` (the ``topics.json`` schema)."""
        return model_tree(self, top_n=top_n, min_edge=min_edge, meta={"model": self.name})


def model_tree(model: Any, top_n: int = 10, min_edge: float = 0.05, meta: dict[str, Any] | None = None,
               prevalence: Sequence[Sequence[float]] | None = None):  # type: ignore[no-untyped-def]
    """A :class:`~deepgbn_text.tree.Tree` of any model with ``topics_``, ``topics(layer, top_n)`` and,
    where present, ``topic_children(layer)``; prevalence per layer from ``prevalence``, else the model's
    ``topic_prevalence_``, else 0."""
    from ..tree import Tree, TopicEdge, TopicNode, topic_id

    n_layers = len(model.topics_)
    if prevalence is None:
        prevalence = getattr(model, "topic_prevalence_", None)
    nodes, edges = [], []
    for layer in range(1, n_layers + 1):
        for index, words in enumerate(model.topics(layer, top_n)):
            share = float(prevalence[layer - 1][index]) if prevalence is not None else 0.0
            nodes.append(TopicNode(layer, index, words, share))
        if layer > 1 and hasattr(model, "topic_children"):
            for parent, weights in enumerate(np.asarray(model.topic_children(layer))):
                for child in np.argsort(-weights, kind="stable"):
                    if weights[child] >= min_edge:
                        edges.append(TopicEdge(topic_id(layer, parent), topic_id(layer - 1, int(child)),
                                               float(weights[child])))
    info = {"model": type(model).__name__, **(meta or {}), "topics": list(model.topics_), "min_edge": min_edge}
    return Tree(n_layers, nodes, edges, info)


class TomotopyHLDA(TomotopyHierarchy):
    """tomotopy ``HLDAModel`` (nCRP): ``depth`` levels, the number of topics per level learned."""

    name = "hlda-tomotopy"
    inference = "tomotopy Gibbs sampling (infer: a path and level proportions) on the observed counts"

    def __init__(self, depth: int = 3, seed: int = 0, iterations: int = 1000, infer_iterations: int = 100,
                 workers: int = 1, alpha: float = 0.1, eta: float = 0.01, gamma: float = 0.1) -> None:
        super().__init__(seed, iterations, infer_iterations, workers, eta)
        if not isinstance(depth, (int, np.integer)) or depth < 2:
            raise UserInputError(f"hLDA needs a depth of at least 2 layers, got {depth!r}")
        self.depth = int(depth)
        self.alpha = float(alpha)
        self.gamma = float(gamma)

    @classmethod
    def from_widths(cls, widths: Sequence[int], seed: int = 0, **options: Any) -> TomotopyHLDA:
        """Depth = the number of widths (hLDA learns the widths themselves)."""
        return cls(depth=max(2, len(widths)), seed=seed, **options)

    def _make(self, tp: Any) -> Any:
        return tp.HLDAModel(depth=self.depth, alpha=self.alpha, eta=self.eta, gamma=self.gamma, seed=self.seed)

    def _read_out(self) -> None:
        m = self.model_
        live = [k for k in range(m.k) if m.is_live_topic(k)]
        by_level: list[list[int]] = [[] for _ in range(self.depth)]
        for k in live:
            by_level[m.level(k)].append(k)
        # our layer l holds tomotopy's level depth - l (level 0 = the root = our top layer)
        self.nodes_ = [by_level[self.depth - layer] for layer in range(1, self.depth + 1)]
        if any(not ids for ids in self.nodes_):
            raise UserInputError("hLDA left a level without topics; train longer or on more documents")
        self._position = {k: (layer, i) for layer, ids in enumerate(self.nodes_) for i, k in enumerate(ids)}
        self.topic_word_ = [np.vstack([self._word_dist(k) for k in ids]) for ids in self.nodes_]
        n_docs = len(m.docs)
        self.topic_prevalence_ = [[m.num_docs_of_topic(k) / n_docs for k in ids] for ids in self.nodes_]
        self.children_: list[np.ndarray | None] = [None]
        for layer in range(1, self.depth):
            parents, kids = self.nodes_[layer], self.nodes_[layer - 1]
            weights = np.zeros((len(parents), len(kids)))
            for i, parent in enumerate(parents):
                for child in m.children_topics(parent):
                    if int(child) in self._position:
                        weights[i, self._position[int(child)][1]] = m.num_docs_of_topic(int(child))
            self.children_.append(_rows_normalised(weights))

    def _mixture(self, docs: list[Any]) -> np.ndarray:
        offsets = np.cumsum([0, *[len(ids) for ids in self.nodes_]])
        out = np.zeros((len(docs), offsets[-1]))
        for d, doc in enumerate(docs):
            levels = np.asarray(doc.get_topic_dist(), dtype=np.float64)
            for level, k in enumerate(np.asarray(doc._path).tolist()):  # tomotopy 0.14's .paths property fails
                place = self._position.get(int(k))
                if place is not None:  # a path through a topic not kept (none seen so far) drops that level
                    out[d, offsets[place[0]] + place[1]] += max(levels[level], 1e-12)  # keeps the path visible
        return out

    def _layer_theta(self, mix: np.ndarray, layer: int, bounds: np.ndarray) -> np.ndarray:
        return (mix[:, bounds[layer]:bounds[layer + 1]] > 0).astype(np.float64)  # the document's node per level


class TomotopyPAM(TomotopyHierarchy):
    """tomotopy ``PAModel``: K_1 super-topics (layer 2) over K_2 sub-topics (layer 1)."""

    name = "pam-tomotopy"
    inference = "tomotopy Gibbs sampling (infer: super- and sub-topic proportions) on the observed counts"

    def __init__(self, n_sub: int = 50, n_super: int = 10, seed: int = 0, iterations: int = 1000,
                 infer_iterations: int = 100, workers: int = 1, alpha: float = 0.1, subalpha: float = 0.1,
                 eta: float = 0.01) -> None:
        super().__init__(seed, iterations, infer_iterations, workers, eta)
        for label, k in (("n_sub", n_sub), ("n_super", n_super)):
            if not isinstance(k, (int, np.integer)) or k < 1:
                raise UserInputError(f"{label} must be a positive integer, got {k!r}")
        self.n_sub, self.n_super = int(n_sub), int(n_super)
        self.alpha, self.subalpha = float(alpha), float(subalpha)

    @classmethod
    def from_widths(cls, widths: Sequence[int], seed: int = 0, **options: Any):  # type: ignore[no-untyped-def]
        """Sub-topics = the first width, super-topics = the second (default: half the first)."""
        widths = [int(k) for k in widths]
        n_super = widths[1] if len(widths) > 1 else max(1, widths[0] // 2)
        return cls(n_sub=widths[0], n_super=n_super, seed=seed, **options)

    def _check_widths(self, n_words: int) -> None:
        if self.n_sub > n_words:
            raise UserInputError(f"{self.n_sub} sub-topics but the vocabulary has only {n_words} words")

    def _make(self, tp: Any) -> Any:
        return tp.PAModel(k1=self.n_super, k2=self.n_sub, alpha=self.alpha, subalpha=self.subalpha, eta=self.eta,
                          seed=self.seed)

    def _sub_dist(self, super_id: int) -> np.ndarray:
        # PAModel.get_sub_topic_dist fails in tomotopy 0.14; get_sub_topics with top_n = K_2 gives all of it
        out = np.zeros(self.n_sub)
        for sub, p in self.model_.get_sub_topics(super_id, top_n=self.n_sub):
            out[int(sub)] = p
        return out

    def _read_out(self) -> None:
        m = self.model_
        subs = np.vstack([self._word_dist(k) for k in range(self.n_sub)])
        edges = _rows_normalised(np.vstack([self._sub_dist(x) for x in range(self.n_super)]))
        self.topic_word_ = [subs, _rows_normalised(edges @ subs)]
        self.children_ = [None, edges]
        docs = list(m.docs)
        self.topic_prevalence_ = [
            _rows_normalised(np.vstack([d.get_sub_topic_dist() for d in docs])).mean(0).tolist(),
            _rows_normalised(np.vstack([d.get_topic_dist() for d in docs])).mean(0).tolist(),
        ]

    def _mixture(self, docs: list[Any]) -> np.ndarray:
        out = np.zeros((len(docs), self.n_sub + self.n_super))
        for d, doc in enumerate(docs):
            out[d, :self.n_sub] = np.asarray(doc.get_sub_topic_dist(), dtype=np.float64)
        return out

    def transform_layers(self, X: Corpus | sp.spmatrix) -> list[np.ndarray]:
        """Sub-topic (layer 1) and super-topic (layer 2) proportions of every document."""
        self._check_fitted()
        counts = sp.csr_matrix(counts_for_vocab(X, self.vocab_))
        subs, supers = np.zeros((counts.shape[0], self.n_sub)), np.zeros((counts.shape[0], self.n_super))
        rows = [r for r in range(counts.shape[0]) if counts.indptr[r + 1] > counts.indptr[r]]
        if rows:
            docs = [self.model_.make_doc(self._words(counts, r)) for r in rows]
            self.model_.infer(docs, iterations=self.infer_iterations, workers=self.workers)
            subs[rows] = np.vstack([d.get_sub_topic_dist() for d in docs])
            supers[rows] = np.vstack([d.get_topic_dist() for d in docs])
        return [_rows_normalised(subs), _rows_normalised(supers)]


class TomotopyHPAM(TomotopyPAM):
    """tomotopy ``HPAModel``: a root topic (layer 3), K_1 super-topics (layer 2) and K_2 sub-topics (layer 1),
    each with its own word distribution."""

    name = "hpam-tomotopy"
    inference = "tomotopy Gibbs sampling (infer: proportions of the root, super- and sub-topics) on the observed counts"

    def _make(self, tp: Any) -> Any:
        return tp.HPAModel(k1=self.n_super, k2=self.n_sub, alpha=self.alpha, subalpha=self.subalpha, eta=self.eta,
                           seed=self.seed)

    def _read_out(self) -> None:
        m = self.model_
        k1 = self.n_super
        # tomotopy's ids: 0 the root, 1 .. K_1 the super-topics, K_1 + 1 .. K_1 + K_2 the sub-topics
        self.nodes_ = [list(range(1 + k1, 1 + k1 + self.n_sub)), list(range(1, 1 + k1)), [0]]
        self.topic_word_ = [np.vstack([self._word_dist(k) for k in ids]) for ids in self.nodes_]
        docs = list(m.docs)
        # every non-root word of a training document records the super-topic it went through
        through = np.zeros(k1 + 1)
        for d in docs:
            through += np.bincount(np.asarray(d.topics, dtype=np.int64), minlength=k1 + 1)[:k1 + 1]
        self.children_ = [None, _rows_normalised(np.vstack([self._sub_dist(x) for x in range(k1)])),
                          _rows_normalised(through[None, 1:])]
        theta = np.vstack([np.asarray(d.get_topic_dist(), dtype=np.float64) for d in docs])
        self.topic_prevalence_ = [_rows_normalised(theta[:, ids]).mean(0).tolist() for ids in self.nodes_]

    def _mixture(self, docs: list[Any]) -> np.ndarray:
        order = [k for ids in self.nodes_ for k in ids]  # layers stacked bottom first
        return np.vstack([np.asarray(doc.get_topic_dist(), dtype=np.float64)[order] for doc in docs])

    def transform_layers(self, X: Corpus | sp.spmatrix) -> list[np.ndarray]:
        """Proportions of the sub-topics, super-topics and root within each layer."""
        return TomotopyHierarchy.transform_layers(self, X)
