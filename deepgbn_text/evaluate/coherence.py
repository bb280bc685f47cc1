"""Topic coherence on a reference corpus: our own sparse NPMI, and C_V / UMass through gensim.

NPMI uses whole-document co-occurrence: with N the number of non-empty reference documents,
D(i) the documents that contain word i and D(i, j) those that contain both,
``NPMI(i, j) = log(P(i, j) / (P(i) P(j))) / -log P(i, j)`` with ``P = D / N``; a pair that never
co-occurs scores -1 and a pair present in every document scores 1. A topic's NPMI is the mean over
the unordered pairs of its top words; a layer's NPMI is the mean over its topics.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import UserInputError

DEFAULT_TOP_N = 10
GENSIM_MEASURES = ("c_v", "u_mass")


def top_word_ids(topic_word: np.ndarray, top_n: int) -> np.ndarray:
    """(K x top_n) column indices of each topic's most probable words, most probable first (stable ties)."""
    topic_word = np.asarray(topic_word)
    if topic_word.ndim != 2:
        raise ValueError(f"topic_word must be a K x V array, got shape {topic_word.shape}")
    top_n = min(int(top_n), topic_word.shape[1])
    return np.argsort(-topic_word, axis=1, kind="stable")[:, :top_n]


class DocumentCooccurrence:
    """Binary document-word incidence of a reference corpus, for NPMI between any two word sets.

    The counts are binarised once (CSC, so word columns slice cheaply); co-document counts of a few
    words are one sparse product of their columns.
    """

    def __init__(self, reference: sp.spmatrix) -> None:
        binary = sp.csr_matrix(reference, copy=True)
        binary.data = (binary.data > 0).astype(np.float64)
        binary.eliminate_zeros()
        binary = binary[np.diff(binary.indptr) > 0]
        self.n_docs = int(binary.shape[0])
        if self.n_docs == 0:
            raise UserInputError("the coherence reference corpus has no non-empty documents")
        self.n_words = int(binary.shape[1])
        self._columns = binary.tocsc()
        self.doc_freq = np.asarray(self._columns.sum(axis=0)).ravel()

    def co_doc_counts(self, ids_a: Sequence[int], ids_b: Sequence[int]) -> np.ndarray:
        """(len(a) x len(b)) number of documents containing both words."""
        a = self._columns[:, np.asarray(ids_a, dtype=np.int64)]
        b = self._columns[:, np.asarray(ids_b, dtype=np.int64)]
        return np.asarray((a.T @ b).toarray())

    def npmi(self, ids_a: Sequence[int], ids_b: Sequence[int]) -> np.ndarray:
        """(len(a) x len(b)) NPMI of every word pair (-1 where they never co-occur)."""
        ids_a, ids_b = np.asarray(ids_a, dtype=np.int64), np.asarray(ids_b, dtype=np.int64)
        joint = self.co_doc_counts(ids_a, ids_b) / self.n_docs
        p_a = self.doc_freq[ids_a] / self.n_docs
        p_b = self.doc_freq[ids_b] / self.n_docs
        out = np.full(joint.shape, -1.0)
        seen = joint > 0
        full = joint >= 1.0
        partial = seen & ~full
        with np.errstate(divide="ignore", invalid="ignore"):
            pmi = np.log(joint) - np.log(p_a)[:, None] - np.log(p_b)[None, :]
            out[partial] = pmi[partial] / -np.log(joint[partial])
        out[full] = 1.0
        return out

    def topic_npmi(self, ids: Sequence[int]) -> float:
        """Mean NPMI over the unordered pairs of one topic's words (nan with fewer than two words)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size < 2:
            return float("nan")
        matrix = self.npmi(ids, ids)
        upper = np.triu_indices(ids.size, k=1)
        return float(matrix[upper].mean())


def npmi_per_topic(
    topic_word: np.ndarray,
    reference: sp.spmatrix | DocumentCooccurrence,
    top_n: int = DEFAULT_TOP_N,
) -> np.ndarray:
    """NPMI of each topic's top ``top_n`` words on ``reference`` (docs x V counts)."""
    cooc = reference if isinstance(reference, DocumentCooccurrence) else DocumentCooccurrence(reference)
    ids = top_word_ids(topic_word, top_n)
    if ids.size and ids.max() >= cooc.n_words:
        raise UserInputError(f"the reference corpus has {cooc.n_words} words but the topics use {ids.max() + 1}")
    return np.array([cooc.topic_npmi(row) for row in ids])


def npmi_coherence(
    topic_word: np.ndarray,
    reference: sp.spmatrix | DocumentCooccurrence,
    top_n: int = DEFAULT_TOP_N,
) -> float:
    """Mean over topics of :func:`npmi_per_topic`."""
    return float(np.nanmean(npmi_per_topic(topic_word, reference, top_n)))


def reference_texts(counts: sp.spmatrix, vocab: Sequence[str], seed: int = 0) -> list[list[str]]:
    """Token lists for gensim from a count matrix: each non-empty document's distinct words.

    Word order is lost in a bag of words, so each word appears once, in an order shuffled with
    ``seed`` (not alphabetical, which would bias sliding windows); C_V's 110-token window then spans
    most documents whole, and UMass (boolean documents) does not depend on the order at all.
    """
    counts = sp.csr_matrix(counts)
    rng = np.random.default_rng(seed)
    texts = []
    for row in range(counts.shape[0]):
        cols = counts.indices[counts.indptr[row] : counts.indptr[row + 1]]
        if cols.size:
            texts.append([vocab[j] for j in rng.permutation(cols)])
    return texts


def gensim_coherence(
    topics: Sequence[Sequence[str]],
    texts: Sequence[Sequence[str]],
    vocab: Sequence[str],
    measure: str = "c_v",
    window_size: int | None = None,
) -> np.ndarray:
    """Per-topic coherence (``c_v``, ``u_mass``, ``c_npmi``, ``c_uci``) from gensim's CoherenceModel.

    ``texts`` are tokenised reference documents, ``vocab`` the model vocabulary (the gensim
    dictionary). Topics whose score gensim cannot compute (a word absent from every text) are nan.
    """
    from gensim.corpora import Dictionary
    from gensim.models.coherencemodel import CoherenceModel

    if not topics:
        return np.array([])
    texts = [list(t) for t in texts if len(t)]
    if not texts:
        raise UserInputError("the coherence reference corpus has no non-empty documents")
    dictionary = Dictionary([list(vocab)])
    kwargs = {"processes": 1}
    if window_size is not None:
        kwargs["window_size"] = window_size
    if measure == "u_mass":
        kwargs["corpus"] = [dictionary.doc2bow(t) for t in texts]
    model = CoherenceModel(topics=[list(t) for t in topics], texts=texts, dictionary=dictionary,
                           coherence=measure, topn=max(len(t) for t in topics), **kwargs)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.asarray(model.get_coherence_per_topic(), dtype=float)
    values[~np.isfinite(values)] = np.nan
    return values


def nanmean(values: Sequence[float] | np.ndarray) -> float | None:
    """Mean ignoring nan; None when nothing is left (JSON-friendly)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else None
