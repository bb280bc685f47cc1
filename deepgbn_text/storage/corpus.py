"""Corpus: a sparse document-word count matrix with its vocabulary and document ids."""
from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import scipy.sparse as sp

from .atomic import atomic_dir, read_json_object
from .csr_files import load_csr, take_rows, write_csr
from ..errors import UserInputError

COUNTS_DIR = "counts"
"""Format 2: the counts as memory-mappable indptr/indices/data .npy files (see :mod:`.csr_files`)."""
COUNTS_FILE = "counts.npz"
"""Format 1: the counts as one compressed scipy .npz, document ids in meta.json (still read)."""
VOCAB_FILE = "vocab.txt"
DOC_IDS_FILE = "doc_ids.txt"
META_FILE = "meta.json"
FORMAT_VERSION = 2
ID_READ_BYTES = 1 << 20
"""Bytes of ``doc_ids.txt`` read at a time while it is checked."""


def as_count_matrix(matrix: object, source: str = "counts") -> sp.csr_matrix:
    """Return ``matrix`` as a CSR int32 count matrix, or raise UserInputError naming ``source``."""
    if not (sp.issparse(matrix) or (isinstance(matrix, np.ndarray) and matrix.ndim == 2)):
        raise UserInputError(f"{source}: expected a 2-D sparse count matrix, got {type(matrix).__name__}")
    if matrix.dtype.kind not in "biuf":
        raise UserInputError(f"{source}: counts must be real numbers (found dtype {matrix.dtype})")
    try:
        if hasattr(matrix, "check_format"):  # CSR/CSC/BSR: indices in range, indptr non-decreasing
            matrix.check_format(full_check=True)
        csr = sp.csr_matrix(matrix)
    except ValueError as exc:
        raise UserInputError(f"{source}: damaged sparse matrix ({exc}); write it again") from None
    except MemoryError as exc:
        raise UserInputError(f"{source}: the matrix does not fit in memory ({exc}); check its shape") from None
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
    doc_ids: Sequence[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = as_count_matrix(self.counts)
        self._check_labels()

    @classmethod
    def _from_valid(cls, counts: sp.csr_matrix, vocab: list[str], doc_ids: Sequence[str]) -> Corpus:
        """A Corpus around counts that are already canonical CSR int32 (neither converted nor copied)."""
        corpus = cls.__new__(cls)
        corpus.counts, corpus.vocab, corpus.doc_ids = counts, vocab, doc_ids
        corpus._check_labels()
        return corpus

    def _check_labels(self) -> None:
        """Make the vocabulary and document ids lists of str and check them against the matrix shape."""
        self.vocab = [str(w) for w in self.vocab]
        if not isinstance(self.doc_ids, DocIdFile):  # a DocIdFile was checked when it was made
            self.doc_ids = [str(d) for d in self.doc_ids] or [str(i) for i in range(self.counts.shape[0])]
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
        return self._from_valid(take_rows(self.counts, rows), self.vocab, [self.doc_ids[i] for i in rows])

    @classmethod
    def from_gensim(cls, dictionary: Any, bow: Iterable[Sequence[tuple[int, float]]],
                    doc_ids: Sequence[str] | None = None) -> Corpus:
        """A Corpus from a gensim ``Dictionary`` and its bag-of-words corpus (see :func:`corpus_from_gensim`)."""
        return corpus_from_gensim(dictionary, bow, doc_ids)

    def to_gensim(self) -> tuple[Any, list[list[tuple[int, int]]]]:
        """``(gensim Dictionary, bag-of-words corpus)`` of these documents; word id j is column j."""
        return corpus_to_gensim(self)

    def nonempty(self) -> Corpus:
        """The documents with at least one token (this corpus itself, not a copy, when none is empty)."""
        lengths = np.diff(self.counts.indptr)
        return self if lengths.all() else self.subset(np.flatnonzero(lengths))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the corpus folder ``path`` (format 2) atomically: ``counts/``, ``vocab.txt``,
        ``doc_ids.txt`` and ``meta.json``."""
        with atomic_dir(path) as tmp:
            n_tokens = write_csr(tmp / COUNTS_DIR, self.counts)
            with open_doc_ids(tmp) as out:
                out.writelines(map(doc_id_line, self.doc_ids))
            write_vocab_and_meta(tmp, self.vocab, self.n_docs, n_tokens)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap: bool = True) -> Corpus:
        """Read a corpus folder written by :meth:`save` or by ``ggbn-topics prepare`` (format 1 or 2).

        Format 2 counts stay read-only memory maps unless ``mmap`` is false; they are checked one block
        of rows at a time, never copied whole into memory. Format 1 (``counts.npz``) is read into memory.
        """
        folder = Path(path)
        _require_files(folder, [META_FILE])
        meta = read_json_object(folder / META_FILE)
        version = meta.get("format_version")
        if version == 1:
            _require_files(folder, [COUNTS_FILE, VOCAB_FILE])
            return cls(load_npz_counts(folder / COUNTS_FILE), read_vocab(folder / VOCAB_FILE), meta.get("doc_ids") or [])
        if version != FORMAT_VERSION:
            raise UserInputError(
                f"{folder}: corpus format version {version!r} is not supported "
                f"(expected 1 or {FORMAT_VERSION}); prepare it again"
            )
        _require_files(folder, [COUNTS_DIR, VOCAB_FILE, DOC_IDS_FILE])
        vocab = read_vocab(folder / VOCAB_FILE)
        counts = load_csr(folder / COUNTS_DIR, len(vocab), mmap)
        return cls._from_valid(counts, vocab, DocIdFile(folder / DOC_IDS_FILE, counts.shape[0]))


def is_corpus_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` looks like a prepared corpus folder (format 2's meta.json or format 1's counts.npz)."""
    folder = Path(path)
    return folder.is_dir() and ((folder / META_FILE).is_file() or (folder / COUNTS_FILE).is_file())


def _require_files(folder: Path, names: Sequence[str]) -> None:
    for name in names:
        if not (folder / name).exists():
            raise UserInputError(f"{folder}: not a prepared corpus folder (missing {name}); run 'ggbn-topics prepare'")


def open_doc_ids(folder: Path) -> TextIO:
    """``doc_ids.txt`` in ``folder``, open for writing one :func:`doc_id_line` per document."""
    return open(folder / DOC_IDS_FILE, "w", encoding="utf-8", newline="")


def doc_id_line(doc_id: str) -> str:
    """``doc_id`` as a line of ``doc_ids.txt``; an id containing a line break is a UserInputError."""
    if "\n" in doc_id:
        raise UserInputError(f"document id {doc_id!r} contains a line break; {DOC_IDS_FILE} stores one id per line")
    return doc_id + "\n"


class DocIdFile(Sequence[str]):
    """The ids of a ``doc_ids.txt``, read into memory on first use (fitting never needs them; a million
    ids cost about 70 MB as Python strings). The file is checked when this is made: one id per document,
    UTF-8, lines ending with "\\n" only ("\\r" belongs to an id)."""

    def __init__(self, path: Path, n_docs: int) -> None:
        self.path, self.n_docs = path, n_docs
        self._ids: list[str] | None = None
        decoder = codecs.getincrementaldecoder("utf-8")()
        lines, last = 0, b"\n"
        try:
            with open(path, "rb") as source:
                for block in iter(lambda: source.read(ID_READ_BYTES), b""):
                    decoder.decode(block)
                    lines += block.count(b"\n")
                    last = block[-1:]
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise UserInputError(f"{path}: not UTF-8 text; prepare the corpus again") from None
        found = lines + (last != b"\n")
        if found != n_docs:
            raise UserInputError(f"{path}: {found} ids for {n_docs} documents; prepare the corpus again")

    def _load(self) -> list[str]:
        if self._ids is None:
            with open(self.path, encoding="utf-8", newline="") as lines:
                ids = lines.read().split("\n")
            self._ids = ids[:-1] if ids[-1] == "" else ids
        return self._ids

    def __len__(self) -> int:
        return self.n_docs

    def __getitem__(self, index):  # type: ignore[no-untyped-def] - int -> str, slice -> list[str]
        return self._load()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (DocIdFile, list, tuple)):
            return len(other) == self.n_docs and list(self) == list(other)
        return NotImplemented


