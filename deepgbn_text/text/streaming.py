"""Write a prepared corpus folder from raw text without holding the counts in memory.

Pass 1 tokenises into CSR shards on disk, keeping in memory only the word -> id map and each word's
document frequency (O(vocabulary)); the ids go straight to ``doc_ids.txt``. The vocabulary is chosen
from the document frequencies by the same rule as for an in-memory corpus. Pass 2 maps each shard's
columns to that vocabulary and appends it to the folder's count arrays. Everything happens inside an
atomic folder write, so an interrupted run leaves nothing behind.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..storage.atomic import atomic_dir
from ..storage.corpus import COUNTS_DIR, doc_id_line, open_doc_ids, write_vocab_and_meta
from ..storage.csr_files import CSRWriter
from ..errors import UserInputError
from .options import TextOptions
from .pipeline import Progress, count_documents, load_corpus, resolve_format
from .readers import TEXT_FORMATS, read_documents
from .vocabulary import CountBuilder, take_columns, vocabulary_columns

SHARD_ENTRIES = 1 << 22
"""Non-zero entries kept in memory before they are written to a shard (about 32 MB)."""
SHARDS_DIR = ".shards"


@dataclass(frozen=True)
class PreparedCorpus:
    """What :func:`prepare_corpus` wrote."""

    path: Path
    n_docs: int
    n_words: int
    n_tokens: int


class ShardedCountBuilder(CountBuilder):
    """A CountBuilder that moves its finished documents to ``.npz`` shards in ``folder`` every
    :data:`SHARD_ENTRIES` entries; ``df`` is each word's document frequency in the shards written
    (call :meth:`flush` after the last document)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        folder.mkdir()
        self.folder = folder
        self.shards: list[Path] = []
        self.df = np.zeros(0, dtype=np.int64)
        self._flushed_docs = 0
        self._flushed_nnz = 0

    @property
    def n_docs(self) -> int:
        return self._flushed_docs + super().n_docs

    @property
    def nnz(self) -> int:
        return self._flushed_nnz + super().nnz

    def end_document(self) -> None:
        super().end_document()
        if super().nnz >= SHARD_ENTRIES:
            self.flush()

    def flush(self) -> None:
        """Write the documents held in memory to a new shard."""
        block = self.matrix()
        if block.shape[0] == 0:
            return
        path = self.folder / f"{len(self.shards):06d}.npz"
        sp.save_npz(path, block, compressed=False)
        self.shards.append(path)
        df = np.bincount(block.indices, minlength=block.shape[1])
        df[: self.df.size] += self.df
        self.df = df
        self._flushed_docs += block.shape[0]
        self._flushed_nnz += block.nnz
        self.forget_documents()


def prepare_corpus(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    text_column: str | None = None,
    vocab_path: str | os.PathLike[str] | None = None,
    options: TextOptions | None = None,
    progress: Progress | None = None,
) -> PreparedCorpus:
    """Read ``path`` as :func:`~deepgbn_text.text.load_corpus` does and write the corpus folder ``out``.

    Raw text is streamed in two passes through shards (the counts are never all in memory); count
    matrices and prepared folders are loaded and written again (an old-format folder is upgraded).
    """
    options = options or TextOptions()
    options.validate()
    p, fmt = resolve_format(path, fmt)
    if fmt not in TEXT_FORMATS:
        corpus = load_corpus(p, fmt=fmt, vocab_path=vocab_path, options=options)
        corpus.save(out)
        return PreparedCorpus(Path(out), corpus.n_docs, corpus.n_words, corpus.n_tokens)
    if fmt == "dir" and Path(out).resolve().is_relative_to(p.resolve()):
        raise UserInputError(f"--out {out}: is inside the input folder {p}, whose .txt files are the documents")
    with atomic_dir(out) as tmp:
        builder = ShardedCountBuilder(tmp / SHARDS_DIR)
        with open_doc_ids(tmp) as ids:
            count_documents(lambda: read_documents(p, fmt, text_column), str(p), options, builder,
                            lambda doc_id: ids.write(doc_id_line(doc_id)), progress)
        builder.flush()
        words = builder.words()
        columns = vocabulary_columns(builder.df, words, builder.n_docs, options)
        n_tokens = _write_counts(tmp / COUNTS_DIR, builder, columns)
        shutil.rmtree(tmp / SHARDS_DIR)
        write_vocab_and_meta(tmp, [words[j] for j in columns], builder.n_docs, n_tokens)
    return PreparedCorpus(Path(out), builder.n_docs, len(columns), n_tokens)


def _write_counts(folder: Path, builder: ShardedCountBuilder, columns: np.ndarray) -> int:
    """Pass 2: every shard's ``columns``, in order, appended to the count arrays; the number of tokens."""
    n_words_seen = builder.df.size
    with CSRWriter(folder, builder.n_docs, columns.size, int(builder.df[columns].sum())) as writer:
        for shard in builder.shards:
            block = sp.load_npz(shard)
            block.resize(block.shape[0], n_words_seen)
            writer.append(take_columns(block, columns))
    return writer.n_tokens
