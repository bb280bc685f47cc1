"""``md``: an indented Markdown outline from the top layer down (or one layer's topics as a list)."""
from __future__ import annotations

import os

from ..storage.atomic import write_text
from ..tree import Tree
from .common import word_list


def tree_markdown(tree: Tree) -> str:
    layer = tree.meta.get("layer")
    if layer is None:
        return tree.to_markdown(tree.top_n)
    lines = [f"# Layer {layer} topics ({len(tree.nodes)})", ""]
    for node in tree.layer(layer):
        lines.append(f"- **{node.id}** {node.label} — {node.prevalence:.1%}: {word_list(node)}")
    return "\n".join(lines) + "\n"


def write_markdown(tree: Tree, path: str | os.PathLike[str]) -> None:
    write_text(path, tree_markdown(tree))
