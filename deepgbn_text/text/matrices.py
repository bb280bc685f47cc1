"""Load already vectorised inputs: scipy .npz, UCI bag-of-words docword files, Matrix Market."""
from __future__ import annotations

import gzip
import io
import os
import re
import warnings
import zlib
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

from ..storage.corpus import Corpus, as_count_matrix, load_npz_counts, read_vocab
from ..errors import UserInputError

INT32_MAX = int(np.iinfo(np.int32).max)


def _find_vocab(path: Path, vocab_path: str | os.PathLike[str] | None, candidates: list[Path]) -> Path:
    if vocab_path is not None:
        vp = Path(vocab_path)
        if not vp.is_file():
            raise UserInputError(f"--vocab {vp}: vocabulary file not found")
        return vp
    for cand in candidates:
        if cand.is_file():
            return cand
    names = " or ".join(c.name for c in candidates)
    raise UserInputError(
        f"{path}: a count matrix needs its vocabulary; pass --vocab FILE (one word per line) or put {names} next to it"
    )


def _with_vocab(path: Path, counts: sp.csr_matrix, vocab_file: Path, doc_ids: list[str] | None = None) -> Corpus:
    """The Corpus of ``counts`` and the words of ``vocab_file``; a size mismatch names both files."""
    vocab = read_vocab(vocab_file)
    if len(vocab) != counts.shape[1]:
        raise UserInputError(
            f"{vocab_file}: {len(vocab)} words but {path} has {counts.shape[1]} columns; "
            "pass the vocabulary that belongs to this matrix with --vocab"
        )
    return Corpus(counts, vocab, doc_ids or [])


def load_npz(path: Path, vocab_path: str | os.PathLike[str] | None = None) -> Corpus:
    counts = load_npz_counts(path)
    return _with_vocab(path, counts, _find_vocab(path, vocab_path, [path.parent / "vocab.txt"]))


def load_mtx(path: Path, vocab_path: str | os.PathLike[str] | None = None) -> Corpus:
    try:
        matrix = scipy.io.mmread(str(path))
    except (ValueError, OSError, EOFError, IndexError, zlib.error) as exc:
        raise UserInputError(f"{path}: not a valid Matrix Market file ({exc})") from None
    except MemoryError as exc:
        raise UserInputError(
            f"{path}: the matrix does not fit in memory ({exc}); check the sizes in its header"
        ) from None
    counts = as_count_matrix(matrix, source=str(path))
    return _with_vocab(path, counts, _find_vocab(path, vocab_path, [path.parent / "vocab.txt"]))


def _uci_vocab_candidates(path: Path) -> list[Path]:
    m = re.match(r"^docword\.(.*)\.txt(\.gz)?$", path.name, re.IGNORECASE)
    cands = []
    if m:
        cands += [path.parent / f"vocab.{m.group(1)}.txt", path.parent / f"vocab.{m.group(1)}.txt.gz"]
    cands.append(path.parent / "vocab.txt")
    return cands


def load_uci(path: Path, vocab_path: str | os.PathLike[str] | None = None) -> Corpus:
    """UCI bag-of-words: three header lines D, W, NNZ, then ``doc word count`` triples (1-based)."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise UserInputError(f"{path}: cannot read the file ({exc})") from None
    stream = io.BytesIO(raw)
    header = []
    for _ in range(3):
        line = stream.readline().strip()
        try:
            header.append(int(line))
        except ValueError:
            raise UserInputError(
                f"{path}: not a UCI docword file (expected 3 header lines D, W, NNZ; got {line[:40]!r})"
            ) from None
    n_docs, n_words, nnz = header
    if not all(0 <= value <= INT32_MAX for value in header):
        raise UserInputError(
            f"{path}: header values D, W, NNZ must be between 0 and {INT32_MAX} (got {n_docs}, {n_words}, {nnz})"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked against NNZ below
            triples = np.loadtxt(stream, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise UserInputError(f"{path}: invalid 'doc word count' line ({exc})") from None
    if triples.size == 0:
        triples = np.zeros((0, 3))
    if triples.shape[1] != 3:
        raise UserInputError(f"{path}: each line after the header must be 'doc word count' (found {triples.shape[1]} columns)")
    if triples.shape[0] != nnz:
        raise UserInputError(f"{path}: header says {nnz} entries but the file has {triples.shape[0]}")
    docs, words, counts = triples[:, 0], triples[:, 1], triples[:, 2]
    for name, ids, hi in (("doc", docs, n_docs), ("word", words, n_words)):
        if ids.size and (ids.min() < 1 or ids.max() > hi or not np.array_equal(ids, np.round(ids))):
            raise UserInputError(f"{path}: {name} ids must be whole numbers from 1 to {hi} (the header value)")
    if counts.size and counts.min() < 0:
        raise UserInputError(f"{path}: counts must be non-negative (found {counts.min():g})")
    matrix = sp.coo_matrix((counts, (docs.astype(np.int64) - 1, words.astype(np.int64) - 1)), shape=(n_docs, n_words))
    matrix = as_count_matrix(matrix.tocsr(), source=str(path))
    vocab_file = _find_vocab(path, vocab_path, _uci_vocab_candidates(path))
    return _with_vocab(path, matrix, vocab_file, [str(i) for i in range(1, n_docs + 1)])
