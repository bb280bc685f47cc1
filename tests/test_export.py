"""Exporters: the JSON schema on a real fit, the JSON round trip, and every format on hostile words."""
from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from deepgbn_text import Corpus, GeneralizedGBN
from deepgbn_text.errors import UserInputError
from deepgbn_text.export import FORMATS, export_tree, load_tree
from deepgbn_text.export.csv_format import edges_path
from deepgbn_text.export.doc_topics import dominant_paths, dominant_topics, label_summary, write_doc_topics
from deepgbn_text.export.gensim_format import gensim_topics
from deepgbn_text.export.json_format import schema
from deepgbn_text.export.picture import select_nodes
from deepgbn_text.export.pyldavis import pyldavis_inputs
from deepgbn_text.runs import write_run
from deepgbn_text.tree import TopicEdge, TopicNode, Tree

HOSTILE = ["<script>alert(1)</script>", "a&b", '"quote"', "=SUM(A1)", "back\\slash", "plain"]


def hostile_tree() -> Tree:
    """Two layers: L2-0 -> L1-0, L1-1; L2-1 -> L1-2; the first topic's top word is the script tag."""
    w = lambda words: [(word, 0.5 / (i + 1)) for i, word in enumerate(words)]  # noqa: E731
    nodes = [
        TopicNode(1, 0, w(HOSTILE[:3]), 0.5), TopicNode(1, 1, w(HOSTILE[3:]), 0.3), TopicNode(1, 2, w(["x", "y"]), 0.2),
        TopicNode(2, 0, w(HOSTILE), 0.7), TopicNode(2, 1, w(["=SUM(A1)", "z"]), 0.3),
    ]
    edges = [TopicEdge("L2-0", "L1-0", 0.6), TopicEdge("L2-0", "L1-1", 0.3), TopicEdge("L2-1", "L1-2", 0.9)]
    return Tree(2, nodes, edges, {"model": "GeneralizedGBN", "link": "nonlinear", "topics": [3, 2], "min_edge": 0.05})


def validate(instance, schema_node, path="$"):
    """A tiny JSON Schema checker for the keywords topics.schema.json uses."""
    kinds = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}
    if "const" in schema_node:
        assert instance == schema_node["const"], path
    if "type" in schema_node:
        ok = isinstance(instance, kinds[schema_node["type"]]) and not isinstance(instance, bool)
        assert ok, f"{path}: {instance!r} is not {schema_node['type']}"
    if "minimum" in schema_node:
        assert instance >= schema_node["minimum"], path
    if "maximum" in schema_node:
        assert instance <= schema_node["maximum"], path
    if "pattern" in schema_node:
        assert re.search(schema_node["pattern"], instance), f"{path}: {instance!r}"
    if isinstance(instance, dict):
        for key in schema_node.get("required", []):
            assert key in instance, f"{path}: missing {key}"
        props = schema_node.get("properties", {})
        for key, value in instance.items():
            if key in props:
                validate(value, props[key], f"{path}.{key}")
            else:
                assert schema_node.get("additionalProperties", True) is not False, f"{path}: unexpected {key}"
    if isinstance(instance, list) and "items" in schema_node:
        for i, item in enumerate(instance):
            validate(item, schema_node["items"], f"{path}[{i}]")


def check_schema(data):
    validate(data, schema())
    try:
        import jsonschema
    except ImportError:
        return
    jsonschema.validate(data, schema())


@pytest.fixture(scope="module")
def run_dir(small_corpus, tmp_path_factory):
    model = GeneralizedGBN(n_topics=[6, 3], n_layers=2, epochs=3, hidden=16, device="cpu").fit(small_corpus)
    return write_run(model, tmp_path_factory.mktemp("export") / "run")


def test_topics_json_of_a_real_fit_follows_the_schema(run_dir):
    data = json.loads((run_dir / "topics.json").read_text())
    check_schema(data)
    assert len(data["topics"]) == 9 and data["n_layers"] == 2
    with pytest.raises(AssertionError):
        check_schema({**data, "schema_version": 2})
    with pytest.raises(AssertionError):
        check_schema({**data, "topics": [{**data["topics"][0], "id": "T1"}]})


