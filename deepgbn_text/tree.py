"""Tree: every layer's topics as word distributions, and parent -> child edges between layers.

Exporters read only this object, so a tree loaded from ``topics.json`` exports like a fresh one.
Layers are numbered 1 (closest to the words) to L (the top); topic ids read ``L<layer>-<index>``.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import UserInputError

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).parent / "export" / "topics.schema.json"
"""The JSON Schema of :meth:`Tree.to_dict` (topics.json), shipped with the exporters."""
LABEL_WORDS = 3


def topic_id(layer: int, index: int) -> str:
    return f"L{layer}-{index}"


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that topics.json and ``--format json`` files follow."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


class HierarchicalModel(Protocol):
    """What :meth:`Tree.from_model` reads of a fitted model (GeneralizedGBN has it); the tree never imports
    the estimator, the estimator builds the tree."""

    topics_: Sequence[int]
    topic_prevalence_: Sequence[Sequence[float]]
    link: str

    def topics(self, layer: int = 1, top_n: int = 10) -> list[list[tuple[str, float]]]: ...

    def topic_children(self, layer: int) -> np.ndarray: ...


@dataclass
class TopicNode:
    """One topic: its layer, index, top words with probabilities and prevalence (mean share per document)."""

    layer: int
    index: int
    words: list[tuple[str, float]]
    prevalence: float
    name: str | None = None  # a custom label (``--labels labels.json``); None: the top words

    @property
    def id(self) -> str:
        return topic_id(self.layer, self.index)

    @property
    def default_label(self) -> str:
        return " ".join(w for w, _ in self.words[:LABEL_WORDS])

    @property
    def label(self) -> str:
        return self.name if self.name else self.default_label


@dataclass
class TopicEdge:
    """Parent (layer l + 1) -> child (layer l) with the share of the parent's mass going to the child."""

    parent: str
    child: str
    weight: float


