"""ggbn-topics topics / transform through typer's CliRunner, on a tiny fitted run."""
from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import synthetic_counts
from deepgbn_text import Corpus, GeneralizedGBN
from deepgbn_text.runs import write_run
from deepgbn_text.tree import TopicEdge, TopicNode, Tree
from ggbn_topics.app import app

runner = CliRunner()
VOCAB = [f"w{chr(97 + v // 26)}{chr(97 + v % 26)}x" for v in range(60)]  # alphabetic, so the tokenizer keeps them


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    corpus = Corpus(synthetic_counts(n_docs=200), VOCAB)
    model = GeneralizedGBN(n_topics=[6, 3], n_layers=2, epochs=3, hidden=16, device="cpu").fit(corpus)
    return write_run(model, tmp_path_factory.mktemp("cli") / "run")


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(VOCAB[10 * (i % 6): 10 * (i % 6) + 10], 20)) for i in range(12)] + ["nothing known"]
    folder = tmp_path_factory.mktemp("docs")
    (folder / "docs.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "labels.txt").write_text("\n".join(f"group{i % 3}" for i in range(13)) + "\n", encoding="utf-8")
    return folder


def ok(args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_topics_prints_the_tree(run_dir):
    result = ok(["topics", run_dir])
    assert "2-layer topic tree" in result.stdout and "L2-0" in result.stdout and "L1-" in result.stdout
    layer = ok(["topics", run_dir, "--layer", "1", "--top-words", "2"])
    assert "Layer 1 topics" in layer.stdout and "L2-0" not in layer.stdout


@pytest.mark.parametrize("fmt, name", [("json", "t.json"), ("md", "t.md"), ("csv", "t.csv"), ("dot", "t.dot"),
                                       ("graphml", "t.graphml"), ("html", "t.html"), ("png", "t.png"),
                                       ("svg", "t.svg"), ("gensim", "g.json")])
def test_topics_writes_every_format(run_dir, tmp_path, fmt, name):
    result = ok(["topics", run_dir, "--format", fmt, "--out", tmp_path / name])
    assert (tmp_path / name).stat().st_size > 0 and "wrote" in result.stderr
    if fmt == "csv":
        rows = list(csv.DictReader(open(tmp_path / "t.edges.csv", newline="", encoding="utf-8")))
        assert rows and set(rows[0]) == {"parent", "child", "weight", "parent_label", "child_label"}
    if fmt == "gensim":
        topics = json.loads((tmp_path / name).read_text())
        assert len(topics) == 6 and all(len(t) == 10 and all(w in VOCAB for w in t) for t in topics)


def test_topics_options_flow_into_the_output(run_dir, tmp_path):
    data = json.loads(ok(["topics", run_dir, "--format", "json", "--top-words", "4", "--min-edge", "0.2"]).stdout)
    assert all(len(t["words"]) == 4 for t in data["topics"]) and all(e["weight"] >= 0.2 for e in data["edges"])
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"L2-0": "the <b>first</b>", "L1-3": "=cmd"}))
    ok(["topics", run_dir, "--labels", labels, "--out", tmp_path / "named.csv", "--layer", "1"])
    rows = list(csv.DictReader(open(tmp_path / "named.csv", newline="", encoding="utf-8")))
    assert {r["layer"] for r in rows} == {"1"} and {r["id"]: r["label"] for r in rows}["L1-3"] == "'=cmd"
    ok(["topics", run_dir, "--labels", labels, "--out", tmp_path / "named.html"])
    assert "the \\u003cb\\u003efirst" in (tmp_path / "named.html").read_text()
    assert "the <b>first</b>" in ok(["topics", run_dir, "--labels", labels]).stdout
    wider = json.loads(ok(["topics", run_dir, "--format", "json", "--top-words", "12"]).stdout)  # from the model
    assert all(len(t["words"]) == 12 for t in wider["topics"])


@pytest.fixture()
def dead_run(tmp_path):
    """A run folder holding only topics.json: 2 of 10 layer-1 topics and 1 of 4 layer-2 topics are dead."""
    prevalence = {1: [0.2, 0.2, 0.15, 0.15, 0.1, 0.1, 0.05, 0.04, 0.005, 0.005], 2: [0.5, 0.3, 0.19, 0.01]}
    nodes = [TopicNode(layer, i, [(f"w{layer}{i}a", 0.6), (f"w{layer}{i}b", 0.4)], p)
             for layer, shares in prevalence.items() for i, p in enumerate(shares)]
    edges = [TopicEdge(f"L2-{i % 4}", f"L1-{i}", 0.3) for i in range(10)] + [TopicEdge("L2-0", "L1-1", 0.5)]
    run = tmp_path / "dead-run"
    run.mkdir()
    tree = Tree(2, nodes, edges, {"topics": [10, 4], "min_edge": 0.05})
    (run / "topics.json").write_text(json.dumps(tree.to_dict()))
    return run


