"""Text pipeline: read documents, tokenise with spaCy, build a vocabulary, count words.

Public API::

    from deepgbn_text.text import TextOptions, load_corpus, prepare_corpus, vectorize, read_documents
"""
from .options import TextOptions
from .pipeline import build_corpus, load_corpus, vectorize
from .readers import detect_format, read_documents
from .streaming import prepare_corpus

__all__ = ["TextOptions", "build_corpus", "detect_format", "load_corpus", "prepare_corpus", "read_documents",
           "vectorize"]
