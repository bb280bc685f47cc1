"""Topic health per layer: near-duplicate and dead topics, and what to try when an upper layer collapses.

A layer collapses when more than :data:`COLLAPSE_SHARE` of its topics are near-duplicates of another of
its topics (top-10 word sets with Jaccard > 0.5, :func:`deepgbn_text.evaluate.diversity.near_duplicates`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from .diversity import NEAR_DUPLICATE_TOP_N, dead_topics, near_duplicates
from ..tree import Tree

if TYPE_CHECKING:
    from ..estimator import GeneralizedGBN

COLLAPSE_SHARE = 0.1
"""A layer >= 2 collapses when more than this share of its topics are near-duplicates."""

Source = Union["GeneralizedGBN", Tree]


@dataclass
class LayerHealth:
    """Counts of one layer's topics: all of them, the near-duplicates and the dead ones."""

    layer: int
    topics: int
    near_duplicates: int
    dead: int

    @property
    def near_duplicate_share(self) -> float:
        return self.near_duplicates / self.topics if self.topics else 0.0

    @property
    def dead_share(self) -> float:
        return self.dead / self.topics if self.topics else 0.0

    @property
    def collapsed(self) -> bool:
        return self.layer >= 2 and self.near_duplicate_share > COLLAPSE_SHARE

    def to_dict(self) -> dict[str, Any]:
        """The counts and both shares, for metrics.json."""
        return {**asdict(self), "near_duplicate_share": self.near_duplicate_share, "dead_share": self.dead_share}


def layer_health(source: Source) -> list[LayerHealth]:
    """Health of every layer of a fitted model (full word distributions) or of a :class:`Tree` (its topics'
    top words and prevalences; a tree that hides topics is judged on those it shows)."""
    if isinstance(source, Tree):
        return [_tree_layer(source, layer) for layer in range(1, source.n_layers + 1)]
    return [
        LayerHealth(layer, width, int(near_duplicates(source.topic_word(layer)).sum()),
                    int(dead_topics(source.topic_prevalence_[layer - 1]).sum()))
        for layer, width in enumerate(source.topics_, start=1)
    ]


def _tree_layer(tree: Tree, layer: int) -> LayerHealth:
    nodes = [n for n in tree.nodes if n.layer == layer]
    columns: dict[str, int] = {}
    for node in nodes:
        for word, _ in node.words:
            columns.setdefault(word, len(columns))
    weights = np.zeros((len(nodes), max(len(columns), 1)))
    for row, node in enumerate(nodes):
        for word, weight in node.words:
            weights[row, columns[word]] = weight
    # a topic with fewer stored words than the top-n would be padded with arbitrary zero-weight words
    top_n = min([NEAR_DUPLICATE_TOP_N, *(len(n.words) for n in nodes)])
    duplicates = int(near_duplicates(weights, top_n).sum()) if nodes and top_n else 0
    dead = tree.dead_ids()
    return LayerHealth(layer, len(nodes), duplicates, sum(n.id in dead for n in nodes))


def suggested_widths(health: list[LayerHealth]) -> list[int]:
    """Widths with every collapsed layer cut to the topics it can hold apart (its distinct topics plus one
    for the near-duplicates together, at least 2) and each layer above a cut at most half the one below."""
    widths = [h.topics for h in health]
    cut = False
    for i, h in enumerate(health):
        if h.collapsed:
            widths[i] = min(widths[i], max(2, h.topics - h.near_duplicates + 1))
            cut = True
        if cut and i > 0:
            widths[i] = min(widths[i], max(2, widths[i - 1] // 2))
    return widths


def collapse_messages(source: Source) -> list[str]:
    """One line per collapsed layer (>= 2): its near-duplicate share and what to try, e.g.
    ``layer 2: 59 of 64 topics (92%) are near-duplicates of another topic of the layer; try fewer topics at
    that layer (--topics 128,6,3) or fewer layers (--layers 1 --topics 128)``."""
    health = layer_health(source)
    current = [h.topics for h in health]
    widths = suggested_widths(health)
    narrower = f"fewer topics at that layer (--topics {_join(widths)}) or " if widths != current else ""
    return [
        f"layer {h.layer}: {h.near_duplicates} of {h.topics} topics ({h.near_duplicate_share:.0%}) are "
        f"near-duplicates of another topic of the layer; try {narrower}"
        f"fewer layers (--layers {h.layer - 1} --topics {_join(current[:h.layer - 1])})"
        for h in health if h.collapsed
    ]


def _join(widths: list[int]) -> str:
    return ",".join(str(w) for w in widths)
