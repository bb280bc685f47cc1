"""Topic health: collapsed layers (near-duplicate topics) and dead topics, on constructed trees and models."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from deepgbn_text.evaluate.diagnostics import collapse_messages, layer_health, suggested_widths
from deepgbn_text.tree import TopicNode, Tree

V = 200


def distinct_rows(k: int, offset: int = 0) -> np.ndarray:
    """k topics, each on its own 10 words."""
    rows = np.full((k, V), 1e-4)
    for i in range(k):
        rows[i, offset + 10 * i: offset + 10 * i + 10] = 1.0
    return rows / rows.sum(1, keepdims=True)


def collapsed_rows(k: int, same: int) -> np.ndarray:
    """k topics of which ``same`` share one set of 10 words (the others distinct)."""
    rows = distinct_rows(k, offset=10)
    rows[:same] = 1e-4
    rows[:same, :10] = 1.0
    rows[:same, 10:12] += np.linspace(0, 0.5, same)[:, None]  # not identical rows, same top 10
    return rows / rows.sum(1, keepdims=True)


def stub_model(layers: list[np.ndarray], prevalence: list[list[float]]) -> SimpleNamespace:
    return SimpleNamespace(topics_=[len(t) for t in layers], topic_prevalence_=prevalence,
                           topic_word=lambda layer: layers[layer - 1])


def tree_of(layers: list[np.ndarray], prevalence: list[list[float]]) -> Tree:
    nodes = []
    for layer, rows in enumerate(layers, start=1):
        for index, row in enumerate(rows):
            top = np.argsort(-row, kind="stable")[:10]
            nodes.append(TopicNode(layer, index, [(f"w{v}", float(row[v])) for v in top], prevalence[layer - 1][index]))
    return Tree(len(layers), nodes, [], {"topics": [len(t) for t in layers]})


LAYERS = [distinct_rows(16), collapsed_rows(8, same=6), distinct_rows(4)]
PREVALENCE = [[1 / 16] * 16, [0.3, 0.3, 0.2, 0.1, 0.05, 0.04, 0.005, 0.005], [0.25] * 4]


def test_a_collapsed_layer_is_reported_with_its_count_and_a_distinct_one_is_not():
    for source in (stub_model(LAYERS, PREVALENCE), tree_of(LAYERS, PREVALENCE)):
        health = layer_health(source)
        assert [(h.layer, h.topics, h.near_duplicates) for h in health] == [(1, 16, 0), (2, 8, 6), (3, 4, 0)]
        assert [h.dead for h in health] == [0, 2, 0]  # below 1 / (10 * 8)
        assert [h.collapsed for h in health] == [False, True, False]
        messages = collapse_messages(source)
        assert len(messages) == 1 and messages[0].startswith("layer 2: 6 of 8 topics (75%) are near-duplicates")
        assert "--topics 16,3,2" in messages[0] and "--layers 1 --topics 16" in messages[0]


def test_layer_one_and_a_tenth_of_duplicates_are_not_a_collapse():
    layers = [collapsed_rows(8, same=8), distinct_rows(10)]
    layers[1][1] = layers[1][0]  # 2 of 20 would be 10%: not more than a tenth
    layers[1] = np.vstack([layers[1], distinct_rows(10, offset=100)])
    health = layer_health(stub_model(layers, [[0.125] * 8, [0.05] * 20]))
    assert [h.near_duplicates for h in health] == [8, 2] and not any(h.collapsed for h in health)
    assert collapse_messages(stub_model(layers, [[0.125] * 8, [0.05] * 20])) == []


def test_suggested_widths_cut_collapsed_layers_and_narrow_the_ones_above():
    health = layer_health(stub_model([distinct_rows(16), collapsed_rows(8, same=8), distinct_rows(6)],
                                     [[1 / 16] * 16, [1 / 8] * 8, [1 / 6] * 6]))
    assert suggested_widths(health) == [16, 2, 2]
    message = collapse_messages(stub_model([distinct_rows(4), collapsed_rows(2, same=2)], [[0.25] * 4, [0.5] * 2]))
    assert message == ["layer 2: 2 of 2 topics (100%) are near-duplicates of another topic of the layer; "
                       "try fewer layers (--layers 1 --topics 4)"]
