"""LDA baselines and hierarchical peers behind the evaluators' protocol.

``BASELINES[name](n_topics=K, seed=s)`` gives an unfitted model with ``fit(corpus)``,
``word_distribution(observed)``, ``topic_word()``, ``topics()``, ``topics_`` and ``vocab_``.
``HIERARCHICAL_PEERS[name].from_widths(widths, seed=s)`` gives an unfitted tree model with the same
interface plus ``topic_children(layer)``, ``topic_prevalence_`` and ``tree()``.
"""
from .hierarchical import TomotopyHierarchy, TomotopyHLDA, TomotopyHPAM, TomotopyPAM, model_tree
from .lda import GensimLDA, LDABaseline, SklearnLDA, TomotopyLDA

BASELINES: dict[str, type[LDABaseline]] = {
    "lda-sklearn": SklearnLDA,
    "lda-gensim": GensimLDA,
    "lda-tomotopy": TomotopyLDA,
}

HIERARCHICAL_PEERS: dict[str, type[TomotopyHierarchy]] = {
    "hlda-tomotopy": TomotopyHLDA,
    "pam-tomotopy": TomotopyPAM,
    "hpam-tomotopy": TomotopyHPAM,
}

__all__ = ["BASELINES", "HIERARCHICAL_PEERS", "GensimLDA", "LDABaseline", "SklearnLDA", "TomotopyHLDA",
           "TomotopyHPAM", "TomotopyHierarchy", "TomotopyLDA", "TomotopyPAM", "model_tree"]
