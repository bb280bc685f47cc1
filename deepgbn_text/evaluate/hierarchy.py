"""Hierarchy-aware topic metrics (after TopMost): parent-child NPMI and sibling diversity.

Both read one pair of adjacent layers: the parent layer's ``children`` matrix (K_parent x K_child,
each row a parent's weights over the topics one layer down, as ``GeneralizedGBN.topic_children``).
A parent -> child edge is kept when its weight is at least ``min_edge`` (the tree's threshold).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .coherence import DEFAULT_TOP_N, DocumentCooccurrence, top_word_ids
from .diversity import DEFAULT_TD_TOP_N, word_set_diversity

DEFAULT_MIN_EDGE = 0.05


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