@dataclass
class Tree:
    n_layers: int
    nodes: list[TopicNode]
    edges: list[TopicEdge]
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_model(cls, model: HierarchicalModel, top_n: int = 10, min_edge: float = 0.05) -> Tree:
        """Topics of every layer and, per parent, its children whose weight is at least ``min_edge``."""
        n_layers = len(model.topics_)
        nodes: list[TopicNode] = []
        edges: list[TopicEdge] = []
        for layer in range(1, n_layers + 1):
            prevalence = model.topic_prevalence_[layer - 1]
            for index, words in enumerate(model.topics(layer, top_n)):
                nodes.append(TopicNode(layer, index, words, float(prevalence[index])))
            if layer > 1:
                for parent, weights in enumerate(model.topic_children(layer)):
                    keep = [c for c in np.argsort(-weights, kind="stable") if weights[c] >= min_edge]
                    edges.extend(
                        TopicEdge(topic_id(layer, parent), topic_id(layer - 1, int(c)), float(weights[c])) for c in keep
                    )
        meta = {"model": "GeneralizedGBN", "link": model.link, "topics": list(model.topics_), "min_edge": min_edge}
        return cls(n_layers, nodes, edges, meta)

    # -- navigation -----------------------------------------------------------------------------
    def node(self, node_id: str) -> TopicNode:
        return self._by_id()[node_id]

    def layer(self, layer: int) -> list[TopicNode]:
        """The topics of one layer, most prevalent first."""
        return sorted((n for n in self.nodes if n.layer == layer), key=lambda n: (-n.prevalence, n.index))

    def children(self, node_id: str) -> list[tuple[TopicNode, float]]:
        """(child, weight) pairs, strongest first."""
        by_id = self._by_id()
        found = [(by_id[e.child], e.weight) for e in self.edges if e.parent == node_id]
        return sorted(found, key=lambda cw: -cw[1])

    def outline_children(self) -> dict[str, list[tuple[TopicNode, float]]]:
        """Parent id -> (child, weight) pairs, strongest first, placing each child under one parent only: the
        one with the heaviest edge to it (ties: the edge listed first). Outlines use it; ``edges`` keep all."""
        heaviest: dict[str, TopicEdge] = {}
        for e in self.edges:
            if e.child not in heaviest or e.weight > heaviest[e.child].weight:
                heaviest[e.child] = e
        by_id = self._by_id()
        placed: dict[str, list[tuple[TopicNode, float]]] = {}
        for e in sorted(heaviest.values(), key=lambda e: -e.weight):
            placed.setdefault(e.parent, []).append((by_id[e.child], e.weight))
        return placed

    def dead_ids(self) -> set[str]:
        """Ids of the dead topics: prevalence below 1 / (10 K), K the width of their layer (``meta["topics"]``
        when known, so a tree already missing topics keeps its threshold)."""
        from .evaluate.diversity import DEAD_PREVALENCE_FACTOR, dead_topics

        widths = self.meta.get("topics") or []
        dead: set[str] = set()
        for layer in range(1, self.n_layers + 1):
            nodes = [n for n in self.nodes if n.layer == layer]
            width = widths[layer - 1] if len(widths) == self.n_layers else len(nodes)
            # dead_topics divides by len(prevalence); scale its factor so that the threshold is 1 / (10 width)
            factor = DEAD_PREVALENCE_FACTOR * len(nodes) / max(width, 1)
            mask = dead_topics(np.array([n.prevalence for n in nodes]), factor)
            dead.update(n.id for n, is_dead in zip(nodes, mask) if is_dead)
        return dead

    @property
    def hidden_note(self) -> str:
        """How many dead topics :meth:`without_dead` hid ("" when none)."""
        count = int(self.meta.get("dead_hidden", 0))
        if not count:
            return ""
        return f"{count} dead topic{'s' if count != 1 else ''} hidden (prevalence below 1/(10 K))"

    def _by_id(self) -> dict[str, TopicNode]:
        return {n.id: n for n in self.nodes}

    # -- derived trees (exporters' options) -----------------------------------------------------
    def with_labels(self, labels: dict[str, str]) -> Tree:
        """A copy whose topics named in ``labels`` ({"L3-0": "religion"}) carry those labels."""
        known = self._by_id()
        unknown = [key for key in labels if key not in known]
        if unknown:
            shown = ", ".join(repr(k) for k in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise UserInputError(f"unknown topic id(s) in the labels: {shown}; this tree's ids run "
                                 f"{self.nodes[0].id if self.nodes else '-'} .. {self.nodes[-1].id if self.nodes else '-'}")
        nodes = [replace(n, words=list(n.words), name=str(labels[n.id]) if n.id in labels else n.name) for n in self.nodes]
        return Tree(self.n_layers, nodes, list(self.edges), dict(self.meta))

    def trimmed(self, top_n: int | None = None, min_edge: float | None = None) -> Tree:
        """A copy with at most ``top_n`` words per topic and only edges of weight >= ``min_edge``."""
        nodes = [replace(n, words=list(n.words[:top_n] if top_n is not None else n.words)) for n in self.nodes]
        edges = [e for e in self.edges if min_edge is None or e.weight >= min_edge]
        meta = dict(self.meta)
        if min_edge is not None:
            meta["min_edge"] = max(min_edge, float(meta.get("min_edge", 0)))
        return Tree(self.n_layers, nodes, edges, meta)

    def restricted_to_layer(self, layer: int) -> Tree:
        """A copy holding only the topics of ``layer`` (and so no edges); ``meta["layer"]`` records it."""
        if not 1 <= layer <= self.n_layers:
            raise UserInputError(f"--layer must be between 1 and {self.n_layers}, got {layer}")
        nodes = [replace(n, words=list(n.words)) for n in self.nodes if n.layer == layer]
        return Tree(self.n_layers, nodes, [], {**self.meta, "layer": layer})

    def without_dead(self) -> Tree:
        """A copy without the dead topics (see :meth:`dead_ids`) and their edges; ``meta["dead_hidden"]``
        counts the topics hidden."""
        dead = self.dead_ids()
        nodes = [replace(n, words=list(n.words)) for n in self.nodes if n.id not in dead]
        edges = [e for e in self.edges if e.parent not in dead and e.child not in dead]
        meta = {**self.meta, "dead_hidden": int(self.meta.get("dead_hidden", 0)) + len(dead)}
        return Tree(self.n_layers, nodes, edges, meta)

    @property
    def top_n(self) -> int:
        """The most words any topic carries."""
        return max((len(n.words) for n in self.nodes), default=0)

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "n_layers": self.n_layers,
            "meta": self.meta,
            "topics": [
                {"id": n.id, "layer": n.layer, "index": n.index, "label": n.label, "prevalence": n.prevalence,
                 "words": [{"word": w, "weight": p} for w, p in n.words]}
                for n in self.nodes
            ],
            "edges": [asdict(e) for e in self.edges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tree:
        """The tree of :meth:`to_dict` output (topics.schema.json); ValueError saying what is wrong otherwise."""
        from .storage.schema_check import validate

        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"topics schema version {data.get('schema_version')!r} is not {SCHEMA_VERSION}")
        validate(data, schema())
        nodes = [
            TopicNode(t["layer"], t["index"], [(w["word"], w["weight"]) for w in t["words"]], t["prevalence"])
            for t in data["topics"]
        ]
        for node, t in zip(nodes, data["topics"]):  # a label that is not the top words is a custom one
            if t["label"] and t["label"] != node.default_label:
                node.name = t["label"]
        edges = [TopicEdge(e["parent"], e["child"], e["weight"]) for e in data["edges"]]
        tree = cls(data["n_layers"], nodes, edges, dict(data["meta"]))
        tree._check_links([t["id"] for t in data["topics"]])
        return tree

    def _check_links(self, ids: list[str]) -> None:
        """Ids match layer and index, are unique and within n_layers; edges join known topics of adjacent layers."""
        for node, given in zip(self.nodes, ids):
            if given != node.id or node.layer > self.n_layers:
                raise ValueError(f"topic {given!r} has layer {node.layer} and index {node.index} "
                                 f"(of {self.n_layers} layers)")
        by_id = self._by_id()
        if len(by_id) != len(self.nodes):
            raise ValueError("a topic id appears twice")
        for e in self.edges:
            if e.parent not in by_id or e.child not in by_id or by_id[e.parent].layer != by_id[e.child].layer + 1:
                raise ValueError(f"edge {e.parent} -> {e.child} does not join a topic to one in the layer below")

    def to_markdown(self, top_n: int = 10) -> str:
        """An indented outline from the top layer down: label, prevalence, top words; each topic appears once,
        under its heaviest parent (:meth:`outline_children`), and topics with no parent close the outline."""

        def line(node: TopicNode, depth: int, weight: float | None) -> str:
            edge = f" (edge {weight:.2f})" if weight is not None else ""
            words = ", ".join(w for w, _ in node.words[:top_n])
            return f"{'  ' * depth}- **{node.id}** {node.label} — {node.prevalence:.1%}{edge}: {words}"

        placed = self.outline_children()

        def walk(node: TopicNode, depth: int, weight: float | None) -> list[str]:
            out = [line(node, depth, weight)]
            for child, w in placed.get(node.id, []):
                out.extend(walk(child, depth + 1, w))
            return out

        lines = [f"# Topic tree ({self.n_layers} layers: {', '.join(str(k) for k in self.meta.get('topics', []))})", ""]
        for root in self.layer(self.n_layers):
            lines.extend(walk(root, 0, None))
        reached = {e.child for e in self.edges}
        for layer in range(self.n_layers - 1, 0, -1):
            orphans = [n for n in self.layer(layer) if n.id not in reached]
            if orphans:
                lines += ["", f"## Layer {layer} topics with no parent edge above {self.meta.get('min_edge', 0)}", ""]
                lines += [text for n in orphans for text in walk(n, 0, None)]
        if self.hidden_note:
            lines += ["", f"{self.hidden_note}."]
        return "\n".join(lines) + "\n"
