"""Topic diversity (Dieng et al. 2020) and topic quality."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .coherence import top_word_ids

DEFAULT_TD_TOP_N = 25


def word_set_diversity(top_words: Sequence[Sequence[object]]) -> float:
    """Unique words among all the lists / total number of words (1 = no word shared by two topics)."""
    total = sum(len(words) for words in top_words)
    if total == 0:
        return float("nan")
    return len({w for words in top_words for w in words}) / total


def topic_diversity(topic_word: np.ndarray, top_n: int = DEFAULT_TD_TOP_N) -> float:
    """TD: unique words among all topics' top ``top_n`` words / (top_n * K)."""
    return word_set_diversity(top_word_ids(topic_word, top_n).tolist())


def topic_quality(npmi: float | None, diversity: float | None) -> float | None:
    """TQ = NPMI x TD (None when either is missing)."""
    if npmi is None or diversity is None or not np.isfinite(npmi) or not np.isfinite(diversity):
        return None
    return float(npmi * diversity)


NEAR_DUPLICATE_JACCARD = 0.5
NEAR_DUPLICATE_TOP_N = 10
DEAD_PREVALENCE_FACTOR = 0.1
"""A topic is dead when its prevalence is below this factor over the layer's width (1 / (10 K))."""


def near_duplicates(topic_word: np.ndarray, top_n: int = NEAR_DUPLICATE_TOP_N,
                    threshold: float = NEAR_DUPLICATE_JACCARD) -> np.ndarray:
    """Boolean mask of the topics whose top ``top_n`` word set has Jaccard similarity above ``threshold``
    with the set of another topic of the same layer."""
    ids = top_word_ids(topic_word, top_n)
    n_topics, n_words = ids.shape[0], np.asarray(topic_word).shape[1]
    member = np.zeros((n_topics, n_words), dtype=np.float64)
    member[np.arange(n_topics)[:, None], ids] = 1.0
    shared = member @ member.T
    sizes = member.sum(1)
    jaccard = shared / np.maximum(sizes[:, None] + sizes[None, :] - shared, 1.0)
    np.fill_diagonal(jaccard, 0.0)
    return (jaccard > threshold).any(1)


def near_duplicate_share(topic_word: np.ndarray, top_n: int = NEAR_DUPLICATE_TOP_N,
                         threshold: float = NEAR_DUPLICATE_JACCARD) -> float:
    """Share of a layer's topics that are near-duplicates of another (see :func:`near_duplicates`)."""
    return float(near_duplicates(topic_word, top_n, threshold).mean())


def dead_topics(prevalence: np.ndarray, factor: float = DEAD_PREVALENCE_FACTOR) -> np.ndarray:
    """Boolean mask of the topics whose prevalence (mean share of a document) is below ``factor / K``."""
    prevalence = np.asarray(prevalence, dtype=float)
    return prevalence < factor / max(len(prevalence), 1)
