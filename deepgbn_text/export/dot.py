"""``dot``: a Graphviz digraph (parents above children), every label escaped."""
from __future__ import annotations

import html
import os

from ..storage.atomic import write_text
from ..tree import Tree


def dot_escape(text: str) -> str:
    """Text for inside a DOT double-quoted string that renders as the literal text.

    Graphviz decodes HTML entities in ordinary labels, so <, >, & and " become entities (no raw markup
    survives into the file); backslashes are doubled so they are not read as escapes such as \\n.
    """
    return html.escape(text, quote=True).replace("\\", "\\\\").replace("\n", " ").replace("\r", " ")


def dot_string(text: str) -> str:
    return f'"{dot_escape(text)}"'


def tree_dot(tree: Tree) -> str:
    lines = ["digraph topics {", "  rankdir=TB;", '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    palette = ["#dbeafe", "#dcfce7", "#fef3c7", "#fce7f3", "#ede9fe", "#e0f2fe"]
    for layer in range(tree.n_layers, 0, -1):
        nodes = tree.layer(layer)
        if not nodes:
            continue
        lines.append(f"  subgraph layer_{layer} {{ rank=same;")
        for n in nodes:
            label = f'"{dot_escape(n.label)}\\n{n.id} ({n.prevalence:.1%})"'
            tooltip = dot_string(", ".join(w for w, _ in n.words))
            lines.append(f'    {dot_string(n.id)} [label={label}, tooltip={tooltip}, '
                         f'fillcolor="{palette[(layer - 1) % len(palette)]}"];')
        lines.append("  }")
    for e in tree.edges:
        lines.append(f"  {dot_string(e.parent)} -> {dot_string(e.child)} "
                     f'[weight={max(1, round(e.weight * 10))}, penwidth={0.5 + 4 * e.weight:.2f}, label="{e.weight:.2f}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_dot(tree: Tree, path: str | os.PathLike[str]) -> None:
    write_text(path, tree_dot(tree))
