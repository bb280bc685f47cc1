"""The bundled 20 Newsgroups sample and the 20 Newsgroups recipe."""
from __future__ import annotations

import gzip

import pytest

from deepgbn_text import corpora
from deepgbn_text.errors import UserInputError
from deepgbn_text.text import TextOptions


def test_available_and_files():
    assert "20news-sample" in corpora.available()
    path = corpora.sample_path("20news-sample")
    assert path.is_file() and path.stat().st_size < 3 * 1024 * 1024
    labels = corpora.load_labels("20news-sample")
    assert len(labels) == 2000 and len(set(labels)) == 20
    assert all(labels.count(label) == 100 for label in set(labels))


def test_load_sample():  # the only test that tokenises the whole sample
    corpus = corpora.load("20news-sample")
    assert corpus.n_docs == 2000
    assert 2000 <= corpus.n_words <= 10000
    assert corpus.doc_ids[:2] == ["1", "2"]
    assert corpus.counts.sum(axis=1).min() > 0


def test_unknown_name_lists_available():
    for fn in (corpora.load, corpora.sample_path, corpora.load_labels):
        with pytest.raises(UserInputError, match="20news-sample"):
            fn("no-such-corpus")


def test_load_20newsgroups_from_folder(tmp_path):
    for part, texts, labels in (
        ("train", ["apple pie recipe", "hockey game tonight"], ["food", "sport"]),
        ("test", ["apple tart"], ["food"]),
    ):
        (tmp_path / f"{part}.txt.gz").write_bytes(gzip.compress("\n".join(texts).encode() + b"\n"))
        (tmp_path / f"{part}.labels").write_text("\n".join(labels) + "\n")
    options = TextOptions(min_df=1, max_df=1.0, max_vocab=None)
    corpus, labels = corpora.load_20newsgroups(tmp_path, "all", options)
    assert corpus.n_docs == 3 and labels == ["food", "sport", "food"]
    assert corpus.doc_ids == ["train:1", "train:2", "test:1"]
    corpus, labels = corpora.load_20newsgroups(tmp_path, "test", options)
    assert corpus.n_docs == 1 and labels == ["food"]
    with pytest.raises(UserInputError, match="--subset"):
        corpora.load_20newsgroups(tmp_path, "dev")
    with pytest.raises(UserInputError, match="train.txt.gz"):
        corpora.load_20newsgroups(tmp_path / "nope")
