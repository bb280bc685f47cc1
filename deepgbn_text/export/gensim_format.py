"""``gensim``: one layer's topics as lists of top words (``CoherenceModel(topics=...)`` input) in JSON."""
from __future__ import annotations

import os

from ..storage.atomic import write_json
from ..tree import Tree


def gensim_topics(tree: Tree, layer: int = 1) -> list[list[str]]:
    """Topics of ``layer`` in index order (topic i of the model is item i)."""
    nodes = sorted((n for n in tree.nodes if n.layer == layer), key=lambda n: n.index)
    return [[w for w, _ in n.words] for n in nodes]


def write_gensim(tree: Tree, path: str | os.PathLike[str], layer: int = 1) -> None:
    write_json(path, gensim_topics(tree, layer))
