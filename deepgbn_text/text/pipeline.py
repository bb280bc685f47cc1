"""From any input (raw text or a count matrix) to a :class:`~deepgbn_text.storage.corpus.Corpus`.

Raw text is streamed: only token ids and per-document CSR pieces are kept while tokenising; the
vocabulary filter (min_df/max_df/max_vocab) is then a column selection on the sparse matrix. With
``phrases`` the input is read twice: once to learn gensim bigrams, once to count. To write a corpus
folder without holding the counts in memory at all, see :mod:`.streaming`.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..storage.corpus import Corpus
from ..errors import UserInputError
from . import matrices
from .options import TextOptions
from .readers import ALL_FORMATS, TEXT_FORMATS, detect_format, read_documents
from .tokenize import PHRASE_DELIMITER, Tokenizer
from .vocabulary import CountBuilder, select_vocabulary

Progress = Callable[[int], None]
DocStream = Callable[[], Iterable[tuple[str, str]]]

_TOKENIZERS: dict[tuple, Tokenizer] = {}


def get_tokenizer(options: TextOptions) -> Tokenizer:
    """A (cached) :class:`Tokenizer` for ``options``."""
    key = dataclasses.astuple(options)
    tok = _TOKENIZERS.get(key)
    if tok is None:
        if len(_TOKENIZERS) >= 4:
            _TOKENIZERS.clear()
        tok = _TOKENIZERS[key] = Tokenizer(dataclasses.replace(options))
    return tok


def load_corpus(
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    text_column: str | None = None,
    vocab_path: str | os.PathLike[str] | None = None,
    options: TextOptions | None = None,
    progress: Progress | None = None,
) -> Corpus:
    """Read ``path`` (txt, dir, csv, jsonl, parquet, npz, uci, mtx or a prepared corpus folder) as a Corpus.

    Raw text is tokenised and filtered with ``options``; count matrices are taken as they are (with
    the vocabulary from ``vocab_path`` or a vocab file next to them). ``progress(n_docs_done)`` is
    called now and then while tokenising (with ``phrases`` the count runs to twice the number of
    documents, because the input is read twice).
    """
    options = options or TextOptions()
    options.validate()
    p, fmt = resolve_format(path, fmt)
    if fmt == "corpus":
        if not p.is_dir():
            raise UserInputError(f"{p}: --format corpus expects a prepared corpus folder")
        return Corpus.load(p)
    if fmt in ("npz", "uci", "mtx"):
        if p.is_dir():
            raise UserInputError(f"{p}: is a folder, expected a .{fmt} file")
        loader = {"npz": matrices.load_npz, "uci": matrices.load_uci, "mtx": matrices.load_mtx}[fmt]
        return loader(p, vocab_path)
    assert fmt in TEXT_FORMATS
    return build_corpus_from_stream(lambda: read_documents(p, fmt, text_column), str(p), options, progress)


def resolve_format(path: str | os.PathLike[str], fmt: str | None) -> tuple[Path, str]:
    """``path`` as a Path and its input format (``fmt``, or detected); UserInputError if either is wrong."""
    p = Path(path)
    if not p.exists():
        raise UserInputError(f"{p}: file not found")
    fmt = (fmt or detect_format(p)).lower()
    if fmt not in ALL_FORMATS:
        raise UserInputError(f"--format must be one of {', '.join(ALL_FORMATS)} (got {fmt!r})")
    return p, fmt


def build_corpus(
    texts: Iterable[str],
    options: TextOptions | None = None,
    doc_ids: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> Corpus:
    """A Corpus from in-memory ``texts`` (ids default to 1, 2, ...), or from a pandas Series such as a
    DataFrame column (ids default to its index; missing values are empty documents). With ``phrases``
    an iterator is listed first."""
    options = options or TextOptions()
    options.validate()
    if hasattr(texts, "fillna") and hasattr(texts, "index"):  # a pandas Series
        doc_ids = [str(i) for i in texts.index] if doc_ids is None else doc_ids
        texts = texts.fillna("")
    if options.phrases and iter(texts) is texts:
        texts = list(texts)
    ids = list(doc_ids) if doc_ids is not None else None

    def docs() -> Iterator[tuple[str, str]]:
        for i, text in enumerate(texts):
            yield (ids[i] if ids is not None and i < len(ids) else str(i + 1)), text

    return build_corpus_from_stream(docs, "texts", options, progress)


def build_corpus_from_stream(
    make_docs: DocStream, source: str, options: TextOptions, progress: Progress | None = None
) -> Corpus:
    """Tokenise the ``(doc_id, text)`` pairs from ``make_docs()`` (called twice with phrases) in memory."""
    builder = CountBuilder()
    doc_ids: list[str] = []
    count_documents(make_docs, source, options, builder, doc_ids.append, progress)
    counts, vocab = select_vocabulary(builder.matrix(), builder.words(), options)
    return Corpus(counts, vocab, doc_ids)


def count_documents(
    make_docs: DocStream,
    source: str,
    options: TextOptions,
    builder: CountBuilder,
    on_doc_id: Callable[[str], object],
    progress: Progress | None = None,
) -> None:
    """Count the tokens of every document from ``make_docs()`` into ``builder`` (one row each, in order)
    and pass each id to ``on_doc_id``; UserInputError naming ``source`` if nothing was counted."""
    tokenizer = get_tokenizer(options)
    done = [0]
    step = max(1, options.batch_size)

    def tick(n: int = 1) -> None:
        done[0] += n
        if progress is not None and done[0] % step == 0:
            progress(done[0])

    phraser = None
    if options.phrases:
        phraser = _learn_phrases(tokenizer, make_docs, options, tick)

    def texts() -> Iterator[str]:
        for doc_id, text in make_docs():
            on_doc_id(doc_id)
            yield text

    last = -1
    for i, tokens in tokenizer.stream_chunks(texts()):
        if i != last:
            if last >= 0:
                builder.end_document()
                tick()
            last = i
        if phraser is not None and tokens:
            tokens = phraser[tokens]
        builder.add_tokens(tokens)
    if last >= 0:
        builder.end_document()
        tick()
    if progress is not None and done[0] % step:
        progress(done[0])

    if builder.n_docs == 0:
        raise UserInputError(f"{source}: no documents")
    if builder.nnz == 0:
        raise UserInputError(
            f"{source}: every document is empty after tokenisation (only stop words, numbers, punctuation "
            f"or words shorter than --min-token-len {options.min_length}); check the input and --text-column"
        )


def _learn_phrases(tokenizer: Tokenizer, make_docs: DocStream, options: TextOptions, tick: Callable[[int], None]):  # type: ignore[no-untyped-def]
    from gensim.models.phrases import Phrases

    def sentences() -> Iterator[list[str]]:
        last = -1
        for i, tokens in tokenizer.stream_chunks(text for _, text in make_docs()):
            if i != last:
                if last >= 0:
                    tick()
                last = i
            yield tokens
        if last >= 0:
            tick()

    model = Phrases(
        sentences(),
        min_count=options.phrase_min_count,
        threshold=options.phrase_threshold,
        delimiter=PHRASE_DELIMITER,
        connector_words=frozenset(),
    )
    return model.freeze()


def join_bigrams(tokens: list[str], vocab_index: dict[str, int]) -> list[str]:
    """Greedily join adjacent tokens ``a b`` into ``a_b`` when ``a_b`` is in the vocabulary."""
    out: list[str] = []
    k, n = 0, len(tokens)
    while k < n:
        if k + 1 < n:
            pair = tokens[k] + PHRASE_DELIMITER + tokens[k + 1]
            if pair in vocab_index:
                out.append(pair)
                k += 2
                continue
        out.append(tokens[k])
        k += 1
    return out


def vectorize(texts: Iterable[str], vocab: list[str], options: TextOptions | None = None) -> sp.csr_matrix:
    """Count the words of ``vocab`` in each of ``texts`` with the same tokenisation (rows in order, int32 CSR)."""
    options = options or TextOptions()
    options.validate()
    vocab = [str(w) for w in vocab]
    if not vocab:
        raise UserInputError("vectorize: the vocabulary is empty")
    builder = CountBuilder()
    builder.word_ids = {w: j for j, w in enumerate(vocab)}
    if len(builder.word_ids) != len(vocab):
        raise UserInputError("vectorize: the vocabulary contains duplicate words; each word must appear once")
    tokenizer = get_tokenizer(options)
    last = -1
    for i, tokens in tokenizer.stream_chunks(texts):
        if i != last:
            if last >= 0:
                builder.end_document()
            last = i
        if options.phrases:
            tokens = join_bigrams(tokens, builder.word_ids)
        builder.add_tokens(tokens, grow=False)
    if last >= 0:
        builder.end_document()
    counts = builder.matrix()
    counts.sort_indices()
    return counts.astype(np.int32)