def write_vocab_and_meta(folder: Path, vocab: Sequence[str], n_docs: int, n_tokens: int) -> None:
    """Write ``vocab.txt`` (one word per line, column order) and ``meta.json`` into ``folder``."""
    (folder / VOCAB_FILE).write_text("".join(w + "\n" for w in vocab), encoding="utf-8")
    meta = {
        "format_version": FORMAT_VERSION,
        "n_docs": n_docs,
        "n_words": len(vocab),
        "n_tokens": n_tokens,
        "vocab_hash": vocab_hash(vocab),
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


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
    except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise UserInputError(
            f"{path}: not a scipy sparse .npz matrix ({exc}); write it with scipy.sparse.save_npz"
        ) from None
    return as_count_matrix(matrix, source=str(path))


def read_vocab(path: str | os.PathLike[str]) -> list[str]:
    """One word per line, plain or gzipped (a trailing tab-separated column, such as a count, is ignored).

    Blank lines at the end are ignored; a blank or repeated word elsewhere is a UserInputError naming the line.
    """
    try:
        raw = Path(path).read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    except FileNotFoundError:
        raise UserInputError(f"{path}: vocabulary file not found") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: vocabulary file is not UTF-8 text") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise UserInputError(f"{path}: cannot read the vocabulary file ({exc})") from None
    words = [line.split("\t")[0].strip() for line in text.split("\n")]
    while words and not words[-1]:
        words.pop()
    if not words:
        raise UserInputError(f"{path}: vocabulary file is empty")
    first_line: dict[str, int] = {}
    for lineno, word in enumerate(words, start=1):
        if not word:
            raise UserInputError(f"{path}: line {lineno} is blank; give one word per line")
        if word in first_line:
            raise UserInputError(f"{path}: line {lineno} repeats {word!r} (first on line {first_line[word]}); "
                                 "each word must appear once")
        first_line[word] = lineno
    return words


# -- gensim: a Corpus to and from gensim's Dictionary and bag-of-words corpus (lists of (word_id, count)) --
BagOfWords = Iterable[Sequence[tuple[int, float]]]


def corpus_from_gensim(dictionary: Any, bow: BagOfWords, doc_ids: Sequence[str] | None = None) -> Corpus:
    """A Corpus of the documents ``bow`` with the words of ``dictionary`` (column ``j`` is the j-th id in
    increasing order, so a dictionary with gaps in its ids, e.g. after ``filter_tokens``, still works)."""
    from gensim.matutils import corpus2csc

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
