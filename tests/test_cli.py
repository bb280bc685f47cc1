"""The ggbn-topics command line, end to end on small inputs (typer's CliRunner)."""
from __future__ import annotations

import gzip
import json
import re

import pytest
from typer.testing import CliRunner

from deepgbn_text import GeneralizedGBN
from deepgbn_text.corpora import sample_path
from deepgbn_text.tree import Tree
from ggbn_topics.app import app

runner = CliRunner()
TINY = ["--epochs", "3", "--hidden", "16", "--min-df", "3", "--device", "cpu", "--batch-size", "64"]


@pytest.fixture(scope="module")
def small_text(tmp_path_factory):
    lines = gzip.open(sample_path("20news-sample"), "rt", encoding="utf-8").read().splitlines()[:300]
    path = tmp_path_factory.mktemp("text") / "news.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_fit_writes_a_complete_run_folder(small_text, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["fit", str(small_text), "--layers", "2", "--topics", "8,4", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt", "config.json", "metrics.json", "model.safetensors", "topics.json", "topics.md"]
    topics = json.loads((out / "topics.json").read_text())
    assert topics["n_layers"] == 2 and len(topics["topics"]) == 12
    assert {e["parent"].split("-")[0] for e in topics["edges"]} == {"L2"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 3 and "val_perplexity" in metrics["summary"]
    config = json.loads((out / "config.json").read_text())
    assert config["params"]["seed"] == 0 and config["versions"]["torch"]
    assert config["text_options"]["min_df"] == 3
    assert "L2-0" in result.stdout and "L1-" in (out / "topics.md").read_text()
    model = GeneralizedGBN.load(out, device="cpu")
    assert model.topics_ == [8, 4]


def test_fit_prints_each_topic_once_without_dead_ones_and_reports_collapsed_layers(small_text, tmp_path):
    for extra in ([], ["--all-topics"]):
        out = tmp_path / f"run{len(extra)}"
        args = ["fit", str(small_text), "--layers", "3", "--topics", "12,6,3", "--out", str(out), *TINY, *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        printed = re.findall(r"\bL\d-\d+\b", result.stdout)
        assert "L3-0" in printed and len(printed) == len(set(printed))  # no topic twice at any level
        tree = Tree.from_dict(json.loads((out / "topics.json").read_text()))
        assert len(tree.nodes) == 21  # topics.json keeps every topic
        dead = tree.dead_ids()
        hidden = not extra and dead
        assert not (dead & set(printed)) or extra
        assert (f"{len(dead)} dead topic" in result.stdout) == bool(hidden)
        assert ("--all-topics shows them" in result.stdout) == bool(hidden)
        layers = json.loads((out / "metrics.json").read_text())["layers"]
        assert [h["topics"] for h in layers] == [12, 6, 3] and [h["dead"] for h in layers] == [
            sum(i.startswith(f"L{h['layer']}-") for i in dead) for h in layers]
        collapsed = [h["layer"] for h in layers if h["layer"] >= 2 and h["near_duplicate_share"] > 0.1]
        reported = [int(m) for m in re.findall(r"^layer (\d+): \d+ of \d+ topics", result.stderr, re.M)]
        assert reported == collapsed


def test_prepare_then_fit_the_prepared_folder(small_text, tmp_path):
    result = runner.invoke(app, ["prepare", str(small_text), "--out", str(tmp_path / "prepared"), "--min-df", "3"])
    assert result.exit_code == 0, result.output
    assert "300 documents" in result.stdout
    result = runner.invoke(app, ["fit", str(tmp_path / "prepared"), "--layers", "1", "--topics", "5",
                                 "--out", str(tmp_path / "run"), *TINY])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "{missing}"], "file not found"),
        (["fit", "{empty}"], "no documents"),
        (["fit", "{text}", "--layers", "0"], "--layers"),
        (["fit", "{text}", "--layers", "2", "--topics", "8,4,2"], "--topics gives 3 widths"),
        (["fit", "{text}", "--topics", "8,x"], "comma-separated integers"),
        (["fit", "{text}", "--min-df", "100000"], "--min-df"),
        (["fit", "{text}", "--device", "tpu"], "--device: invalid value 'tpu'"),
        (["fit", "{text}", "--everyday-pools", "128"], "--everyday-pools: 128 pools leave none"),
        (["prepare", "{text}", "--out", "{out}", "--max-df", "0"], "--max-df"),
    ],
)
def test_user_mistakes_exit_non_zero_with_one_line(small_text, tmp_path, args, message):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    names = {"missing": str(tmp_path / "nope.txt"), "empty": str(empty), "text": str(small_text), "out": str(tmp_path / "o")}
    args = [a.format(**names) for a in args]
    common = ["--epochs", "1", "--device", "cpu", "--out", names["out"]] if args[0] == "fit" else []
    result = runner.invoke(app, args[:2] + common + args[2:])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "o").exists()


def test_fit_options_default_to_the_estimators_defaults():
    """`ggbn-topics fit` with no flags is the estimator with no arguments: the defaults are the product."""
    import inspect

    from ggbn_topics.app import fit

    estimator = GeneralizedGBN().get_params()
    options = {name: p.default for name, p in inspect.signature(fit).parameters.items() if name in estimator}
    assert {"batch_size", "lr", "patience", "epochs", "pretrain_bottom", "gate_max"} <= set(options)
    assert {name: estimator[name] for name in options} == options
