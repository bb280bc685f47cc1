"""TraCo's hierarchy metrics (PCC, PCD, SD, PnCD), specialisation and the per-layer extras of the report,
each against values worked out by hand on a two-layer tree over six words."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from deepgbn_text.evaluate import evaluate_model
from deepgbn_text.evaluate.hierarchy import (corpus_word_distribution, hierarchy_scores, hierarchy_summary,
                                             once_diversity, parent_child_coherence, parent_child_diversity,
                                             parent_nonchild_diversity, sibling_once_diversity, specialisation,
                                             traco_edges, tree_edges)

VOCAB = ["a", "b", "c", "d", "e", "f"]
# documents {a,b,c}, {a,b}, {b,c,d}, {a,c,d,e}
REFERENCE = sp.csr_matrix(np.array([
    [2, 1, 1, 0, 0, 0],
    [1, 3, 0, 0, 0, 0],
    [0, 1, 1, 4, 0, 0],
    [1, 0, 2, 1, 1, 0],
]))
X = math.log(8 / 9) / math.log(2)      # b-c: P = 3/4, 3/4, joint 2/4
Y = math.log(2 / 3) / math.log(4)      # b-d: P = 3/4, 2/4, joint 1/4
W = math.log(4 / 3) / math.log(4)      # c-e: P = 3/4, 1/4, joint 1/4


def ranked(rows: list[list[int]], n_words: int = 6) -> np.ndarray:
    """Topic-word rows whose ranking is the given word ids (first = most probable)."""
    tw = np.full((len(rows), n_words), 0.01)
    for k, ids in enumerate(rows):
        for rank, j in enumerate(ids):
            tw[k, j] = 1.0 - 0.1 * rank
    return tw / tw.sum(1, keepdims=True)


# layer 2: p0 = (a, b), p1 = (c, d); layer 1: c0 = (a, c), c1 = (d, a), c2 = (d, e)
PARENTS = ranked([[0, 1], [2, 3]])
CHILDREN = ranked([[0, 2], [3, 0], [3, 4]])
WEIGHTS = np.array([[0.7, 0.3, 0.0], [0.0, 0.02, 0.98]])
EDGES = tree_edges(WEIGHTS, 0.05)  # p0 -> c0, p0 -> c1, p1 -> c2


def test_pcc_pools_npmi_of_distinct_words_and_minus_one_for_shared_pairs():
    # p0-c0 shares a: (b, c) -> X and one shared pair -> -1; p0-c1 shares a: (b, d) -> Y, -1;
    # p1-c2 shares d: (c, e) -> W, -1
    expected = (X + Y + W - 3.0) / 6
    assert parent_child_coherence(PARENTS, CHILDREN, EDGES, REFERENCE, top_n=2) == pytest.approx(expected, abs=1e-12)
    # no shared word: parent (a, b) -> child (d, e): pairs a-d, a-e, b-d, b-e
    a_d = math.log(2 / 3) / math.log(4)
    a_e = W
    value = parent_child_coherence(ranked([[0, 1]]), ranked([[3, 4]]), [(0, 0, 1.0)], REFERENCE, top_n=2)
    assert value == pytest.approx((a_d + a_e + Y - 1.0) / 4, abs=1e-12)  # b and e never co-occur: -1
    assert parent_child_coherence(PARENTS, CHILDREN, [], REFERENCE, top_n=2) is None


def test_pcd_and_pncd_count_words_found_in_only_one_list():
    # every edge shares one of two words: 2 of the 4 words occur once
    assert parent_child_diversity(PARENTS, CHILDREN, EDGES, top_n=2) == pytest.approx(0.5)
    # non-children: p0 vs c2 (a,b | d,e) shares nothing: 1; p1 vs c0 (c,d | a,c): 0.5; p1 vs c1 (c,d | d,a): 0.5
    assert parent_nonchild_diversity(PARENTS, CHILDREN, EDGES, top_n=2) == pytest.approx(2 / 3)
    assert parent_child_diversity(PARENTS, CHILDREN, [], top_n=2) is None
    assert parent_nonchild_diversity(PARENTS, CHILDREN, [], top_n=2) is None


def test_sd_counts_words_in_exactly_one_sibling():
    assert once_diversity(np.array([[1, 2], [2, 3]])) == 0.5
    # p0's children (a, c) and (d, a): c and d occur once: 2 / 4; p1's lone child (d, e): 1
    assert sibling_once_diversity(CHILDREN, EDGES, top_n=2) == pytest.approx(0.75)


def test_traco_edge_rule_takes_round_kc_over_kp_children():
    # round(3 / 2) = 2 heaviest children per parent, whatever their weight
    assert traco_edges(WEIGHTS) == [(0, 0, 0.7), (0, 1, 0.3), (1, 2, 0.98), (1, 1, 0.02)]
    assert [c for _, c, _ in traco_edges(np.ones((4, 2)))] == [0, 0, 0, 0]  # at least one child each
    scores = hierarchy_scores(PARENTS, CHILDREN, WEIGHTS, REFERENCE, top_n=2, min_edge=None)
    # p1's children are now c2 (d, e) and c1 (d, a): d shared -> 2 / 4, so SD = 0.5
    assert scores["sd"] == pytest.approx(0.5) and scores["pcd"] == pytest.approx(0.5) and scores["n_edges"] == 4
    assert scores["pncd"] == pytest.approx((1.0 + 0.5) / 2)  # p0 vs c2, p1 vs c0


def test_hierarchy_scores_and_the_tree_summary():
    scores = hierarchy_scores(PARENTS, CHILDREN, WEIGHTS, REFERENCE, top_n=2, min_edge=0.05)
    assert scores == {"pcc": pytest.approx((X + Y + W - 3.0) / 6), "pcd": pytest.approx(0.5),
                      "sd": pytest.approx(0.75), "pncd": pytest.approx(2 / 3), "n_edges": 3}
    summary = hierarchy_summary([scores], PARENTS, top_n=2)
    # SD also averages in the top layer as one sibling group: (a, b), (c, d) share nothing -> 1
    assert summary["sd"] == pytest.approx((0.75 + 1.0) / 2)
    assert summary["pcd"] == pytest.approx(0.5) and summary["pncd"] == pytest.approx(2 / 3)
    assert hierarchy_summary([]) == {"pcc": None, "pcd": None, "pncd": None, "sd": None}


def test_specialisation_is_mean_cosine_distance_from_the_corpus():
    corpus = corpus_word_distribution(sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 0, 0]])))
    assert corpus.tolist() == [0.5, 0.5, 0.0, 0.0]
    topics = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    assert specialisation(topics, corpus) == pytest.approx((1 - 1 / math.sqrt(2) + 1.0 + 0.0) / 3)


class TwoLayerTree:
    """A fake model over the hand tree above: uniform predictions; perplexity only for layer 1."""

    vocab_ = VOCAB
    topics_ = [3, 2]
    perplexity_layers = (1,)

    def __init__(self, prevalence=None):
        if prevalence is not None:
            self.topic_prevalence_ = prevalence

    def topic_word(self, layer: int = 1) -> np.ndarray:
        return PARENTS if layer == 2 else CHILDREN

    def topic_children(self, layer: int) -> np.ndarray:
        return WEIGHTS

    def word_distribution(self, observed, layer: int = 1) -> np.ndarray:
        assert layer == 1
        return np.full((observed.shape[0], len(VOCAB)), 1 / len(VOCAB))

    def transform_layers(self, X):
        n = X.shape[0]
        return [np.tile([0.5, 0.49, 0.01], (n, 1)), np.tile([3.0, 1.0], (n, 1))]


def test_report_carries_the_new_columns():
    test = sp.csr_matrix(np.array([[3, 2, 0, 1, 4, 0], [1, 1, 5, 5, 0, 1]]))
    result = evaluate_model(TwoLayerTree(), test, REFERENCE, measures=(), top_n=2, hierarchy_top_n=2)
    first, second = result["layers"]
    assert first["perplexity"] == pytest.approx(6.0) and second["perplexity"] is None
    assert result["protocol"]["perplexity_layers"] == [1]
    # prevalence from transform: layer 1 shares 0.5, 0.49, 0.01 -> the last is below 0.1 / 3
    assert result["protocol"]["prevalence"].startswith("mean theta share")
    assert first["dead_topic_share"] == pytest.approx(1 / 3) and second["dead_topic_share"] == 0.0
    assert first["near_duplicate_share"] == 0.0  # top-2 sets {a,c}, {a,d}, {d,e}: Jaccard 1/3
    corpus = corpus_word_distribution(REFERENCE)
    assert first["specialisation"] == pytest.approx(specialisation(CHILDREN, corpus))
    assert first["pcc"] is None and first["n_edges"] is None
    assert second["pcc"] == pytest.approx((X + Y + W - 3.0) / 6) and second["sd"] == pytest.approx(0.75)
    assert second["pcd"] == pytest.approx(0.5) and second["pncd"] == pytest.approx(2 / 3) and second["n_edges"] == 3
    assert result["hierarchy"]["sd"] == pytest.approx(0.875)
    given = evaluate_model(TwoLayerTree([[0.4, 0.4, 0.2], [0.99, 0.01]]), test, REFERENCE, measures=(), top_n=2)
    assert given["protocol"]["prevalence"].startswith("topic_prevalence_")
    assert given["layers"][0]["dead_topic_share"] == 0.0 and given["layers"][1]["dead_topic_share"] == 0.5
