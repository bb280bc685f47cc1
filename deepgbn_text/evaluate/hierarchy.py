"""Hierarchy-aware topic metrics: parent-child NPMI and sibling diversity (after TopMost), TraCo's
PCC, PCD, SD and PnCD (Wu et al., AAAI 2024), and per-layer specialisation.

Each reads one pair of adjacent layers: the parent layer's ``children`` matrix (K_parent x K_child,
each row a parent's weights over the topics one layer down, as ``GeneralizedGBN.topic_children``).
A parent -> child edge is kept when its weight is at least ``min_edge`` (the tree's threshold);
:func:`traco_edges` picks edges the way TraCo's evaluation does for models without a threshold
(each parent's round(K_child / K_parent) heaviest children).

The TraCo metrics follow the definitions of TraCo's public evaluation code, re-implemented here:

- PCC (parent-child coherence): over all edges of the pair of layers, every (parent word, child
  word) pair of their top ``top_n`` words is scored: NPMI on the reference for a parent-only word
  against a child-only word, -1 for each of the |shared| x |shared| pairs of words the two topics
  share; PCC is the mean of that pooled list.
- PCD (parent-child diversity): mean over edges of the share of the two top-word lists' 2 x top_n
  words that occur in only one of them (1 = nothing shared).
- SD (sibling diversity): mean over parents with at least one child of the TD of the children's top
  words, counting a word as diverse only when it occurs in exactly one child (a lone child scores 1).
- PnCD (parent vs non-child diversity): like PCD over every (parent, topic of the child layer that
  is not its child) pair, for parents with at least one child.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .coherence import DEFAULT_TOP_N, DocumentCooccurrence, top_word_ids
from .diversity import DEFAULT_TD_TOP_N, word_set_diversity

DEFAULT_MIN_EDGE = 0.05
HIERARCHY_TOP_N = 15
"""Top words per topic for PCC, PCD, SD and PnCD (TraCo's evaluation uses 15)."""


def tree_edges(children: np.ndarray, min_edge: float = DEFAULT_MIN_EDGE) -> list[tuple[int, int, float]]:
    """(parent, child, weight) for every weight >= ``min_edge``, parents in order, heaviest child first."""
    children = np.asarray(children, dtype=float)
    edges = []
    for parent, weights in enumerate(children):
        for child in np.argsort(-weights, kind="stable"):
            if weights[child] >= min_edge:
                edges.append((parent, int(child), float(weights[child])))
    return edges


def parent_child_npmi(
    parent_topic_word: np.ndarray,
    child_topic_word: np.ndarray,
    children: np.ndarray,
    reference: sp.spmatrix | DocumentCooccurrence,
    top_n: int = DEFAULT_TOP_N,
    min_edge: float = DEFAULT_MIN_EDGE,
    weighted: bool = False,
) -> float | None:
    """Mean over tree edges of the mean NPMI between the parent's and the child's top words.

    A pair of identical words (a word both topics share) is left out: it says nothing about how the
    two topics relate. ``weighted`` averages the edges with their weights instead of equally.
    None when no edge passes ``min_edge``.
    """
    cooc = reference if isinstance(reference, DocumentCooccurrence) else DocumentCooccurrence(reference)
    parent_ids = top_word_ids(parent_topic_word, top_n)
    child_ids = top_word_ids(child_topic_word, top_n)
    scores, weights = [], []
    for parent, child, weight in tree_edges(children, min_edge):
        a, b = parent_ids[parent], child_ids[child]
        matrix = cooc.npmi(a, b)
        distinct = a[:, None] != b[None, :]
        if distinct.any():
            scores.append(float(matrix[distinct].mean()))
            weights.append(weight)
    if not scores:
        return None
    return float(np.average(scores, weights=weights if weighted else None))


def sibling_diversity(
    child_topic_word: np.ndarray,
    children: np.ndarray,
    top_n: int = DEFAULT_TD_TOP_N,
    min_edge: float = DEFAULT_MIN_EDGE,
) -> float | None:
    """Mean over parents with at least two children of the TD of those children's top words.

    None when no parent has two children above ``min_edge``.
    """
    child_ids = top_word_ids(child_topic_word, top_n)
    by_parent: dict[int, list[int]] = {}
    for parent, child, _ in tree_edges(children, min_edge):
        by_parent.setdefault(parent, []).append(child)
    values = [word_set_diversity(child_ids[kids].tolist()) for kids in by_parent.values() if len(kids) >= 2]
    return float(np.mean(values)) if values else None


# ------------------------------------------------------------------- TraCo's hierarchy metrics
def traco_edges(children: np.ndarray) -> list[tuple[int, int, float]]:
    """(parent, child, weight): each parent's round(K_child / K_parent) heaviest children (at least one),
    as TraCo's evaluation builds a hierarchy from a dependency matrix without a threshold."""
    children = np.asarray(children, dtype=float)
    n_parents, n_children = children.shape
    take = max(1, int(round(n_children / max(n_parents, 1))))
    edges = []
    for parent, weights in enumerate(children):
        for child in np.argsort(-weights, kind="stable")[:take]:
            edges.append((parent, int(child), float(weights[child])))
    return edges


def _membership(ids: np.ndarray, n_words: int) -> np.ndarray:
    member = np.zeros((ids.shape[0], n_words))
    member[np.arange(ids.shape[0])[:, None], ids] = 1.0
    return member


def _by_parent(edges: list[tuple[int, int, float]]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for parent, child, _ in edges:
        groups.setdefault(parent, []).append(child)
    return groups


def once_diversity(top_words: np.ndarray) -> float:
    """TraCo/TopMost's TD: words occurring in exactly one of the lists / all words of the lists."""
    top_words = np.asarray(top_words)
    _, counts = np.unique(top_words, return_counts=True)
    return float((counts == 1).sum() / top_words.size) if top_words.size else float("nan")


def parent_child_coherence(parent_topic_word: np.ndarray, child_topic_word: np.ndarray,
                           edges: list[tuple[int, int, float]], reference: sp.spmatrix | DocumentCooccurrence,
                           top_n: int = HIERARCHY_TOP_N) -> float | None:
    """PCC: pooled NPMI of parent-only x child-only top words over all edges, shared pairs scored -1."""
    if not edges:
        return None
    cooc = reference if isinstance(reference, DocumentCooccurrence) else DocumentCooccurrence(reference)
    parent_ids = top_word_ids(parent_topic_word, top_n)
    child_ids = top_word_ids(child_topic_word, top_n)
    total, count = 0.0, 0
    for parent, child, _ in edges:
        a, b = parent_ids[parent], child_ids[child]
        shared = np.intersect1d(a, b)
        only_a, only_b = np.setdiff1d(a, shared), np.setdiff1d(b, shared)
        if only_a.size and only_b.size:
            total += float(cooc.npmi(only_a, only_b).sum())
        total -= float(shared.size ** 2)
        count += only_a.size * only_b.size + shared.size ** 2
    return total / count if count else None


def _pair_differences(parent_ids: np.ndarray, child_ids: np.ndarray, n_words: int) -> np.ndarray:
    """(K_parent x K_child) share of the two lists' words that occur in only one of them."""
    shared = _membership(parent_ids, n_words) @ _membership(child_ids, n_words).T
    total = parent_ids.shape[1] + child_ids.shape[1]
    return (total - 2.0 * shared) / total


def parent_child_diversity(parent_topic_word: np.ndarray, child_topic_word: np.ndarray,
                           edges: list[tuple[int, int, float]], top_n: int = HIERARCHY_TOP_N) -> float | None:
    """PCD: mean over edges of the share of the parent's and child's top words found in only one of them."""
    if not edges:
        return None
    n_words = np.asarray(parent_topic_word).shape[1]
    diff = _pair_differences(top_word_ids(parent_topic_word, top_n), top_word_ids(child_topic_word, top_n), n_words)
    return float(np.mean([diff[p, c] for p, c, _ in edges]))


def parent_nonchild_diversity(parent_topic_word: np.ndarray, child_topic_word: np.ndarray,
                              edges: list[tuple[int, int, float]], top_n: int = HIERARCHY_TOP_N) -> float | None:
    """PnCD: as PCD, over every (parent, topic of the child layer that is not one of its children) pair."""
    groups = _by_parent(edges)
    n_words = np.asarray(parent_topic_word).shape[1]
    diff = _pair_differences(top_word_ids(parent_topic_word, top_n), top_word_ids(child_topic_word, top_n), n_words)
    values = [diff[p, c] for p, kids in groups.items() for c in range(diff.shape[1]) if c not in kids]
    return float(np.mean(values)) if values else None


def sibling_once_diversity(child_topic_word: np.ndarray, edges: list[tuple[int, int, float]],
                           top_n: int = HIERARCHY_TOP_N) -> float | None:
    """SD: mean over parents with a child of :func:`once_diversity` of their children's top words."""
    groups = _by_parent(edges)
    if not groups:
        return None
    child_ids = top_word_ids(child_topic_word, top_n)
    return float(np.mean([once_diversity(child_ids[kids]) for kids in groups.values()]))


def hierarchy_scores(parent_topic_word: np.ndarray, child_topic_word: np.ndarray, children: np.ndarray,
                     reference: sp.spmatrix | DocumentCooccurrence, top_n: int = HIERARCHY_TOP_N,
                     min_edge: float | None = DEFAULT_MIN_EDGE) -> dict[str, float | int | None]:
    """PCC, PCD, SD and PnCD of one pair of adjacent layers, and the number of edges they used.

    Edges: weights >= ``min_edge`` (:func:`tree_edges`), or TraCo's pick (:func:`traco_edges`) when
    ``min_edge`` is None."""
    edges = traco_edges(children) if min_edge is None else tree_edges(children, min_edge)
    return {
        "pcc": parent_child_coherence(parent_topic_word, child_topic_word, edges, reference, top_n),
        "pcd": parent_child_diversity(parent_topic_word, child_topic_word, edges, top_n),
        "sd": sibling_once_diversity(child_topic_word, edges, top_n),
        "pncd": parent_nonchild_diversity(parent_topic_word, child_topic_word, edges, top_n),
        "n_edges": len(edges),
    }


def hierarchy_summary(pairs: list[dict[str, float | int | None]], top_layer_topic_word: np.ndarray | None = None,
                      top_n: int = HIERARCHY_TOP_N) -> dict[str, float | None]:
    """TraCo's whole-tree numbers: PCC, PCD and PnCD averaged over the pairs of adjacent layers; SD
    averaged over the pairs and, as TraCo's code does, the top layer's topics taken as one sibling group."""

    def mean(values: list[float | int | None]) -> float | None:
        kept = [float(v) for v in values if v is not None]
        return float(np.mean(kept)) if kept else None

    out = {key: mean([p.get(key) for p in pairs]) for key in ("pcc", "pcd", "pncd")}
    sd = [p.get("sd") for p in pairs]
    if top_layer_topic_word is not None:
        sd.append(once_diversity(top_word_ids(top_layer_topic_word, top_n)))
    out["sd"] = mean(sd)
    return out


# ------------------------------------------------------------------------------ specialisation
def specialisation(topic_word: np.ndarray, corpus_word: np.ndarray) -> float:
    """Mean over a layer's topics of the cosine distance (1 - cosine similarity) between the topic's
    word distribution and the corpus word distribution (0: the topic is the corpus; 1: no shared word)."""
    tw = np.asarray(topic_word, dtype=np.float64)
    corpus = np.asarray(corpus_word, dtype=np.float64).ravel()
    norms = np.linalg.norm(tw, axis=1) * np.linalg.norm(corpus)
    cosine = (tw @ corpus) / np.where(norms > 0, norms, 1.0)
    return float(np.mean(1.0 - cosine))


def corpus_word_distribution(counts: sp.spmatrix) -> np.ndarray:
    """Word frequencies of a corpus (column sums), normalised to sum to one."""
    totals = np.asarray(sp.csr_matrix(counts).sum(axis=0), dtype=np.float64).ravel()
    return totals / max(totals.sum(), 1.0)