def test_json_round_trip_keeps_everything_including_custom_labels(run_dir, tmp_path):
    tree = load_tree(run_dir)
    assert Tree.from_dict(tree.to_dict()).to_dict() == tree.to_dict()
    named = tree.with_labels({"L2-0": "a name"})
    export_tree(named, "json", tmp_path / "t.json")
    data = json.loads((tmp_path / "t.json").read_text())
    check_schema(data)
    back = Tree.from_dict(data)
    assert back.node("L2-0").label == "a name" and back.node("L2-1").name is None
    assert back.to_dict() == data


def test_load_tree_trims_or_rebuilds_from_the_model(run_dir):
    assert load_tree(run_dir, top_n=3).top_n == 3
    stored = load_tree(run_dir)
    wider = load_tree(run_dir, top_n=15)  # more words than topics.json holds: rebuilt from the model
    assert stored.top_n == 10 and wider.top_n == 15
    assert [w for w, _ in wider.node("L1-0").words[:10]] == [w for w, _ in stored.node("L1-0").words]
    assert all(e.weight >= 0.3 for e in load_tree(run_dir, min_edge=0.3).edges)
    with pytest.raises(UserInputError, match="no such run folder"):
        load_tree(run_dir / "missing")


def test_unknown_label_id_and_bad_layer_are_user_errors():
    with pytest.raises(UserInputError, match="L9-0"):
        hostile_tree().with_labels({"L9-0": "x"})
    with pytest.raises(UserInputError, match="--layer"):
        hostile_tree().restricted_to_layer(3)


@pytest.fixture(scope="module")
def hostile_exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    tree = hostile_tree().with_labels({"L2-1": "</script><b>name</b>"})
    suffix = {"md": "md", "gensim": "gensim.json"}
    files = {fmt: export_tree(tree, fmt, folder / f"tree.{suffix.get(fmt, fmt)}")[0] for fmt in FORMATS}
    return tree, files


@pytest.mark.parametrize("fmt", ["html", "svg", "dot", "graphml"])
def test_markup_formats_escape_every_word(hostile_exports, fmt):
    text = hostile_exports[1][fmt].read_text(encoding="utf-8")
    assert "<script>alert" not in text and "</script><b>" not in text
    if fmt == "html":
        assert text.count("</script>") == 2  # the data block and the viewer's code, nothing else
        assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in text


def test_csv_tables_are_readable_and_neutralise_formulas(hostile_exports):
    tree, files = hostile_exports
    with open(files["csv"], newline="", encoding="utf-8") as fh:
        nodes = list(csv.DictReader(fh))
    with open(edges_path(files["csv"]), newline="", encoding="utf-8") as fh:
        edges = list(csv.DictReader(fh))
    assert len(nodes) == 5 and len(edges) == 3
    by_id = {row["id"]: row for row in nodes}
    assert by_id["L1-1"]["words"].startswith("'=SUM(A1)")  # the formula cell starts with '
    assert by_id["L1-1"]["label"] == "'=SUM(A1) back\\slash plain"
    assert by_id["L1-0"]["words"].split("; ") == HOSTILE[:3]
    assert edges[0] == {"parent": "L2-0", "child": "L1-0", "weight": "0.6", "parent_label": by_id["L2-0"]["label"],
                        "child_label": by_id["L1-0"]["label"]}
    try:
        import pandas as pd
    except ImportError:
        return
    assert len(pd.read_csv(files["csv"])) == 5


def test_graphml_opens_in_networkx(hostile_exports):
    nx = pytest.importorskip("networkx", reason="networkx is not installed")
    tree, files = hostile_exports
    graph = nx.read_graphml(files["graphml"])
    assert graph.is_directed() and graph.number_of_nodes() == 5 and graph.number_of_edges() == 3
    assert graph.nodes["L1-0"]["words"].split("; ") == HOSTILE[:3]
    assert graph.nodes["L2-1"]["label"] == "</script><b>name</b>" and graph.nodes["L1-0"]["layer"] == 1
    assert graph.edges["L2-0", "L1-0"]["weight"] == pytest.approx(0.6)


