"""Train/test corpora for the benchmarks, each with its own vocabulary built on its training split.

    load("20news")        20 Newsgroups bydate, V = 2,000 (benchmarks/twenty_news.py's vocabulary)
    load("20news-3000")   its first 3,000 training and 1,500 test documents
    load("20news-v5000")  20 Newsgroups bydate with V = 5,000 (the same preparation, more words)
    load("bbc")           OCTIS BBC News (its own train/test split, its preprocessed tokens)
    load("m10")           OCTIS M10 (short texts)
    load("sample")        the bundled 2,000-document sample, a seeded 80/20 split
    load("imdb-20000")    the first 20,000 IMDB reviews, a seeded 80/20 split, V = 5,000
    load("wiki-2000")     the first 2,000 articles of the Wikipedia coherence reference (long documents:
                          median 1,800 words), a seeded 80/20 split, V = 5,000

All but "sample" read ../shared/corpora (benchmarks only: the product never needs them).
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import train_test_split

from deepgbn_text import Corpus, corpora

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
OCTIS = {"bbc": "BBC_News", "m10": "M10", "dblp": "DBLP"}
TEST_SHARE = 0.2


def _vectorise(train: list[str], test: list[str], vocab_size: int | None, pretokenised: bool = False
               ) -> tuple[Corpus, Corpus]:
    if pretokenised:
        vectorizer = CountVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, max_features=vocab_size)
    else:
        vectorizer = CountVectorizer(max_features=vocab_size, stop_words="english", min_df=5, max_df=0.5,
                                     token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]{2,}\b")
    counts = vectorizer.fit_transform(train)
    vocab = list(vectorizer.get_feature_names_out())
    return Corpus(counts, vocab).nonempty(), Corpus(vectorizer.transform(test), vocab).nonempty()


def _lines(path: Path, limit: int | None = None) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [line for _, line in zip(range(limit) if limit else iter(int, 1), fh)]


def _seeded_split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    train, test = train_test_split(np.arange(n), test_size=TEST_SHARE, random_state=seed)
    return np.sort(train), np.sort(test)


def load(name: str) -> tuple[Corpus, Corpus]:
    """(train, test) corpora of the benchmark corpus ``name`` (see the module docstring)."""
    if name == "sample":
        corpus = corpora.load("20news-sample")
        train, test = _seeded_split(corpus.n_docs)
        return corpus.subset(train).nonempty(), corpus.subset(test).nonempty()
    if name.startswith("20news"):
        train, test = _lines(SHARED / "20news" / "train.txt.gz"), _lines(SHARED / "20news" / "test.txt.gz")
        vocab_size = 2000
        for part in name.split("-")[1:]:
            if part.startswith("v"):
                vocab_size = int(part[1:])
            else:
                train, test = train[: int(part)], test[: int(part) // 2]
        return _vectorise(train, test, vocab_size)
    if name in OCTIS:
        rows = [line.rstrip("\n").split("\t") for line in
                (SHARED / "octis" / OCTIS[name] / "corpus.tsv").read_text(encoding="utf-8").splitlines()]
        return _vectorise([r[0] for r in rows if r[1] != "test"], [r[0] for r in rows if r[1] == "test"], None,
                          pretokenised=True)
    first_lines = {"imdb": SHARED / "imdb" / "imdb-100k.txt.gz", "wiki": SHARED / "wiki-ref" / "enwiki-10k.txt.gz"}
    source, _, count = name.partition("-")
    if source in first_lines and count:
        docs = _lines(first_lines[source], int(count))
        train, test = _seeded_split(len(docs))
        return _vectorise([docs[i] for i in train], [docs[i] for i in test], 5000)
    raise SystemExit(f"unknown corpus {name!r}: sample, 20news, 20news-N, 20news-vN, bbc, m10, dblp, imdb-N, wiki-N")
