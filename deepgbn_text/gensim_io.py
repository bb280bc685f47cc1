"""A Corpus to and from gensim's ``Dictionary`` and bag-of-words corpus (lists of ``(word_id, count)``)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .errors import UserInputError

if TYPE_CHECKING:
    from .corpus import Corpus

BagOfWords = Iterable[Sequence[tuple[int, float]]]


def corpus_from_gensim(dictionary: Any, bow: BagOfWords, doc_ids: Sequence[str] | None = None) -> Corpus:
    """A Corpus of the documents ``bow`` with the words of ``dictionary`` (column ``j`` is the j-th id in
    increasing order, so a dictionary with gaps in its ids, e.g. after ``filter_tokens``, still works)."""
    from gensim.matutils import corpus2csc

    from .corpus import Corpus

    ids = sorted(dictionary.keys())
    if not ids:
        raise UserInputError("the gensim Dictionary is empty")
    column = np.full(ids[-1] + 1, -1, dtype=np.int64)
    column[ids] = np.arange(len(ids))
    counts = sp.csr_matrix(corpus2csc(bow, num_terms=ids[-1] + 1, dtype=np.float64).T)
    if counts.nnz and (column[counts.indices] < 0).any():
        raise UserInputError("the bag-of-words corpus uses a word id that is not in the Dictionary")
    counts = counts[:, ids]
    return Corpus(counts, [dictionary[i] for i in ids], list(doc_ids or []))


def corpus_to_gensim(corpus: Corpus) -> tuple[Any, list[list[tuple[int, int]]]]:
    """``(Dictionary, bow)``: word id ``j`` is the corpus's column ``j``; document frequencies and counts
    are those of the corpus."""
    from gensim.corpora import Dictionary

    counts = corpus.counts
    bow = [list(zip(counts.indices[a:b].tolist(), counts.data[a:b].tolist()))
           for a, b in zip(counts.indptr[:-1], counts.indptr[1:])]
    return Dictionary.from_corpus(bow, id2word=dict(enumerate(corpus.vocab))), bow
