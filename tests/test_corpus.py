"""Corpus: validation, save/load round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from deepgbn_text.corpus import Corpus, load_npz_counts, read_vocab
from deepgbn_text.errors import UserInputError


def make_corpus():
    counts = sp.csr_matrix(np.array([[1, 0, 2], [0, 0, 0], [0, 3, 1]]))
    return Corpus(counts, ["alpha", "b\u00e9ta", "\u03b3amma"], ["d1", "d/2", "\u6771"])


def test_round_trip(tmp_path):
    corpus = make_corpus()
    corpus.save(tmp_path / "c")
    again = Corpus.load(tmp_path / "c")
    assert again.vocab == corpus.vocab and again.doc_ids == corpus.doc_ids
    assert again.counts.dtype == np.int32 and again.counts.shape == (3, 3)
    np.testing.assert_array_equal(again.counts.toarray(), corpus.counts.toarray())
    assert again.vocab_hash() == corpus.vocab_hash()
    assert read_vocab(tmp_path / "c" / "vocab.txt") == corpus.vocab
    assert (load_npz_counts(tmp_path / "c" / "counts.npz") != corpus.counts).nnz == 0


def test_save_overwrites(tmp_path):
    make_corpus().save(tmp_path / "c")
    make_corpus().subset([0, 2]).save(tmp_path / "c")
    assert Corpus.load(tmp_path / "c").doc_ids == ["d1", "\u6771"]


def test_nonempty_and_subset():
    corpus = make_corpus()
    assert corpus.nonempty().doc_ids == ["d1", "\u6771"]
    assert corpus.n_tokens == 7 and corpus.n_docs == 3 and corpus.n_words == 3


@pytest.mark.parametrize(
    ("counts", "vocab", "ids"),
    [
        (np.array([[1, 2]]), ["a"], None),  # vocabulary size mismatch
        (np.array([[1, 2]]), ["a", "a"], None),  # duplicate word
        (np.array([[1, -2]]), ["a", "b"], None),  # negative
        (np.array([[1, 0.5]]), ["a", "b"], None),  # not whole
        (np.array([[1, np.nan]]), ["a", "b"], None),  # NaN
        (np.array([[1, 2]]), ["a", "b"], ["x", "y"]),  # too many ids
    ],
)
def test_validation(counts, vocab, ids):
    with pytest.raises(UserInputError):
        Corpus(sp.csr_matrix(counts), vocab, ids or [])


def test_load_errors(tmp_path):
    with pytest.raises(UserInputError, match="counts.npz"):
        Corpus.load(tmp_path)
    make_corpus().save(tmp_path / "c")
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "c" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserInputError, match="version"):
        Corpus.load(tmp_path / "c")


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from deepgbn_text.atomic import atomic_dir, write_text

    write_text(tmp_path / "a.txt", "x")
    with atomic_dir(tmp_path / "d") as folder:
        (folder / "f").write_text("y")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask
