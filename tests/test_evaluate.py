"""Known-value tests of the evaluators: NPMI, gensim agreement, TD, labels, hierarchy, the report."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from deepgbn_text.errors import UserInputError
from deepgbn_text.evaluate import (DocumentCooccurrence, classification_accuracy, clustering_scores, evaluate_model,
                                   gensim_coherence, npmi_coherence, npmi_per_topic, parent_child_npmi, purity,
                                   reference_texts, sibling_diversity, top_word_ids, topic_diversity, topic_quality,
                                   tree_edges, word_set_diversity)

VOCAB = ["a", "b", "c", "d", "e", "f"]
# d1 {a,b,c}, d2 {a,b}, d3 {b,c,d}, d4 {a,c,d,e}; counts > 1 must not matter (documents are binarised)
REFERENCE = sp.csr_matrix(np.array([
    [2, 1, 1, 0, 0, 0],
    [1, 3, 0, 0, 0, 0],
    [0, 1, 1, 4, 0, 0],
    [1, 0, 2, 1, 1, 0],
]))
X = math.log(8 / 9) / math.log(2)      # a-b, a-c, b-c: P = 3/4, 3/4, joint 2/4
Y = math.log(2 / 3) / math.log(4)      # a-d, b-d: P = 3/4, 2/4, joint 1/4
Z = math.log(4 / 3) / math.log(2)      # c-d: P = 3/4, 2/4, joint 2/4
W = math.log(4 / 3) / math.log(4)      # a-e, c-e: P = 3/4, 1/4, joint 1/4
DE = 0.5                               # d-e: P = 2/4, 1/4, joint 1/4


def one_hot_topics(rows: list[list[int]], n_words: int = 6) -> np.ndarray:
    """Topic-word rows whose ranking is the given word ids (first = most probable)."""
    tw = np.full((len(rows), n_words), 0.01)
    for k, ids in enumerate(rows):
        for rank, j in enumerate(ids):
            tw[k, j] = 1.0 - 0.1 * rank
    return tw / tw.sum(1, keepdims=True)


def test_npmi_matches_hand_computed_values():
    cooc = DocumentCooccurrence(REFERENCE)
    assert cooc.n_docs == 4 and cooc.doc_freq.tolist() == [3, 3, 3, 2, 1, 0]
    m = cooc.npmi([0, 1, 2, 3, 4], [0, 1, 2, 3, 4])
    assert m[0, 1] == pytest.approx(X) and m[1, 2] == pytest.approx(X)
    assert m[0, 3] == pytest.approx(Y) and m[2, 3] == pytest.approx(Z)
    assert m[0, 4] == pytest.approx(W) and m[3, 4] == pytest.approx(DE)
    assert m[1, 4] == -1.0  # b and e never share a document
    assert np.allclose(m, m.T)
    # topic (a, b, e): mean over its three pairs
    topic = one_hot_topics([[0, 1, 4], [2, 3, 5]])
    per_topic = npmi_per_topic(topic, REFERENCE, top_n=3)
    assert per_topic[0] == pytest.approx((X + W - 1.0) / 3, abs=1e-12)
    # topic (c, d, f): f occurs nowhere -> its pairs are -1
    assert per_topic[1] == pytest.approx((Z - 1.0 - 1.0) / 3, abs=1e-12)
    assert npmi_coherence(topic, REFERENCE, top_n=3) == pytest.approx(per_topic.mean())


def test_npmi_is_one_for_words_in_every_document():
    ref = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [2, 1, 0]]))
    assert DocumentCooccurrence(ref).npmi([0], [1])[0, 0] == 1.0
    # empty reference documents are not counted
    padded = sp.vstack([ref, sp.csr_matrix((2, 3), dtype=np.int64)]).tocsr()
    assert DocumentCooccurrence(padded).n_docs == 3
    with pytest.raises(UserInputError):
        DocumentCooccurrence(sp.csr_matrix((3, 3)))


def test_npmi_agrees_with_gensim_c_npmi():
    rng = np.random.default_rng(3)
    n_words = 8
    vocab = [f"w{j}" for j in range(n_words)]
    while True:  # a reference where every pair co-occurs somewhere but no pair is in every document
        counts = sp.csr_matrix(rng.binomial(1, 0.6, size=(25, n_words)) * rng.integers(1, 4, size=(25, n_words)))
        incidence = (counts.toarray() > 0).astype(int)
        joint = incidence.T @ incidence
        if joint.min() > 0 and joint.max() < 25 and incidence.sum(1).min() > 0:
            break
    topic_word = rng.random((5, n_words))
    ours = npmi_per_topic(topic_word, counts, top_n=6)
    texts = reference_texts(counts, vocab)
    topics = [[vocab[j] for j in row] for row in top_word_ids(topic_word, 6)]
    # a window longer than every document makes gensim's sliding window the whole document
    theirs = gensim_coherence(topics, texts, vocab, "c_npmi", window_size=n_words + 1)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_gensim_measures_return_one_value_per_topic():
    texts = reference_texts(REFERENCE, VOCAB)
    assert sorted(texts[0]) == ["a", "b", "c"] and len(texts) == 4
    for measure in ("c_v", "u_mass"):
        values = gensim_coherence([["a", "b", "c"], ["c", "d", "e"]], texts, VOCAB, measure)
        assert values.shape == (2,)
        assert np.all(np.isfinite(values))


def test_topic_diversity_and_quality_exact():
    tw = np.zeros((2, 30))
    tw[0, :25] = np.linspace(1, 0.5, 25)
    tw[1, 5:30] = np.linspace(1, 0.5, 25)
    assert topic_diversity(tw) == pytest.approx(30 / 50)
    assert topic_diversity(tw, top_n=5) == 1.0
    assert topic_diversity(np.vstack([tw[0], tw[0]])) == 0.5
    assert word_set_diversity([["x", "y"], ["y", "z"]]) == 0.75
    assert topic_quality(0.2, 0.6) == pytest.approx(0.12)
    assert topic_quality(None, 0.6) is None


def test_purity_and_nmi_on_toy_labels():
    labels = ["a", "a", "b", "b", "c", "c"]
    theta = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9], [0.2, 0.8]])
    scores = clustering_scores(theta, labels)
    assert scores["purity"] == pytest.approx(4 / 6)
    assert scores["nmi"] == pytest.approx((4 / 3) * math.log(2) / math.log(6))
    assert purity(["x", "y", "x"], [5, 7, 5]) == 1.0
    perfect = clustering_scores(np.eye(3)[[2, 2, 0, 0, 1, 1]], labels)
    assert perfect == {"purity": 1.0, "nmi": pytest.approx(1.0)}
    with pytest.raises(UserInputError):
        clustering_scores(theta, labels[:3])


def test_classifier_accuracy_on_separable_topics():
    rng = np.random.default_rng(0)
    y = np.repeat(["sport", "tech"], 20)
    theta = np.where(y[:, None] == "sport", [5.0, 1.0], [1.0, 5.0]) * rng.uniform(0.8, 1.2, size=(40, 2))
    assert classification_accuracy(theta[::2], y[::2], theta[1::2], y[1::2]) == 1.0


# parents (layer 2): p0 = (a, b), p1 = (c, d); children (layer 1): c0 = (a, c), c1 = (d, a), c2 = (d, e)
PARENTS = one_hot_topics([[0, 1], [2, 3]])
CHILDREN_TW = one_hot_topics([[0, 2], [3, 0], [3, 4]])
EDGES = np.array([[0.7, 0.3, 0.0], [0.0, 0.02, 0.98]])


def test_tree_edges_threshold():
    assert tree_edges(EDGES, 0.05) == [(0, 0, 0.7), (0, 1, 0.3), (1, 2, 0.98)]
    assert len(tree_edges(EDGES, 0.01)) == 4


def test_parent_child_npmi_on_a_hand_built_tree():
    e00 = (X + X + X) / 3             # (a,c) (b,a) (b,c); the shared a-a pair is left out
    e01 = (Y + Y + X) / 3             # (a,d) (b,d) (b,a)
    e12 = (Z + W + DE) / 3            # (c,d) (c,e) (d,e)
    value = parent_child_npmi(PARENTS, CHILDREN_TW, EDGES, REFERENCE, top_n=2)
    assert value == pytest.approx((e00 + e01 + e12) / 3, abs=1e-12)
    weighted = parent_child_npmi(PARENTS, CHILDREN_TW, EDGES, REFERENCE, top_n=2, weighted=True)
    assert weighted == pytest.approx((0.7 * e00 + 0.3 * e01 + 0.98 * e12) / 1.98, abs=1e-12)
    assert parent_child_npmi(PARENTS, CHILDREN_TW, EDGES * 0, REFERENCE, top_n=2) is None


def test_sibling_diversity_on_a_hand_built_tree():
    # p0's children c0 = (a, c), c1 = (d, a): 3 unique / 4; p1 has one child above 0.05 -> not counted
    assert sibling_diversity(CHILDREN_TW, EDGES, top_n=2) == pytest.approx(0.75)
    # with a lower threshold p1 has c1 = (d, a) and c2 = (d, e): 3 / 4 as well; p0 still 0.75
    assert sibling_diversity(CHILDREN_TW, EDGES, top_n=2, min_edge=0.01) == pytest.approx(0.75)
    assert sibling_diversity(CHILDREN_TW, np.eye(2, 3), top_n=2) is None


class UniformTwoLayer:
    """A fake two-layer model whose every word distribution is uniform: perplexity must be V."""

    vocab_ = VOCAB
    topics_ = [2, 1]

    def topic_word(self, layer: int = 1) -> np.ndarray:
        return PARENTS[:1] if layer == 2 else PARENTS

    def topic_children(self, layer: int) -> np.ndarray:
        return np.array([[0.5, 0.5]])

    def word_distribution(self, observed, layer: int = 1) -> np.ndarray:
        return np.full((observed.shape[0], len(VOCAB)), 1 / len(VOCAB))

    def transform_layers(self, X):
        n = X.shape[0]
        return [np.tile([0.9, 0.1], (n, 1)), np.ones((n, 1))]


def test_report_on_a_uniform_model():
    test = sp.csr_matrix(np.array([[3, 2, 0, 1, 4, 0], [0, 0, 0, 0, 0, 0], [1, 1, 5, 5, 0, 1]]))
    result = evaluate_model(UniformTwoLayer(), test, REFERENCE, test_labels=["x", "y", "x"], measures=("c_v",),
                            top_n=2, td_top_n=3)
    assert result["protocol"]["n_test_docs"] == 2  # the empty document is dropped (with its label)
    assert result["protocol"]["n_reference_docs"] == 4
    first, second = result["layers"]
    assert first["perplexity"] == pytest.approx(6.0) and second["perplexity"] == pytest.approx(6.0)
    assert first["npmi"] == pytest.approx(np.mean([X, Z]))  # topics (a, b) and (c, d)
    # top 3 (ties broken by word id): (a, b, c) and (c, d, a): 4 unique of 6
    assert first["td"] == pytest.approx(4 / 6) and first["tq"] == pytest.approx(first["npmi"] * first["td"])
    assert first["parent_child_npmi"] is None and first["sibling_diversity"] is None
    # layer 2: parent (a, b) -> children (a, b) [pairs a-b, b-a] and (c, d) [a-c, a-d, b-c, b-d]
    assert second["parent_child_npmi"] == pytest.approx((X + (X + Y) / 2) / 2)
    assert second["sibling_diversity"] == pytest.approx(4 / 6)
    assert first["purity"] == 1.0 and "c_v" in first and "u_mass" not in first
    assert len(first["topics"]) == 2 and first["topics"][0]["words"][:2] == ["a", "b"]
    with pytest.raises(UserInputError):
        evaluate_model(UniformTwoLayer(), sp.csr_matrix((2, 6)), REFERENCE)


def test_completion_split_holds_out_a_fifth_of_each_document_whatever_the_block_size():
    from deepgbn_text.evaluate import completion_split

    counts = sp.random(300, 40, density=0.3, format="csr", random_state=1, data_rvs=lambda n: np.arange(1, n + 1) % 7 + 1)
    counts = counts.astype(np.int32)
    observed, heldout = completion_split(counts, seed=4)
    assert ((observed + heldout) != counts).nnz == 0
    lengths = np.asarray(counts.sum(1)).ravel()
    assert np.array_equal(np.asarray(heldout.sum(1)).ravel(), np.floor(0.2 * lengths))
    for block in (1, 50, 10**9):
        o, h = completion_split(counts, seed=4, block_tokens=block)
        assert (o != observed).nnz == 0 and (h != heldout).nnz == 0


def test_near_duplicates_by_jaccard_of_top_words():
    from deepgbn_text.evaluate import near_duplicate_share, near_duplicates

    tw = np.zeros((3, 30))
    tw[0, :10] = np.arange(10, 0, -1)
    tw[1, :10] = np.arange(1, 11)
    tw[1, 9], tw[1, 12] = 0.0, 20.0  # 9 shared words of an 11-word union: Jaccard 9/11 > 0.5
    tw[2, 15:25] = 1.0
    assert near_duplicates(tw).tolist() == [True, True, False]
    assert near_duplicate_share(tw) == pytest.approx(2 / 3)
    tw[1, :4] = 0.0
    tw[1, 20:24] = 5.0  # now 5 shared of 15 (0.33) with topic 0, 4 of 16 with topic 2
    assert near_duplicates(tw).tolist() == [False, False, False]


def test_dead_topics_below_a_tenth_of_uniform():
    from deepgbn_text.evaluate import dead_topics

    assert dead_topics([0.5, 0.47, 0.03]).tolist() == [False, False, True]  # threshold 0.1 / 3
    assert dead_topics([0.5, 0.5]).tolist() == [False, False]


def test_model_options_reach_the_deep_models_and_the_baselines():
    from deepgbn_text.evaluate.report import make_model

    options = {"ggbn": {"patience": 3, "layer_likelihood": 0.5}, "lda-sklearn": {"max_iter": 7}}
    ggbn = make_model("ggbn", [6, 3], model_options=options)
    assert (ggbn.patience, ggbn.layer_likelihood, ggbn.n_topics) == (3, 0.5, [6, 3])
    assert make_model("ggbn", [6, 3]).patience == 10  # the defaults without options
    assert make_model("lda-sklearn", [6], model_options=options).max_iter == 7
    with pytest.raises(UserInputError, match="patience"):
        make_model("ggbn", [6, 3], model_options={"ggbn": {"patience": 0}})
