"""Evaluators shared by every model: document-completion perplexity, coherence, diversity,
hierarchy and label metrics, and a report that runs them all on any model."""
from .coherence import (DocumentCooccurrence, gensim_coherence, npmi_coherence, npmi_per_topic, reference_texts,
                        top_word_ids)
from .diversity import (dead_topics, near_duplicate_share, near_duplicates, topic_diversity, topic_quality,
                        word_set_diversity)
from .hierarchy import (corpus_word_distribution, hierarchy_scores, hierarchy_summary, once_diversity,
                        parent_child_coherence, parent_child_diversity, parent_child_npmi, parent_nonchild_diversity,
                        sibling_diversity, sibling_once_diversity, specialisation, traco_edges, tree_edges)
from .labels import classification_accuracy, clustering_scores, purity, read_labels
from .perplexity import WordDistributionModel, completion_perplexity, completion_split
from .report import compare_models, comparison_markdown, evaluate_model, make_model, parse_models, plot_comparison

__all__ = [
    "traco_edges",
    "specialisation",
    "sibling_once_diversity",
    "parent_nonchild_diversity",
    "parent_child_diversity",
    "parent_child_coherence",
    "once_diversity",
    "hierarchy_summary",
    "hierarchy_scores",
    "corpus_word_distribution",
    "DocumentCooccurrence",
    "WordDistributionModel",
    "classification_accuracy",
    "clustering_scores",
    "compare_models",
    "comparison_markdown",
    "completion_perplexity",
    "completion_split",
    "dead_topics",
    "evaluate_model",
    "gensim_coherence",
    "make_model",
    "near_duplicate_share",
    "near_duplicates",
    "npmi_coherence",
    "npmi_per_topic",
    "parent_child_npmi",
    "parse_models",
    "plot_comparison",
    "purity",
    "read_labels",
    "reference_texts",
    "sibling_diversity",
    "tree_edges",
    "topic_diversity",
    "topic_quality",
    "top_word_ids",
    "word_set_diversity",
]
