"""Bundled sample corpora and the 20 Newsgroups recipe (``deepgbn_text.corpora``).

``load("20news-sample")`` gives 2,000 documents of 20 Newsgroups (100 per newsgroup); see README.md.
"""
from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from ..storage.corpus import Corpus
from ..errors import UserInputError
from ..text import TextOptions, load_corpus
from ..text.pipeline import build_corpus_from_stream
from ..text.readers import read_documents

TEXT_SUFFIX = ".txt.gz"
LABELS_SUFFIX = ".labels"
SUBSETS = ("train", "test", "all")

_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def _package_files():  # type: ignore[no-untyped-def]
    return resources.files(__name__)


def available() -> list[str]:
    """Names of the bundled corpora."""
    names = [
        entry.name[: -len(TEXT_SUFFIX)]
        for entry in _package_files().iterdir()
        if entry.is_file() and entry.name.endswith(TEXT_SUFFIX)
    ]
    return sorted(names)


def _resource_path(filename: str) -> Path:
    res = _package_files().joinpath(filename)
    if isinstance(res, os.PathLike):
        return Path(os.fspath(res))
    return Path(_extracted.enter_context(resources.as_file(res)))  # e.g. installed as a zip


def _check_name(name: str) -> None:
    names = available()
    if name not in names:
        raise UserInputError(f"unknown bundled corpus {name!r}; available: {', '.join(names) or 'none'}")


def sample_path(name: str = "20news-sample") -> Path:
    """Path of the bundled text file (gzip, one document per line) of corpus ``name``."""
    _check_name(name)
    return _resource_path(name + TEXT_SUFFIX)


def load_labels(name: str = "20news-sample") -> list[str]:
    """One label per document of the bundled corpus ``name``."""
    _check_name(name)
    return _resource_path(name + LABELS_SUFFIX).read_text(encoding="utf-8").splitlines()


def load(name: str = "20news-sample", options: TextOptions | None = None) -> Corpus:
    """The bundled corpus ``name`` tokenised with ``options`` (document ids are 1-based line numbers)."""
    return load_corpus(sample_path(name), fmt="txt", options=options)


def load_20newsgroups(
    path: str | os.PathLike[str] | None = None, subset: str = "train", options: TextOptions | None = None
) -> tuple[Corpus, list[str]]:
    """20 Newsgroups (bydate, headers/footers/quotes removed) as ``(corpus, labels)``.

    ``path`` is a folder with ``train.txt.gz``/``test.txt.gz`` (one document per line) and
    ``train.labels``/``test.labels`` (one label per line). With ``path=None`` the copy in
    scikit-learn's cache is used if it is already there (nothing is downloaded). For ``subset="all"``
    the training documents come first and ids are prefixed with ``train:``/``test:``.
    """
    if subset not in SUBSETS:
        raise UserInputError(f"--subset must be one of {', '.join(SUBSETS)} (got {subset!r})")
    options = options or TextOptions()
    options.validate()
    parts = ["train", "test"] if subset == "all" else [subset]
    if path is None:
        return _from_sklearn(subset, options)
    folder = Path(path)
    if not folder.is_dir():
        raise UserInputError(f"{folder}: 20 Newsgroups folder not found (expected train.txt.gz, test.txt.gz and .labels files)")
    files = []
    labels: list[str] = []
    for part in parts:
        text_file = next((folder / f"{part}{ext}" for ext in (".txt.gz", ".txt") if (folder / f"{part}{ext}").is_file()), None)
        if text_file is None:
            raise UserInputError(f"{folder}: missing {part}.txt.gz (one document per line)")
        label_file = folder / f"{part}.labels"
        if not label_file.is_file():
            raise UserInputError(f"{folder}: missing {part}.labels (one label per line)")
        labels += label_file.read_text(encoding="utf-8").splitlines()
        files.append((part, text_file))

    def docs() -> Iterator[tuple[str, str]]:
        for part, text_file in files:
            for doc_id, text in read_documents(text_file, "txt"):
                yield (f"{part}:{doc_id}" if len(files) > 1 else doc_id), text

    corpus = build_corpus_from_stream(docs, str(folder), options)
    if len(labels) != corpus.n_docs:
        raise UserInputError(f"{folder}: {len(labels)} labels for {corpus.n_docs} documents; the .labels files do not match")
    return corpus, labels


def _from_sklearn(subset: str, options: TextOptions) -> tuple[Corpus, list[str]]:
    try:
        from sklearn.datasets import fetch_20newsgroups

        data = fetch_20newsgroups(
            subset=subset, download_if_missing=False, remove=("headers", "footers", "quotes"), shuffle=False
        )
    except (OSError, ImportError) as exc:
        raise UserInputError(
            "20 Newsgroups is not in scikit-learn's cache; pass a folder holding train.txt.gz/test.txt.gz "
            f"and train.labels/test.labels ({exc.__class__.__name__}: {exc})"
        ) from None
    texts = list(data.data)
    labels = [data.target_names[t] for t in data.target]
    ids = [str(i) for i in range(1, len(texts) + 1)]
    corpus = build_corpus_from_stream(lambda: zip(ids, texts), "20 Newsgroups (scikit-learn cache)", options)
    return corpus, labels
