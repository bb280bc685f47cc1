"""LDA baselines behind the evaluators' protocol.

``BASELINES[name](n_topics=K, seed=s)`` gives an unfitted model with ``fit(corpus)``,
``word_distribution(observed)``, ``topic_word()``, ``topics()``, ``topics_`` and ``vocab_``.
"""
from .lda import GensimLDA, LDABaseline, SklearnLDA, TomotopyLDA

BASELINES: dict[str, type[LDABaseline]] = {
    "lda-sklearn": SklearnLDA,
    "lda-gensim": GensimLDA,
    "lda-tomotopy": TomotopyLDA,
}

__all__ = ["BASELINES", "GensimLDA", "LDABaseline", "SklearnLDA", "TomotopyLDA"]
