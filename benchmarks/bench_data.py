"""Real corpora for the benchmarks, vectorised the same way everywhere (shared by compare_20news.py and speed.py).

Vocabulary: scikit-learn's CountVectorizer on the training split (the ``vocab_size`` most frequent
words of 3+ letters, English stop words removed, min_df 5, max_df 0.5), so the numbers do not depend
on the spaCy pipeline. Needs ``../shared/corpora`` (see its README); nothing here imports spaCy,
gensim or tomotopy.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from deepgbn_text import Corpus

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = ROOT.parent / "shared" / "corpora"
IMDB_FILE = "imdb/imdb-100k.txt.gz"


def count_vectorizer(vocab_size: int):  # type: ignore[no-untyped-def]
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(max_features=vocab_size, stop_words="english", min_df=5, max_df=0.5,
                           token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]{2,}\b")


def read_lines(path: Path, max_docs: int | None = None) -> list[str]:
    """One document per line of a gzipped text file (the first ``max_docs`` when given)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        docs = fh.read().splitlines()
    return docs[:max_docs] if max_docs else docs


def load_20news(folder: Path, vocab_size: int, max_docs: int | None) -> tuple[Corpus, sp.csr_matrix]:
    """20 Newsgroups bydate: (training Corpus without empty documents, test counts in its vocabulary)."""
    vectorizer = count_vectorizer(vocab_size)
    train = vectorizer.fit_transform(read_lines(folder / "train.txt.gz", max_docs))
    test = vectorizer.transform(read_lines(folder / "test.txt.gz", max_docs))
    return Corpus(train, list(vectorizer.get_feature_names_out())).nonempty(), sp.csr_matrix(test)


def load_imdb(corpora: Path, vocab_size: int, test_fraction: float = 0.1, seed: int = 0,
              max_docs: int | None = None, cache: Path | None = None) -> tuple[Corpus, sp.csr_matrix]:
    """IMDB 100k reviews: a seeded random ``test_fraction`` of the documents held out for testing, the
    vocabulary fitted on the rest. With ``cache``, the result is saved there (two corpus folders) and
    read back on later calls instead of vectorising again."""
    tag = f"imdb-v{vocab_size}-t{test_fraction:g}-s{seed}" + (f"-n{max_docs}" if max_docs else "")
    if cache is not None and (cache / tag / "test" / "meta.json").is_file():
        train = Corpus.load(cache / tag / "train", mmap=False)
        return train, Corpus.load(cache / tag / "test", mmap=False).counts
    docs = read_lines(corpora / IMDB_FILE, max_docs)
    order = np.random.default_rng(seed).permutation(len(docs))
    n_test = int(round(test_fraction * len(docs)))
    test_ids, train_ids = np.sort(order[:n_test]), np.sort(order[n_test:])
    vectorizer = count_vectorizer(vocab_size)
    train_counts = vectorizer.fit_transform([docs[i] for i in train_ids])
    test_counts = sp.csr_matrix(vectorizer.transform([docs[i] for i in test_ids]))
    vocab = list(vectorizer.get_feature_names_out())
    train = Corpus(train_counts, vocab, [str(i) for i in train_ids]).nonempty()
    if cache is not None:
        train.save(cache / tag / "train")
        Corpus(test_counts, vocab, [str(i) for i in test_ids]).save(cache / tag / "test")
    return train, test_counts
