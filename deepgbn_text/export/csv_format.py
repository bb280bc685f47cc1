"""``csv``: a node table (``<out>``) and an edge list (``<out stem>.edges.csv``), safe to open in a spreadsheet."""
from __future__ import annotations

import csv
import os
from pathlib import Path

from ..storage.atomic import atomic_path
from ..tree import Tree
from .common import safe_row

NODE_COLUMNS = ["id", "layer", "index", "label", "prevalence", "words", "weights"]
EDGE_COLUMNS = ["parent", "child", "weight", "parent_label", "child_label"]


def edges_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_name(f"{p.stem}.edges.csv")


def write_rows(path: str | os.PathLike[str], header: list[str], rows: list[list]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(safe_row(r) for r in rows)


def write_csv(tree: Tree, path: str | os.PathLike[str]) -> list[Path]:
    """Write the two tables; return their paths (nodes first). Words and weights are "; "-separated."""
    nodes = [
        [n.id, n.layer, n.index, n.label, f"{n.prevalence:.6g}", "; ".join(w for w, _ in n.words),
         "; ".join(f"{p:.6g}" for _, p in n.words)]
        for n in sorted(tree.nodes, key=lambda n: (-n.layer, n.index))
    ]
    by_id = {n.id: n for n in tree.nodes}
    edges = [[e.parent, e.child, f"{e.weight:.6g}", by_id[e.parent].label, by_id[e.child].label] for e in tree.edges]
    write_rows(path, NODE_COLUMNS, nodes)
    write_rows(edges_path(path), EDGE_COLUMNS, edges)
    return [Path(path), edges_path(path)]
