"""A CSR count matrix as three memory-mappable ``.npy`` files: ``indptr``, ``indices`` and ``data``.

:class:`CSRWriter` writes them block of rows by block of rows: the sizes are fixed up front, so each
file's header is written first and the blocks are appended as raw bytes. :func:`load_csr` maps them
read-only and wraps them in a ``scipy.sparse.csr_matrix`` without copying; its checks run over blocks
of rows, so loading never holds more than one block in memory.
"""
from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.sparse as sp

from ..errors import UserInputError

INDPTR_FILE = "indptr.npy"
INDICES_FILE = "indices.npy"
DATA_FILE = "data.npy"
DATA_DTYPE = np.dtype(np.int32)
BLOCK_ENTRIES = 1 << 20
"""Entries read at a time by :func:`load_csr` (its checks) and :func:`row_sums`."""
TAKE_ROWS_PIECE = 256
"""Scattered rows of memory-mapped counts read between two releases of their pages (:func:`take_rows`)."""


def index_dtype(n_docs: int, n_words: int, nnz: int) -> np.dtype:
    """int32 when every index and offset fits, else int64: the dtype scipy would pick, so it copies nothing."""
    fits = max(n_docs, n_words, nnz) <= np.iinfo(np.int32).max
    return np.dtype(np.int32 if fits else np.int64)