def test_dot_labels_are_entity_escaped(hostile_exports):
    text = hostile_exports[1]["dot"].read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "a&amp;b" in text and "&quot;quote&quot;" in text
    assert "back\\\\slash" in text and re.search(r'"L2-0" -> "L1-0"', text)
    if shutil.which("dot"):  # Graphviz shows the words literally
        svg = subprocess.run(["dot", "-Tsvg", str(hostile_exports[1]["dot"])], capture_output=True, text=True).stdout
        assert "&lt;script&gt;alert(1)&lt;/script&gt; a&amp;b" in svg and "back\\slash" in svg


def test_the_other_formats(hostile_exports):
    tree, files = hostile_exports
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(files["gensim"].read_text()) == gensim_topics(tree, 1)
    md = files["md"].read_text()
    assert "**L2-1** </script><b>name</b>" in md and md.index("L2-0") < md.index("L1-0")
    check_schema(json.loads(files["json"].read_text()))


def test_layer_restriction(tmp_path):
    tree = hostile_tree()
    export_tree(tree, "json", tmp_path / "l1.json", layer=1)
    data = json.loads((tmp_path / "l1.json").read_text())
    check_schema(data)
    assert {t["layer"] for t in data["topics"]} == {1} and data["edges"] == [] and data["meta"]["layer"] == 1
    export_tree(tree, "md", tmp_path / "l2.md", layer=2)
    assert "L1-" not in (tmp_path / "l2.md").read_text()
    with pytest.raises(UserInputError, match="--layer applies"):
        export_tree(tree, "html", tmp_path / "x.html", layer=1)


def shared_children_tree() -> Tree:
    """Three layers; L1-0 and L1-1 have edges from both layer-2 topics, L2-1 from both layer-3 topics, L3-1
    has no child, and the layer-1 topic L1-3 is dead (prevalence below 1 / (10 * 4))."""
    w = lambda i: [(f"word{i}", 0.6), (f"other{i}", 0.4)]  # noqa: E731
    nodes = [TopicNode(1, i, w(i), p) for i, p in enumerate([0.5, 0.3, 0.18, 0.02])]
    nodes += [TopicNode(2, 0, w(10), 0.6), TopicNode(2, 1, w(11), 0.4), TopicNode(3, 0, w(20), 0.9),
              TopicNode(3, 1, w(21), 0.1)]
    edges = [TopicEdge("L2-0", "L1-0", 0.5), TopicEdge("L2-0", "L1-1", 0.3), TopicEdge("L2-0", "L1-3", 0.2),
             TopicEdge("L2-1", "L1-1", 0.4), TopicEdge("L2-1", "L1-0", 0.3), TopicEdge("L2-1", "L1-2", 0.3),
             TopicEdge("L3-0", "L2-0", 0.7), TopicEdge("L3-0", "L2-1", 0.3), TopicEdge("L3-1", "L2-1", 0.9)]
    return Tree(3, nodes, edges, {"topics": [4, 2, 2], "min_edge": 0.05})


def outline_ids(text: str) -> list[tuple[int, str]]:
    """(indent, topic id) of every line of a Markdown outline that names a topic."""
    return [(len(m.group(1)), m.group(2)) for m in re.finditer(r"^( *)- \*\*(L\d+-\d+)\*\*", text, re.M)]


def test_outlines_place_each_topic_under_its_heaviest_parent_once():
    tree = shared_children_tree()
    placed = {parent: [c.id for c, _ in children] for parent, children in tree.outline_children().items()}
    assert placed == {"L2-0": ["L1-0", "L1-3"], "L2-1": ["L1-1", "L1-2"], "L3-1": ["L2-1"], "L3-0": ["L2-0"]}
    assert len(tree.edges) == 9  # the edges themselves are all kept
    lines = outline_ids(tree.to_markdown())
    ids = [i for _, i in lines]
    assert sorted(ids) == sorted(n.id for n in tree.nodes)  # every topic exactly once
    assert lines[:3] == [(0, "L3-0"), (2, "L2-0"), (4, "L1-0")]
    assert (0, "L3-1") in lines and ids[ids.index("L3-1") + 1] == "L2-1"


