"""Evaluators shared by every model: document-completion perplexity (and more to come)."""
from .perplexity import WordDistributionModel, completion_perplexity, completion_split

__all__ = ["WordDistributionModel", "completion_perplexity", "completion_split"]
