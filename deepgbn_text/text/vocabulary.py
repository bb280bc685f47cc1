"""Accumulate token ids into a sparse count matrix and choose the vocabulary (min_df/max_df/max_vocab)."""
from __future__ import annotations

from array import array
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from ..errors import UserInputError
from .options import TextOptions


class CountBuilder:
    """Grows a word -> id dict and CSR pieces (indices, counts, indptr) one document at a time."""

    def __init__(self) -> None:
        self.word_ids: dict[str, int] = {}
        self.forget_documents()
        self._current: dict[int, int] = {}

    def forget_documents(self) -> None:
        """Drop the finished documents' counts (the word ids stay)."""
        self.indices = array("i")
        self.data = array("i")
        self.indptr = array("q", [0])

    @property
    def n_docs(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        """Non-zero entries of the finished documents."""
        return len(self.indices)

    def add_tokens(self, tokens: Iterable[str], grow: bool = True) -> None:
        """Count ``tokens`` into the current (unfinished) document; unknown words are added if ``grow``."""
        ids = self.word_ids
        current = self._current
        for word in tokens:
            j = ids.get(word)
            if j is None:
                if not grow:
                    continue
                j = ids[word] = len(ids)
            current[j] = current.get(j, 0) + 1

    def end_document(self) -> None:
        """Close the current document (it may be empty)."""
        if self._current:
            cols = sorted(self._current)
            self.indices.extend(cols)
            self.data.extend(self._current[j] for j in cols)
            self._current = {}
        self.indptr.append(len(self.indices))

    def matrix(self) -> sp.csr_matrix:
        """The documents x words counts (columns in order of first appearance)."""
        shape = (len(self.indptr) - 1, len(self.word_ids))
        return sp.csr_matrix(
            (
                np.frombuffer(self.data, dtype=np.int32).copy(),
                np.frombuffer(self.indices, dtype=np.int32).copy(),
                np.frombuffer(self.indptr, dtype=np.int64).copy(),
            ),
            shape=shape,
        )

    def words(self) -> list[str]:
        words = [""] * len(self.word_ids)
        for w, j in self.word_ids.items():
            words[j] = w
        return words


def document_frequency(counts: sp.csr_matrix) -> np.ndarray:
    """Number of documents in which each column is non-zero."""
    return np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.int64)


def order_words(words: list[str], df: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """``columns`` (default: all) sorted by decreasing document frequency, ties alphabetical."""
    if columns is None:
        columns = np.arange(len(words))
    return np.array(sorted(columns.tolist(), key=lambda j: (-int(df[j]), words[j])), dtype=np.int64)


def vocabulary_columns(df: np.ndarray, words: list[str], n_docs: int, options: TextOptions) -> np.ndarray:
    """The columns allowed by min_df/max_df/max_vocab given each word's document frequency ``df``,
    ordered by decreasing document frequency (ties alphabetical).

    Raises UserInputError (naming the options) when nothing is left.
    """
    low, high = options.doc_count_bounds(n_docs)
    keep = np.flatnonzero((df >= low) & (df <= high))
    order = order_words(words, df, keep)
    if options.max_vocab is not None:
        order = order[: options.max_vocab]
    if order.size == 0:
        raise UserInputError(
            f"vocabulary is empty after filtering: {len(words)} distinct words in {n_docs} documents, but "
            f"--min-df {options.min_df} keeps words in at least {low} documents and --max-df {options.max_df} "
            f"in at most {high} (--max-vocab {options.max_vocab}); lower --min-df or raise --max-df"
        )
    return order


def take_columns(counts: sp.csr_matrix, columns: np.ndarray) -> sp.csr_matrix:
    """The ``columns`` of ``counts``, in that order, as canonical CSR int32."""
    selected = counts[:, columns].tocsr()
    selected.sort_indices()
    return selected.astype(np.int32)


def select_vocabulary(
    counts: sp.csr_matrix, words: list[str], options: TextOptions
) -> tuple[sp.csr_matrix, list[str]]:
    """Keep the words allowed by min_df/max_df/max_vocab (see :func:`vocabulary_columns`)."""
    order = vocabulary_columns(document_frequency(counts), words, counts.shape[0], options)
    return take_columns(counts, order), [words[j] for j in order]
