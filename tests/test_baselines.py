"""LDA baselines: each fits a tiny synthetic corpus and gives row-stochastic word distributions."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp

from deepgbn_text import Corpus
from deepgbn_text.baselines import BASELINES, GensimLDA, SklearnLDA, TomotopyLDA
from deepgbn_text.errors import UserInputError
from deepgbn_text.evaluate import completion_perplexity, completion_split

from conftest import synthetic_counts

FAST = {"lda-sklearn": {"max_iter": 10}, "lda-gensim": {"passes": 3, "iterations": 50},
        "lda-tomotopy": {"iterations": 100, "infer_iterations": 20}}


@pytest.fixture(scope="module")
def tiny():
    counts = synthetic_counts(n_docs=150, n_words=40, n_topics=4, seed=1)
    return Corpus(counts[:120], [f"word{v:02d}" for v in range(40)]), counts[120:]


def test_registry_names():
    assert set(BASELINES) == {"lda-sklearn", "lda-gensim", "lda-tomotopy"}
    assert BASELINES["lda-sklearn"] is SklearnLDA and BASELINES["lda-gensim"] is GensimLDA


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_fits_and_gives_word_distributions(name, tiny):
    if name == "lda-tomotopy":
        pytest.importorskip("tomotopy", reason="tomotopy is not installed (pip install deepgbn-text[tomotopy])")
    train, test = tiny
    model = BASELINES[name](n_topics=4, seed=0, **FAST[name]).fit(train)
    assert model.n_layers == 1 and model.topics_ == [4] and model.vocab_ == train.vocab
    tw = model.topic_word()
    assert tw.shape == (4, 40) and np.allclose(tw.sum(1), 1.0) and (tw >= 0).all()
    observed, heldout = completion_split(test, 0.2, seed=0)
    with_empty = sp.vstack([observed, sp.csr_matrix((1, 40), dtype=np.int32)]).tocsr()
    probs = model.word_distribution(with_empty)
    assert probs.shape == (31, 40) and np.allclose(probs.sum(1), 1.0) and (probs >= 0).all()
    ppl = completion_perplexity(model, observed, heldout)
    assert 1.0 < ppl < 40.0  # better than uniform on block-structured documents
    block = heldout.tocoo()
    assert np.allclose(model.word_probabilities(observed, block.row, block.col),
                       model.word_distribution(observed)[block.row, block.col], rtol=1e-9)
    assert np.array_equal(model.transform(test)[0], model.transform(test)[0])  # same theta on every call
    top = model.topics(top_n=5)
    assert len(top) == 4 and all(len(t) == 5 for t in top)
    assert model.transform(test)[0].shape == (30, 4)
    with pytest.raises(UserInputError):
        model.word_distribution(observed, layer=2)


def test_bad_arguments(tiny):
    with pytest.raises(UserInputError):
        SklearnLDA(n_topics=0)
    with pytest.raises(UserInputError):
        SklearnLDA(n_topics=100).fit(tiny[0])
    with pytest.raises(UserInputError):
        SklearnLDA(n_topics=2, max_iter=2).fit(tiny[0]).word_distribution(sp.csr_matrix((2, 7)))


def test_missing_tomotopy_says_how_to_install(monkeypatch, tiny):
    monkeypatch.setitem(sys.modules, "tomotopy", None)  # makes "import tomotopy" fail
    with pytest.raises(UserInputError, match=r"pip install deepgbn-text\[tomotopy\]"):
        TomotopyLDA(n_topics=2).fit(tiny[0])
