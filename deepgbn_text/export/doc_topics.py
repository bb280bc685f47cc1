"""Document-topic tables (``ggbn-topics transform``): theta of every layer and the dominant topic path.

Dominant path: the top layer's argmax, then, one layer down at a time, the child (a tree edge of the
current topic) that the document itself uses most; a topic with no children in the tree falls back
to that layer's argmax. Theta is written as proportions (each layer's row sums to 1) unless ``raw``.
"""
from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..storage.atomic import atomic_path
from ..errors import UserInputError
from ..tree import Tree, topic_id
from .common import safe_row

OUTPUT_SUFFIXES = (".csv", ".jsonl", ".parquet")


def proportions(theta: np.ndarray) -> np.ndarray:
    total = theta.sum(1, keepdims=True)
    return np.divide(theta, total, out=np.zeros_like(theta, dtype=np.float64), where=total > 0)


def dominant_paths(thetas: list[np.ndarray], tree: Tree) -> list[list[str]]:
    """Per document, the topic ids from the top layer down to layer 1 (see the module docstring)."""
    n_layers = len(thetas)
    kids: dict[str, list[int]] = {}
    for e in sorted(tree.edges, key=lambda e: -e.weight):  # strongest edge first breaks ties
        kids.setdefault(e.parent, []).append(int(e.child.split("-")[1]))
    paths = []
    for d in range(thetas[0].shape[0]):
        index = int(np.argmax(thetas[-1][d]))
        path = [topic_id(n_layers, index)]
        for layer in range(n_layers - 1, 0, -1):
            row = thetas[layer - 1][d]
            options = kids.get(path[-1])
            index = max(options, key=lambda k: row[k]) if options else int(np.argmax(row))
            path.append(topic_id(layer, index))
        paths.append(path)
    return paths


def _top_k(row: np.ndarray, layer: int, k: int) -> list[tuple[str, float]]:
    order = np.argsort(-row, kind="stable")[:k]
    return [(topic_id(layer, int(i)), float(row[i])) for i in order]


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def doc_topic_records(ids: list[str], thetas: list[np.ndarray], tree: Tree, top_k: int | None = None,
                      raw: bool = False) -> tuple[list[str], list[dict[str, Any]], list[dict[str, Any]], list[list[str]]]:
    """(flat columns, flat rows for CSV/Parquet, nested records for JSONL, dominant paths)."""
    values = thetas if raw else [proportions(t) for t in thetas]
    paths = dominant_paths(thetas, tree)
    labels = {n.id: n.label for n in tree.nodes}
    columns = ["id", "path", "path_labels"]
    for layer, t in enumerate(values, start=1):
        columns += [f"L{layer}"] if top_k else [topic_id(layer, k) for k in range(t.shape[1])]
    flat, nested = [], []
    for d, doc_id in enumerate(ids):
        path = paths[d]
        row: dict[str, Any] = {"id": doc_id, "path": " > ".join(path),
                               "path_labels": " > ".join(labels.get(p, p) for p in path)}
        rec: dict[str, Any] = {"id": doc_id, "path": path, "path_labels": [labels.get(p, p) for p in path], "theta": {}}
        for layer, t in enumerate(values, start=1):
            if top_k:
                pairs = [(tid, _round(w)) for tid, w in _top_k(t[d], layer, top_k)]
                row[f"L{layer}"] = " ".join(f"{tid}:{w:.6g}" for tid, w in pairs)
                rec["theta"][f"L{layer}"] = [[tid, w] for tid, w in pairs]
            else:
                dense = [_round(x) for x in t[d]]
                row.update({topic_id(layer, k): x for k, x in enumerate(dense)})
                rec["theta"][f"L{layer}"] = dense
        flat.append(row)
        nested.append(rec)
    return columns, flat, nested, paths


def check_output(path: str | os.PathLike[str]) -> str:
    """The suffix of an output table path, after checking it can be written (.parquet needs pyarrow)."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise UserInputError(f"{path}: --out must end in .csv, .jsonl or .parquet")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise UserInputError("writing .parquet needs pyarrow (pip install pyarrow); use --out with .csv or .jsonl") from None
    return suffix


def write_doc_topics(path: str | os.PathLike[str], ids: list[str], thetas: list[np.ndarray], tree: Tree,
                     top_k: int | None = None, raw: bool = False) -> list[list[str]]:
    """Write a .csv, .jsonl or .parquet table (atomically); return the dominant paths."""
    suffix = check_output(path)
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
    if top_k is not None and top_k < 1:
        raise UserInputError(f"--top-k must be at least 1, got {top_k}")
    columns, flat, nested, paths = doc_topic_records(ids, thetas, tree, top_k, raw)
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(columns)
                writer.writerows(safe_row([row[c] for c in columns]) for row in flat)
        elif suffix == ".jsonl":
            with open(tmp, "w", encoding="utf-8") as fh:
                for rec in nested:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            table = pa.Table.from_pylist(flat) if flat else pa.table({c: pa.array([], pa.string()) for c in columns})
            pq.write_table(table, str(tmp))
    return paths


def read_doc_labels(path: str | os.PathLike[str], n_docs: int) -> list[str]:
    """One label per line, as many lines as documents."""
    p = Path(path)
    try:
        labels = [line.strip() for line in p.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise UserInputError(f"{p}: file not found") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{p}: not UTF-8 text") from None
    while labels and labels[-1] == "":
        labels.pop()
    if len(labels) != n_docs:
        raise UserInputError(f"{p}: has {len(labels)} labels but there are {n_docs} documents (one label per line)")
    return labels


def dominant_topics(theta: np.ndarray, layer: int = 1) -> list[str]:
    """The argmax topic id of each document in one layer."""
    return [topic_id(layer, int(k)) for k in np.argmax(theta, axis=1)]


def label_summary(topics: list[str], labels: list[str], tree: Tree, top: int = 3) -> dict[str, Any]:
    """Per topic (e.g. each document's layer-1 argmax): documents, the most common labels and purity."""
    groups: dict[str, Counter] = {}
    for tid, label in zip(topics, labels):
        groups.setdefault(tid, Counter())[label] += 1
    names = {n.id: n.label for n in tree.nodes}
    rows = []
    for tid, counts in sorted(groups.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        n = sum(counts.values())
        rows.append({"topic": tid, "label": names.get(tid, tid), "docs": n,
                     "top_labels": [(lab, c) for lab, c in counts.most_common(top)],
                     "purity": counts.most_common(1)[0][1] / n})
    total = sum(r["docs"] for r in rows)
    purity = sum(r["purity"] * r["docs"] for r in rows) / total if total else 0.0
    return {"topics": rows, "purity": purity, "n_docs": total}
