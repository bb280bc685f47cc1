"""LDA baselines: each fits a tiny synthetic corpus and gives row-stochastic word distributions."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp

from deepgbn_text import Corpus
from deepgbn_text.baselines import BASELINES, HIERARCHICAL_PEERS, GensimLDA, SklearnLDA, TomotopyLDA
from deepgbn_text.tree import Tree
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
    assert set(HIERARCHICAL_PEERS) == {"hlda-tomotopy", "pam-tomotopy", "hpam-tomotopy"}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_fits_and_gives_word_distributions(name, tiny):
    if name == "lda-tomotopy":
        pytest.importorskip("tomotopy", reason="tomotopy is not installed (pip install tomotopy)")
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
    assert np.array_equal(model.transform_layers(test)[0], model.transform_layers(test)[0])  # same theta on every call
    top = model.topics(top_n=5)
    assert len(top) == 4 and all(len(t) == 5 for t in top)
    assert model.transform_layers(test)[0].shape == (30, 4)
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
    with pytest.raises(UserInputError, match=r"lda-tomotopy needs tomotopy: pip install tomotopy"):
        TomotopyLDA(n_topics=2).fit(tiny[0])


def test_tomotopy_optim_interval_zero_keeps_the_symmetric_prior(tiny):
    pytest.importorskip("tomotopy", reason="tomotopy is not installed (pip install tomotopy)")
    options = {"n_topics": 4, "iterations": 40, "infer_iterations": 10}
    fixed = TomotopyLDA(optim_interval=0, **options).fit(tiny[0])
    learned = TomotopyLDA(**options).fit(tiny[0])  # tomotopy's default: re-estimate alpha every 10 sweeps
    assert np.allclose(fixed.model_.alpha, 0.1)
    assert not np.allclose(learned.model_.alpha, 0.1)
    with pytest.raises(UserInputError, match="optim_interval"):
        TomotopyLDA(optim_interval=-1)


# ------------------------------------------------------------------------ hierarchical peers
PEER_FAST = {"iterations": 40, "infer_iterations": 10}


@pytest.fixture(scope="module")
def peers(tiny):
    pytest.importorskip("tomotopy", reason="tomotopy is not installed (pip install tomotopy)")
    return {name: cls.from_widths([8, 4, 2], seed=0, **PEER_FAST).fit(tiny[0])
            for name, cls in HIERARCHICAL_PEERS.items()}


@pytest.mark.parametrize("name, layers", [("hlda-tomotopy", 3), ("pam-tomotopy", 2), ("hpam-tomotopy", 3)])
def test_peer_layers_edges_and_prevalence(peers, tiny, name, layers):
    model = peers[name]
    assert model.n_layers == layers == len(model.topics_) and model.vocab_ == tiny[0].vocab
    if name != "hlda-tomotopy":  # hLDA learns its widths
        assert model.topics_[:2] == [8, 4]
    if name in ("hlda-tomotopy", "hpam-tomotopy"):
        assert model.topics_[-1] == 1  # one root at the top, as our layer L
    for layer in range(1, layers + 1):
        tw = model.topic_word(layer)
        assert tw.shape == (model.topics_[layer - 1], 40) and np.allclose(tw.sum(1), 1.0) and (tw >= 0).all()
        assert np.isclose(sum(model.topic_prevalence_[layer - 1]), 1.0)
    for layer in range(2, layers + 1):
        children = model.topic_children(layer)
        assert children.shape == (model.topics_[layer - 1], model.topics_[layer - 2])
        assert np.allclose(children.sum(1), 1.0) and (children >= 0).all()
    with pytest.raises(UserInputError):
        model.topic_children(1)
    with pytest.raises(UserInputError):
        model.topic_word(layers + 1)


def test_hlda_edges_are_its_ncrp_tree(peers):
    model = peers["hlda-tomotopy"]
    for layer in range(2, model.n_layers + 1):
        children = model.topic_children(layer)
        # every topic below the root has exactly one parent (a tree, not a DAG) ...
        assert ((children > 0).sum(0) == 1).all()
        # ... and a parent's edge weights are the shares of its documents going on to each child
        docs = np.asarray(model.topic_prevalence_[layer - 2])
        for parent, row in enumerate(children):
            kids = row > 0
            assert np.allclose(row[kids], docs[kids] / docs[kids].sum())


@pytest.mark.parametrize("name", sorted(HIERARCHICAL_PEERS))
def test_peer_predicts_held_out_words(peers, tiny, name):
    model = peers[name]
    _, test = tiny
    observed, heldout = completion_split(test, 0.2, seed=0)
    with_empty = sp.vstack([observed, sp.csr_matrix((1, 40), dtype=np.int32)]).tocsr()
    probs = model.word_distribution(with_empty)
    assert probs.shape == (31, 40) and np.allclose(probs.sum(1), 1.0) and (probs > 0).all()
    assert 1.0 < completion_perplexity(model, observed, heldout) < 40.0  # better than uniform
    block = heldout.tocoo()
    assert np.allclose(model.word_probabilities(observed, block.row, block.col),
                       model.word_distribution(observed)[block.row, block.col], rtol=1e-9)
    thetas = model.transform_layers(test)
    assert [t.shape for t in thetas] == [(30, k) for k in model.topics_]
    assert all(np.allclose(t.sum(1), 1.0) for t in thetas)
    assert np.array_equal(thetas[0], model.transform_layers(test)[0])  # same theta on every call
    with pytest.raises(UserInputError, match="layer 1"):
        model.word_distribution(observed, layer=2)


@pytest.mark.parametrize("name", sorted(HIERARCHICAL_PEERS))
def test_peer_tree_round_trips_through_the_topics_json_schema(peers, name):
    model = peers[name]
    tree = model.tree(top_n=5, min_edge=0.05)
    again = Tree.from_dict(tree.to_dict())  # validates against topics.schema.json and the edge rules
    assert again.n_layers == model.n_layers and again.meta["model"] == name
    assert [sum(n.layer == layer for n in again.nodes) for layer in range(1, model.n_layers + 1)] == model.topics_
    assert all(len(n.words) == 5 for n in again.nodes)
    expected = sum(int((model.topic_children(layer) >= 0.05).sum()) for layer in range(2, model.n_layers + 1))
    assert len(again.edges) == expected
    top = again.layer(model.n_layers)[0]
    assert top.words[0][0] == model.topics(model.n_layers, 1)[top.index][0][0]


def test_peer_bad_arguments(tiny):
    from deepgbn_text.baselines import TomotopyHLDA, TomotopyPAM

    with pytest.raises(UserInputError):
        TomotopyHLDA(depth=1)
    with pytest.raises(UserInputError):
        TomotopyPAM(n_sub=0)
    with pytest.raises(UserInputError):
        TomotopyPAM(n_sub=100, n_super=2).fit(tiny[0])
    assert TomotopyPAM.from_widths([10]).n_super == 5