def test_dead_topics_are_hidden_with_their_edges_and_counted():
    tree = shared_children_tree()
    assert tree.dead_ids() == {"L1-3"}
    shown = tree.without_dead()
    assert "L1-3" not in {n.id for n in shown.nodes} and all("L1-3" not in (e.parent, e.child) for e in shown.edges)
    assert shown.meta["dead_hidden"] == 1 and len(tree.nodes) == 8 and "dead_hidden" not in tree.meta
    assert shown.without_dead().meta["dead_hidden"] == 1  # the threshold follows meta["topics"], not what is left
    assert shown.hidden_note == "1 dead topic hidden (prevalence below 1/(10 K))" and tree.hidden_note == ""
    md = shown.to_markdown()
    assert "L1-3" not in md and md.rstrip().endswith("1 dead topic hidden (prevalence below 1/(10 K)).")
    assert Tree.from_dict(shown.to_dict()).meta["dead_hidden"] == 1


def test_run_folder_keeps_every_topic_in_json_and_counts_per_layer_health(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [h["layer"] for h in metrics["layers"]] == [1, 2] and [h["topics"] for h in metrics["layers"]] == [6, 3]
    assert all(0 <= h["near_duplicate_share"] <= 1 and 0 <= h["dead_share"] <= 1 for h in metrics["layers"])
    assert len(json.loads((run_dir / "topics.json").read_text())["topics"]) == 9


def test_big_trees_are_drawn_from_the_top_layer_and_strongest_descendants(tmp_path):
    rng = np.random.default_rng(0)
    nodes = [TopicNode(l, i, [(f"w{l}{i}{j}", 0.1) for j in range(3)], float(rng.random())) for l, k in
             ((1, 40), (2, 20), (3, 12)) for i in range(k)]
    edges = [TopicEdge(f"L{l + 1}-{p}", f"L{l}-{c}", float(rng.random())) for l, k, kc in ((1, 20, 40), (2, 12, 20))
             for p in range(k) for c in rng.choice(kc, 3, replace=False)]
    tree = Tree(3, nodes, edges, {"topics": [40, 20, 12]})
    chosen = select_nodes(tree, per_layer=5)
    assert [len(chosen[l]) for l in (3, 2, 1)] == [5, 5, 5]
    assert chosen[3] == tree.layer(3)[:5]
    top_ids = {n.id for n in chosen[3]}
    assert all(any(e.parent in top_ids and e.child == n.id for e in edges) for n in chosen[2])
    export_tree(tree, "svg", tmp_path / "big.svg")
    assert (tmp_path / "big.svg").read_text().lstrip().startswith("<?xml")


def test_dominant_path_follows_tree_edges():
    tree = hostile_tree()  # L2-0 -> L1-0, L1-1; L2-1 -> L1-2
    theta2 = np.array([[5.0, 1.0], [0.0, 3.0]])
    theta1 = np.array([[0.0, 2.0, 9.0], [9.0, 0.0, 1.0]])  # doc 0 uses L1-2 most, but L2-0's children are L1-0/1
    assert dominant_paths([theta1, theta2], tree) == [["L2-0", "L1-1"], ["L2-1", "L1-2"]]
    assert dominant_topics(theta1) == ["L1-2", "L1-0"]
    summary = label_summary(["L1-1", "L1-2", "L1-2"], ["a", "b", "c"], tree)
    assert summary["n_docs"] == 3 and summary["topics"][0]["topic"] == "L1-2" and summary["purity"] == pytest.approx(2 / 3)


def test_doc_topic_tables(tmp_path):
    tree = hostile_tree()
    thetas = [np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0]]), np.array([[2.0, 2.0], [0.0, 1.0]])]
    write_doc_topics(tmp_path / "d.csv", ["=1", "b"], thetas, tree)
    rows = list(csv.DictReader(open(tmp_path / "d.csv", newline="", encoding="utf-8")))
    assert rows[0]["id"] == "'=1" and float(rows[0]["L1-1"]) == pytest.approx(0.75) and rows[1]["L1-0"] == "0.0"
    write_doc_topics(tmp_path / "d.jsonl", ["a", "b"], thetas, tree, top_k=1)
    first = json.loads((tmp_path / "d.jsonl").read_text().splitlines()[0])
    assert first["theta"] == {"L1": [["L1-1", 0.75]], "L2": [["L2-0", 0.5]]} and first["path"] == ["L2-0", "L1-1"]
    with pytest.raises(UserInputError, match="pyarrow|csv"):
        if "pyarrow" in sys.modules or subprocess.run([sys.executable, "-c", "import pyarrow"]).returncode == 0:
            raise UserInputError("pyarrow is installed: nothing to check")
        write_doc_topics(tmp_path / "d.parquet", ["a", "b"], thetas, tree)


