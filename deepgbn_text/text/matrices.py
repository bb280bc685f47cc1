"""Load already vectorised inputs: scipy .npz, UCI bag-of-words docword files, Matrix Market."""
from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

from ..corpus import Corpus, as_count_matrix, load_npz_counts, read_vocab
from ..errors import UserInputError


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


def load_npz(path: Path, vocab_path: str | os.PathLike[str] | None = None) -> Corpus:
    counts = load_npz_counts(path)
    vocab = read_vocab(_find_vocab(path, vocab_path, [path.parent / "vocab.txt"]))
    return Corpus(counts, vocab)


def load_mtx(path: Path, vocab_path: str | os.PathLike[str] | None = None) -> Corpus:
    try:
        matrix = scipy.io.mmread(str(path))
    except (ValueError, OSError, EOFError, IndexError, zlib.error) as exc:
        raise UserInputError(f"{path}: not a valid Matrix Market file ({exc})") from None
    counts = as_count_matrix(matrix, source=str(path))
    vocab = read_vocab(_find_vocab(path, vocab_path, [path.parent / "vocab.txt"]))
    return Corpus(counts, vocab)


def _uci_vocab_candidates(path: Path) -> list[Path]:
    m = re.match(r"^docword\.(.*)\.txt(\.gz)?$", path.name, re.IGNORECASE)
    cands = []
    if m:
        cands += [path.parent / f"vocab.{m.group(1)}.txt", path.parent / f"vocab.{m.group(1)}.txt.gz"]
    cands.append(path.parent / "vocab.txt")
    return cands


def _read_vocab_any(path: Path) -> list[str]:
    if path.name.endswith(".gz"):
        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8")
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
            raise UserInputError(f"{path}: cannot read the vocabulary ({exc})") from None
        words = [line.split("\t")[0].strip() for line in text.splitlines()]
        while words and not words[-1]:
            words.pop()
        if not words:
            raise UserInputError(f"{path}: vocabulary file is empty")
        return words
    return read_vocab(path)


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
    try:
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
    vocab = _read_vocab_any(_find_vocab(path, vocab_path, _uci_vocab_candidates(path)))
    return Corpus(matrix, vocab, [str(i) for i in range(1, n_docs + 1)])
