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