class _NpyAppender:
    """A 1-D ``.npy`` file of a known length, filled by appending chunks."""

    def __init__(self, path: Path, dtype: np.dtype, length: int) -> None:
        self.path, self.dtype, self.length, self.written = path, dtype, length, 0
        self.file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (length,)}
        np.lib.format.write_array_header_1_0(self.file, header)

    def append(self, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        if self.written + values.size > self.length:
            raise ValueError(f"{self.path}: more than the {self.length} values announced")
        values.tofile(self.file)
        self.written += values.size

    def close(self) -> None:
        self.file.close()


class CSRWriter:
    """Appends row blocks of a ``n_docs x n_words`` CSR count matrix with ``nnz`` entries to ``folder``.

    Use it as a context manager; leaving the block normally checks that exactly the announced rows and
    entries were written. ``n_tokens`` is the sum of the counts written so far.
    """

    def __init__(self, folder: Path, n_docs: int, n_words: int, nnz: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        index = index_dtype(n_docs, n_words, nnz)
        self.n_words = n_words
        self.n_tokens = 0
        self._indptr = _NpyAppender(folder / INDPTR_FILE, index, n_docs + 1)
        self._indices = _NpyAppender(folder / INDICES_FILE, index, nnz)
        self._data = _NpyAppender(folder / DATA_FILE, DATA_DTYPE, nnz)
        self._indptr.append(np.zeros(1, dtype=index))

    def append(self, block: sp.csr_matrix) -> None:
        """Append the rows of ``block`` (canonical CSR, whole non-negative counts, ``n_words`` columns)."""
        if block.shape[1] != self.n_words:
            raise ValueError(f"a block has {block.shape[1]} columns, expected {self.n_words}")
        self._indptr.append(block.indptr[1:].astype(np.int64) + self._indices.written)
        self._indices.append(block.indices)
        self._data.append(block.data)
        self.n_tokens += int(block.data.sum(dtype=np.int64))

    def __enter__(self) -> CSRWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        files = (self._indptr, self._indices, self._data)
        for f in files:
            f.close()
        if exc_type is None:
            for f in files:
                if f.written != f.length:
                    raise ValueError(f"{f.path}: {f.written} values written, {f.length} announced")


def write_csr(folder: Path, counts: sp.csr_matrix) -> int:
    """Write a canonical CSR count matrix into ``folder`` in one block; return its number of tokens."""
    with CSRWriter(folder, counts.shape[0], counts.shape[1], counts.nnz) as writer:
        writer.append(counts)
    return writer.n_tokens


def load_csr(folder: Path, n_words: int, mmap: bool = True) -> sp.csr_matrix:
    """The matrix written by :class:`CSRWriter` (read-only memory maps unless ``mmap`` is false).

    Every entry is checked (column in range, count positive, columns increasing within a row) one block
    of rows at a time, and the pages each block read are released after it (:func:`release_pages`); a
    damaged folder is a UserInputError naming it.
    """
    indptr, indices, data = (_load_array(folder / name, mmap) for name in (INDPTR_FILE, INDICES_FILE, DATA_FILE))
    _check_layout(folder, indptr, indices, data)
    counts = sp.csr_matrix((data, indices, indptr), shape=(indptr.size - 1, n_words), copy=False)
    for start, stop in _row_blocks(indptr, BLOCK_ENTRIES):
        _check_rows(folder, indptr[start : stop + 1], indices, data, n_words)
        release_pages(counts)
    counts.has_canonical_format = True  # checked above: scipy need not scan the arrays again
    return counts


def _mappings(counts: sp.csr_matrix) -> list[mmap.mmap]:
    """The file mappings under the arrays of ``counts`` (none for counts in ordinary memory)."""
    found = []
    for array in (counts.indptr, counts.indices, counts.data):
        while isinstance(array, np.ndarray):
            array = array.base
        if isinstance(array, mmap.mmap):
            found.append(array)
    return found


def release_pages(counts: sp.csr_matrix) -> None:
    """Unmap the pages of memory-mapped counts that this process has read (``madvise(MADV_DONTNEED)``).

    They stay in the kernel's page cache, so reading them again is cheap, but they no longer count
    towards the process's resident memory: a pass over a mapped corpus then holds only the rows in use.
    Counts in ordinary memory are left alone."""
    if hasattr(mmap, "MADV_DONTNEED"):
        for mapping in _mappings(counts):
            mapping.madvise(mmap.MADV_DONTNEED)


def take_rows(counts: sp.csr_matrix, rows: np.ndarray | slice) -> sp.csr_matrix:
    """``counts[rows]`` as a matrix in memory. Memory-mapped counts give back the pages read after every
    ``TAKE_ROWS_PIECE`` rows: each row read maps a whole large page-cache folio around it, so 8,192
    scattered rows of a 1M x 50k corpus would map nearly all of its 0.7 GB at once."""
    if isinstance(rows, slice) or not _mappings(counts):
        block = counts[rows]
        release_pages(counts)
        return block
    pieces = []
    for start in range(0, len(rows), TAKE_ROWS_PIECE):
        pieces.append(counts[rows[start : start + TAKE_ROWS_PIECE]])
        release_pages(counts)
    return sp.vstack(pieces, format="csr") if len(pieces) != 1 else pieces[0]


def row_sums(counts: sp.csr_matrix) -> np.ndarray:
    """Every row's total (int64), one block of rows at a time. (scipy's ``sum(axis=1)`` of int32 counts
    casts the whole data array to int64 at once, twice its size in memory, even when it is memory-mapped.)"""
    sums = np.zeros(counts.shape[0], dtype=np.int64)
    for start, stop in _row_blocks(counts.indptr, BLOCK_ENTRIES):
        offsets = np.asarray(counts.indptr[start : stop + 1], dtype=np.int64)
        running = np.concatenate([[0], np.cumsum(counts.data[offsets[0] : offsets[-1]], dtype=np.int64)])
        sums[start:stop] = np.diff(running[offsets - offsets[0]])
        release_pages(counts)
    return sums


def _load_array(path: Path, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise UserInputError(f"{path}: file not found; the corpus folder is incomplete, prepare it again")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UserInputError(f"{path}: not a readable .npy array ({exc}); prepare the corpus again") from None
    if array.ndim != 1:
        raise UserInputError(f"{path}: expected a 1-D array, found shape {array.shape}; prepare the corpus again")
    return array


def _corrupt(folder: Path, what: str) -> UserInputError:
    return UserInputError(f"{folder}: damaged count arrays ({what}); prepare the corpus again")


def _check_layout(folder: Path, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> None:
    if indptr.dtype not in (np.int32, np.int64) or indices.dtype != indptr.dtype or data.dtype != DATA_DTYPE:
        raise _corrupt(folder, f"dtypes {indptr.dtype}/{indices.dtype}/{data.dtype}, expected int32 or int64 "
                               "indptr and indices of one dtype and int32 data")
    if indptr.size == 0 or indptr[0] != 0 or indptr[-1] != indices.size or data.size != indices.size:
        raise _corrupt(folder, "indptr does not match indices and data")


def _row_blocks(indptr: np.ndarray, entries: int) -> Iterator[tuple[int, int]]:
    """Consecutive row ranges [start, stop) of about ``entries`` entries each (at least one row)."""
    n_rows, start = indptr.size - 1, 0
    while start < n_rows:
        stop = int(np.searchsorted(indptr, int(indptr[start]) + entries, side="right")) - 1
        stop = min(max(stop, start + 1), n_rows)
        yield start, stop
        start = stop


def _check_rows(folder: Path, offsets: np.ndarray, indices: np.ndarray, data: np.ndarray, n_words: int) -> None:
    """Check the rows whose ``indptr`` slice is ``offsets``."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if np.any(np.diff(offsets) < 0):
        raise _corrupt(folder, "indptr decreases")
    first, last = int(offsets[0]), int(offsets[-1])
    cols = np.asarray(indices[first:last], dtype=np.int64)
    if cols.size and (cols.min() < 0 or cols.max() >= n_words):
        raise _corrupt(folder, f"a column index outside 0..{n_words - 1}; is vocab.txt the one written with it?")
    if np.any(np.asarray(data[first:last]) <= 0):
        raise _corrupt(folder, "a count is zero or negative")
    steps = np.diff(cols)
    row_starts = offsets[1:-1] - first
    steps[row_starts[(row_starts > 0) & (row_starts < cols.size)] - 1] = 1  # no order across rows
    if np.any(steps <= 0):
        raise _corrupt(folder, "columns not strictly increasing within a document")
