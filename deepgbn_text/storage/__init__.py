"""Files on disk: atomic writes, CSR count arrays, corpus folders (``Corpus``), gensim conversion, the
saved model's config and weights checks, and the small JSON Schema checker. Imports nothing above it."""