def test_topics_hide_dead_topics_unless_all_topics(dead_run, tmp_path):
    printed = ok(["topics", dead_run]).stdout
    assert "L2-3" not in printed and "L1-8" not in printed and "L1-9" not in printed and "L1-0" in printed
    assert "3 dead topics hidden (prevalence below 1/(10 K)); --all-topics shows them" in printed
    assert printed.count("L1-1 ") == 1  # under L2-0 (edge 0.5) only, not also under L2-1
    everything = ok(["topics", dead_run, "--all-topics"]).stdout
    assert "L2-3" in everything and "L1-9" in everything and "dead topic" not in everything
    layer = ok(["topics", dead_run, "--layer", "1"]).stdout
    assert "L1-9" not in layer and "2 dead topics hidden" in layer
    md = ok(["topics", dead_run, "--format", "md"])
    assert "L1-8" not in md.stdout and "3 dead topics hidden" in md.stdout and "--all-topics" in md.stderr
    result = ok(["topics", dead_run, "--out", tmp_path / "t.csv"])
    rows = list(csv.DictReader(open(tmp_path / "t.csv", newline="", encoding="utf-8")))
    assert len(rows) == 11 and "3 dead topics hidden" in result.stderr
    ok(["topics", dead_run, "--out", tmp_path / "all.csv", "--all-topics"])
    assert len(list(csv.DictReader(open(tmp_path / "all.csv", newline="", encoding="utf-8")))) == 14
    ok(["topics", dead_run, "--format", "gensim", "--out", tmp_path / "g.json"])  # item i is topic i: all kept
    assert len(json.loads((tmp_path / "g.json").read_text())) == 10
    assert len(json.loads((dead_run / "topics.json").read_text())["topics"]) == 14


@pytest.mark.parametrize("args, message", [
    (["topics", "{missing}"], "no such run folder"),
    (["topics", "{run}", "--format", "pdf"], "--format must be one of"),
    (["topics", "{run}", "--labels", "{labels}"], "unknown topic id"),
    (["topics", "{run}", "--format", "png"], "pass --out"),
    (["topics", "{run}", "--layer", "5"], "--layer must be between 1 and 2"),
    (["topics", "{run}", "--layer", "1", "--out", "{out}.html"], "--layer applies"),
    (["topics", "{run}", "--out", "{out}.xyz"], "pass --format"),
    (["transform", "{missing}", "{docs}", "--out", "{out}.csv"], "no such run folder"),
    (["transform", "{run}", "{docs}", "--out", "{out}.xlsx"], ".csv, .jsonl or .parquet"),
    (["transform", "{run}", "{docs}", "--out", "{out}.csv", "--labels-file", "{labels}"], "labels but there are 13"),
])
def test_user_mistakes_exit_2_with_one_line(run_dir, docs, tmp_path, args, message):
    (tmp_path / "labels.json").write_text('{"L9-0": "nope"}')
    names = {"missing": tmp_path / "nope", "run": run_dir, "docs": docs / "docs.txt", "out": tmp_path / "o",
             "labels": tmp_path / "labels.json"}
    result = runner.invoke(app, [a.format(**names) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_transform_writes_theta_and_paths(run_dir, docs, tmp_path):
    result = ok(["transform", run_dir, docs / "docs.txt", "--out", tmp_path / "d.csv", "--pyldavis", tmp_path / "v.json"])
    assert "13 documents" in result.stderr and "1 with no word" in result.stderr
    rows = list(csv.DictReader(open(tmp_path / "d.csv", newline="", encoding="utf-8")))
    assert len(rows) == 13 and rows[0]["id"] == "1"
    assert sum(float(rows[0][f"L1-{k}"]) for k in range(6)) == pytest.approx(1, abs=1e-4)
    assert rows[0]["path"].startswith("L2-") and " > L1-" in rows[0]["path"]
    vis = json.loads((tmp_path / "v.json").read_text())
    assert len(vis["topic_term_dists"]) == 6 and len(vis["vocab"]) == 60 and len(vis["doc_lengths"]) == 13
    result = ok(["transform", run_dir, docs / "docs.txt", "--out", tmp_path / "d.jsonl", "--top-k", "2",
                 "--labels-file", docs / "labels.txt"])
    first = json.loads((tmp_path / "d.jsonl").read_text().splitlines()[0])
    assert [len(first["theta"][k]) for k in ("L1", "L2")] == [2, 2] and len(first["path"]) == 2
    assert "Labels per dominant layer-1 topic" in result.stdout and "group" in result.stdout


def test_transform_writes_parquet_read_back_with_pyarrow(run_dir, docs, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    ok(["transform", run_dir, docs / "docs.txt", "--out", tmp_path / "d.parquet"])
    table = pq.read_table(tmp_path / "d.parquet")
    assert table.num_rows == 13 and table.column_names[:3] == ["id", "path", "path_labels"]
    assert "L1-0" in table.column_names and "L2-2" in table.column_names
    shares = np.array([table.column(f"L1-{k}").to_pylist() for k in range(6)]).sum(0)
    assert np.allclose(shares[:12], 1.0, atol=1e-4)


def test_parquet_without_pyarrow_is_one_line(run_dir, docs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = runner.invoke(app, ["transform", str(run_dir), str(docs / "docs.txt"), "--out", str(tmp_path / "d.parquet")])
    assert result.exit_code == 2 and "use --out with .csv or .jsonl" in result.stderr


