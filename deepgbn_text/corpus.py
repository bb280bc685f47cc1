"""Corpus: a sparse document-word count matrix with its vocabulary and document ids."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .atomic import atomic_dir, read_json_object
from .errors import UserInputError

COUNTS_FILE = "counts.npz"
VOCAB_FILE = "vocab.txt"
META_FILE = "meta.json"
FORMAT_VERSION = 1


def as_count_matrix(matrix: object, source: str = "counts") -> sp.csr_matrix:
    """Return ``matrix`` as a CSR int32 count matrix, or raise UserInputError naming ``source``."""
    if not sp.issparse(matrix):
        if isinstance(matrix, np.ndarray) and matrix.ndim == 2:
            matrix = sp.csr_matrix(matrix)
        else:
            raise UserInputError(f"{source}: expected a 2-D sparse count matrix, got {type(matrix).__name__}")
    csr = sp.csr_matrix(matrix)
    data = csr.data
    if data.size and not np.all(np.isfinite(data)):
        raise UserInputError(f"{source}: counts contain NaN or infinite values")
    if data.size and data.min() < 0:
        raise UserInputError(f"{source}: counts must be non-negative (found {data.min()})")
    if data.size and not np.array_equal(data, np.round(data)):
        raise UserInputError(f"{source}: counts must be whole numbers (found e.g. {data[data != np.round(data)][0]})")
    if data.size and data.max() > np.iinfo(np.int32).max:
        raise UserInputError(f"{source}: a count exceeds the int32 range")
    csr = csr.astype(np.int32)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    csr.sort_indices()
    return csr


@dataclass
class Corpus:
    """Bag-of-words counts (documents x words, CSR int32), the vocabulary and one id per document."""

    counts: sp.csr_matrix
    vocab: list[str]
    doc_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = as_count_matrix(self.counts)
        self.vocab = [str(w) for w in self.vocab]
        if not self.doc_ids:
            self.doc_ids = [str(i) for i in range(self.counts.shape[0])]
        self.doc_ids = [str(d) for d in self.doc_ids]
        n_docs, n_words = self.counts.shape
        if len(self.vocab) != n_words:
            raise UserInputError(
                f"vocabulary has {len(self.vocab)} words but the count matrix has {n_words} columns; "
                "pass the vocabulary that belongs to this matrix"
            )
        if len(set(self.vocab)) != len(self.vocab):
            raise UserInputError("vocabulary contains duplicate words; each word must appear once")
        if len(self.doc_ids) != n_docs:
            raise UserInputError(f"{len(self.doc_ids)} document ids for {n_docs} documents")

    @property
    def n_docs(self) -> int:
        return self.counts.shape[0]

    @property
    def n_words(self) -> int:
        return self.counts.shape[1]

    @property
    def n_tokens(self) -> int:
        return int(self.counts.sum())

    def vocab_hash(self) -> str:
        return vocab_hash(self.vocab)

    def subset(self, rows: np.ndarray | list[int]) -> Corpus:
        """The documents at ``rows`` (same vocabulary)."""
        rows = np.asarray(rows, dtype=np.int64)
        return Corpus(self.counts[rows], self.vocab, [self.doc_ids[i] for i in rows])

    def nonempty(self) -> Corpus:
        """The documents with at least one token."""
        return self.subset(np.flatnonzero(np.diff(self.counts.indptr) > 0))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``counts.npz``, ``vocab.txt`` and ``meta.json`` into the folder ``path`` atomically."""
        with atomic_dir(path) as tmp:
            sp.save_npz(tmp / COUNTS_FILE, self.counts, compressed=True)
            (tmp / VOCAB_FILE).write_text("".join(w + "\n" for w in self.vocab), encoding="utf-8")
            meta = {
                "format_version": FORMAT_VERSION,
                "n_docs": self.n_docs,
                "n_words": self.n_words,
                "n_tokens": self.n_tokens,
                "vocab_hash": self.vocab_hash(),
                "doc_ids": self.doc_ids,
            }
            (tmp / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Corpus:
        """Read a folder written by :meth:`save`."""
        folder = Path(path)
        for name in (COUNTS_FILE, VOCAB_FILE, META_FILE):
            if not (folder / name).is_file():
                raise UserInputError(f"{folder}: not a prepared corpus folder (missing {name}); run 'ggbn-topics prepare'")
        meta = read_json_object(folder / META_FILE)
        if meta.get("format_version") != FORMAT_VERSION:
            raise UserInputError(
                f"{folder}: corpus format version {meta.get('format_version')!r} is not supported "
                f"(expected {FORMAT_VERSION}); prepare it again"
            )
        counts = load_npz_counts(folder / COUNTS_FILE)
        vocab = read_vocab(folder / VOCAB_FILE)
        return cls(counts, vocab, meta.get("doc_ids") or [])


def counts_for_vocab(X: Corpus | sp.spmatrix, vocab: Sequence[str]) -> sp.csr_matrix:
    """The counts of ``X`` checked against a fitted model's vocabulary (same words, same order)."""
    if isinstance(X, Corpus):
        if X.vocab != list(vocab):
            raise UserInputError("the corpus vocabulary differs from the model's; vectorise it with the model's vocabulary")
        return X.counts
    counts = as_count_matrix(X)
    if counts.shape[1] != len(vocab):
        raise UserInputError(f"the matrix has {counts.shape[1]} columns but the model's vocabulary {len(vocab)} words")
    return counts


def vocab_hash(vocab: Sequence[str]) -> str:
    """A short SHA-256 of a vocabulary, to check that a model and a corpus belong together."""
    return hashlib.sha256("\n".join(vocab).encode("utf-8")).hexdigest()[:16]


def load_npz_counts(path: str | os.PathLike[str]) -> sp.csr_matrix:
    """Load a scipy ``.npz`` sparse matrix without unpickling, as validated CSR int32 counts."""
    try:
        matrix = sp.load_npz(path)
    except (ValueError, OSError, KeyError) as exc:
        raise UserInputError(f"{path}: not a scipy sparse .npz matrix ({exc})") from None
    return as_count_matrix(matrix, source=str(path))


def read_vocab(path: str | os.PathLike[str]) -> list[str]:
    """One word per line (a trailing tab-separated column, such as a count, is ignored)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserInputError(f"{path}: vocabulary file not found") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: vocabulary file is not UTF-8 text") from None
    words = [line.split("\t")[0].strip() for line in lines]
    while words and not words[-1]:
        words.pop()
    if not words:
        raise UserInputError(f"{path}: vocabulary file is empty")
    return words