def test_pyldavis_inputs_are_distributions():
    counts = sp.csr_matrix(np.array([[1, 0, 2], [0, 0, 0]]))
    data = pyldavis_inputs(np.array([[1.0, 1.0, 2.0], [0.0, 1.0, 0.0]]), np.array([[1.0, 3.0], [0.0, 0.0]]),
                           counts, ["a", "b", "c"])
    assert data["topic_term_dists"][0] == [0.25, 0.25, 0.5] and data["doc_topic_dists"] == [[0.25, 0.75], [0.5, 0.5]]
    assert data["doc_lengths"] == [3, 0] and data["term_frequency"] == [1, 0, 2]


def test_corpus_with_hostile_vocabulary_fits_and_exports(tmp_path):
    counts = sp.csr_matrix(np.random.default_rng(1).poisson(1.0, size=(40, 6)).astype(np.int32))
    model = GeneralizedGBN(n_topics=[3, 2], n_layers=2, epochs=1, hidden=8, device="cpu").fit(Corpus(counts, HOSTILE))
    tree = model.tree(top_n=6)
    export_tree(tree, "html", tmp_path / "t.html")
    assert "<script>alert" not in (tmp_path / "t.html").read_text()


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_neutralised_in_csv_tables(tmp_path, start):
    word = f"{start}HYPERLINK(\"http://x\")"
    tree = Tree(1, [TopicNode(1, 0, [(word, 0.6), ("plain", 0.4)], 1.0, name=word)], [], {"topics": [1]})
    write_doc_topics(tmp_path / "d.csv", [word], [np.array([[1.0]])], tree)
    export_tree(tree, "csv", tmp_path / "t.csv")
    with open(tmp_path / "t.csv", newline="", encoding="utf-8") as fh:
        [row] = list(csv.DictReader(fh))
    with open(tmp_path / "d.csv", newline="", encoding="utf-8") as fh:
        [doc] = list(csv.DictReader(fh))
    assert row["label"] == row["words"].split("; ")[0] == doc["id"] == doc["path_labels"] == "'" + word


@pytest.mark.parametrize("fmt", ["graphml", "svg"])
def test_xml_formats_stay_well_formed_with_control_characters(tmp_path, fmt):
    import xml.etree.ElementTree as ET

    words = [("nul\x00word", 0.5), ("esc\x1b[31m", 0.3), ("<tag>&amp;", 0.2)]
    export_tree(Tree(1, [TopicNode(1, 0, words, 1.0)], [], {"topics": [1]}), fmt, tmp_path / f"t.{fmt}")
    root = ET.parse(tmp_path / f"t.{fmt}").getroot()  # svg draws the words as glyph paths, graphml keeps the text
    if fmt == "graphml":
        assert "nul\ufffdword; esc\ufffd[31m; <tag>&amp;" in ET.tostring(root, encoding="unicode", method="text")
