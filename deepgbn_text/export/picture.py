"""``png`` / ``svg``: a picture of the tree with matplotlib: layers as rows (top layer at the top), nodes labelled
by their label (top 3 words by default), parent -> child edges as lines whose width follows the edge weight.

Large trees are cut down: the ``per_layer`` most prevalent top-layer topics, then in each lower layer the
children with the strongest ``parent prevalence x edge weight`` from the topics already shown.
"""
from __future__ import annotations

import os
import textwrap
import warnings
from pathlib import Path

from ..storage.atomic import atomic_path
from ..errors import UserInputError
from ..tree import TopicNode, Tree
from .common import xml_text

PER_LAYER = 10
COLORS = ["#60a5fa", "#34d399", "#f59e0b", "#f472b6", "#a78bfa", "#22d3ee"]


def select_nodes(tree: Tree, per_layer: int = PER_LAYER) -> dict[int, list[TopicNode]]:
    """Topics to draw, per layer (top first); everything when no layer has more than ``per_layer`` topics."""
    layers = sorted({n.layer for n in tree.nodes}, reverse=True)
    if all(len(tree.layer(l)) <= per_layer for l in layers):
        return {l: tree.layer(l) for l in layers}
    by_id = {n.id: n for n in tree.nodes}
    chosen: dict[int, list[TopicNode]] = {}
    above: dict[str, TopicNode] = {}
    for l in layers:
        score: dict[str, float] = {}
        for e in tree.edges:
            if e.parent in above and e.child in by_id and by_id[e.child].layer == l:
                score[e.child] = max(score.get(e.child, 0.0), above[e.parent].prevalence * e.weight)
        ranked = sorted(score, key=lambda c: (-score[c], c))
        chosen[l] = [by_id[c] for c in ranked[:per_layer]] or tree.layer(l)[:per_layer]
        above = {n.id: n for n in chosen[l]}
    return chosen


def _layout(tree: Tree, chosen: dict[int, list[TopicNode]]) -> dict[str, tuple[float, float]]:
    """x in (0, 1) per row, children ordered under their parents' weighted mean x; y = layer."""
    pos: dict[str, tuple[float, float]] = {}
    for l in sorted(chosen, reverse=True):
        nodes = chosen[l]
        pull = {n.id: [0.0, 0.0] for n in nodes}
        for e in tree.edges:
            if e.parent in pos and e.child in pull:
                pull[e.child][0] += e.weight * pos[e.parent][0]
                pull[e.child][1] += e.weight

        def key(i: int) -> tuple[float, int]:
            total, weight = pull[nodes[i].id]
            return (total / weight if weight else 2.0, i)

        for rank, i in enumerate(sorted(range(len(nodes)), key=key)):
            pos[nodes[i].id] = ((rank + 0.5) / len(nodes), float(l))
    return pos


def write_picture(tree: Tree, path: str | os.PathLike[str], fmt: str | None = None, per_layer: int = PER_LAYER) -> None:
    """Draw the tree into a .png or .svg file (``fmt`` defaults to the file's suffix)."""
    fmt = (fmt or Path(path).suffix.lstrip(".") or "png").lower()
    if fmt not in ("png", "svg"):
        raise UserInputError(f"picture format must be png or svg, got {fmt!r}")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UserInputError("png/svg export needs matplotlib (pip install matplotlib); "
                             "use --format html or dot instead") from None
    chosen = select_nodes(tree, per_layer)
    shown = sum(len(v) for v in chosen.values())
    pos = _layout(tree, chosen)
    widest = max((len(v) for v in chosen.values()), default=1)
    rows = max(len(chosen), 1)
    fig = Figure(figsize=(min(max(8.0, 1.6 * widest + 1.2), 32.0), 1.5 * rows + 0.9), dpi=110)
    ax = fig.add_axes((0.06, 0.02, 0.93, 1 - 0.75 / (1.5 * rows + 0.9)))
    ax.set_axis_off()
    layers = sorted(chosen)
    ax.set_xlim(0, 1)
    ax.set_ylim(min(layers, default=1) - 0.45, max(layers, default=1) + 0.45)
    for e in tree.edges:
        if e.parent in pos and e.child in pos:
            (x0, y0), (x1, y1) = pos[e.parent], pos[e.child]
            ax.plot([x0, x1], [y0, y1], color="#64748b", linewidth=0.4 + 4 * e.weight,
                    alpha=min(0.85, 0.25 + e.weight), solid_capstyle="round", zorder=1)
    for l in layers:
        ax.text(-0.005, l, f"layer {l}", transform=ax.get_yaxis_transform(), ha="right", va="center",
                fontsize=9, color="#475569", parse_math=False)
        for n in chosen[l]:
            x, y = pos[n.id]
            text = "\n".join(textwrap.wrap(xml_text(n.label), 16, max_lines=2, placeholder="…") or [n.id])
            ax.text(x, y, f"{text}\n{n.id} · {n.prevalence:.1%}", ha="center", va="center", fontsize=7.5,
                    parse_math=False, zorder=2, linespacing=1.25,
                    bbox={"boxstyle": "round,pad=0.35", "facecolor": "white",
                          "edgecolor": COLORS[(l - 1) % len(COLORS)], "linewidth": 1.6})
    total = len(tree.nodes)
    note = f" — showing {shown} of {total} topics (top layer and strongest descendants)" if shown < total else ""
    fig.suptitle(f"{tree.n_layers}-layer topic tree{note}", fontsize=11, x=0.01, y=0.99, ha="left", va="top")
    with warnings.catch_warnings(), atomic_path(path) as tmp:
        warnings.simplefilter("ignore")  # missing glyphs for rare characters are not worth a warning
        fig.savefig(tmp, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
