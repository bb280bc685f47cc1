"""``graphml``: nodes (topics) and directed edges (parent -> child) for networkx, Gephi, yEd or Cytoscape."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from ..storage.atomic import atomic_path
from ..tree import Tree
from .common import word_list, xml_text

NS = "http://graphml.graphdrawing.org/xmlns"
NODE_KEYS = [("label", "string"), ("layer", "int"), ("index", "int"), ("prevalence", "double"), ("words", "string")]
EDGE_KEYS = [("weight", "double")]


def write_graphml(tree: Tree, path: str | os.PathLike[str]) -> None:
    """Written with xml.etree, so every word is escaped as XML text (characters XML cannot hold become U+FFFD).
    Words are "; "-separated."""
    root = ET.Element("graphml", xmlns=NS)
    for name, kind in NODE_KEYS:
        ET.SubElement(root, "key", {"id": name, "for": "node", "attr.name": name, "attr.type": kind})
    for name, kind in EDGE_KEYS:
        ET.SubElement(root, "key", {"id": name, "for": "edge", "attr.name": name, "attr.type": kind})
    graph = ET.SubElement(root, "graph", id="topics", edgedefault="directed")
    for n in sorted(tree.nodes, key=lambda n: (-n.layer, n.index)):
        element = ET.SubElement(graph, "node", id=n.id)
        values = {"label": n.label, "layer": str(n.layer), "index": str(n.index), "prevalence": repr(float(n.prevalence)),
                  "words": word_list(n, sep="; ")}
        for key, value in values.items():
            ET.SubElement(element, "data", key=key).text = xml_text(value)
    for i, e in enumerate(tree.edges):
        element = ET.SubElement(graph, "edge", id=f"e{i}", source=e.parent, target=e.child)
        ET.SubElement(element, "data", key="weight").text = repr(float(e.weight))
    ET.indent(root)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
