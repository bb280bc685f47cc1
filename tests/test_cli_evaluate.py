"""ggbn-topics evaluate / compare end to end on a tiny slice of the bundled 20 Newsgroups sample."""
from __future__ import annotations

import gzip
import json

import pytest
from typer.testing import CliRunner

from deepgbn_text import GeneralizedGBN
from deepgbn_text.corpora import sample_path
from deepgbn_text.text import TextOptions, build_corpus
from ggbn_topics.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """train/test text and labels: every 8th sample document (all 20 newsgroups), alternately train / test."""
    lines = gzip.open(sample_path("20news-sample"), "rt", encoding="utf-8").read().splitlines()[::8]
    labels = sample_path("20news-sample").with_name("20news-sample.labels").read_text().splitlines()[::8]
    folder = tmp_path_factory.mktemp("evaluate")
    out = {}
    for name, rows in (("train", slice(0, None, 2)), ("test", slice(1, None, 2))):
        out[name] = folder / f"{name}.txt"
        out[name].write_text("\n".join(lines[rows]) + "\n", encoding="utf-8")
        out[f"{name}_labels"] = folder / f"{name}.labels"
        out[f"{name}_labels"].write_text("\n".join(labels[rows]) + "\n", encoding="utf-8")
    corpus = build_corpus(lines[0::2], TextOptions(min_df=3))
    model = GeneralizedGBN(n_topics=[8, 4], n_layers=2, epochs=2, hidden=16, device="cpu").fit(corpus)
    out["run"] = model.save(folder / "run")
    return out


def test_evaluate_prints_a_table_and_writes_json(files, tmp_path):
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["evaluate", str(files["run"]), "--test", str(files["test"]), "--json", str(out),
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "perplexity" in result.stdout and "NPMI" in result.stdout
    assert "no --reference given" in result.stdout
    data = json.loads(out.read_text())
    assert data["protocol"]["coherence_reference"] == "test documents"
    assert data["protocol"]["heldout_fraction"] == 0.2 and data["protocol"]["split_seed"] == 0
    first, second = data["layers"]
    assert first["n_topics"] == 8 and second["n_topics"] == 4
    for key in ("perplexity", "npmi", "c_v", "u_mass", "td", "tq"):
        assert isinstance(first[key], float), key
    assert first["perplexity"] > 1 and -1 <= first["npmi"] <= 1 and 0 < first["td"] <= 1
    assert second["parent_child_npmi"] is not None or second["sibling_diversity"] is None


def test_evaluate_with_reference_and_labels(files, tmp_path):
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["evaluate", str(files["run"]), "--test", str(files["test"]),
                                 "--reference", str(files["train"]), "--labels", str(files["train_labels"]),
                                 "--test-labels", str(files["test_labels"]), "--json", str(out), "--device", "cpu",
                                 "--seed", "1", "--refine-steps", "3"])
    assert result.exit_code == 0, result.output
    assert "no --reference given" not in result.stdout
    data = json.loads(out.read_text())
    assert data["protocol"]["coherence_reference"].startswith("reference file")
    assert data["protocol"]["split_seed"] == 1
    assert "refined by 3" in json.dumps(data)
    for record in data["layers"]:
        assert 0 < record["purity"] <= 1 and 0 <= record["nmi"] <= 1 and 0 <= record["accuracy"] <= 1


def test_compare_writes_json_and_png(files, tmp_path):
    out, png, md = tmp_path / "cmp.json", tmp_path / "cmp.png", tmp_path / "cmp.md"
    result = runner.invoke(app, ["compare", str(files["train"]), "--models", "ggbn,lda-sklearn,lda-gensim",
                                 "--layers", "2", "--topics", "6,3", "--epochs", "2", "--hidden", "16", "--device",
                                 "cpu", "--min-df", "3", "--json", str(out), "--plot", str(png), "--markdown", str(md)])
    assert result.exit_code == 0, result.output
    for name in ("ggbn", "lda-sklearn", "lda-gensim"):
        assert name in result.stdout
    data = json.loads(out.read_text())
    assert [r["model"] for r in data["results"]] == ["ggbn", "lda-sklearn", "lda-gensim"]
    assert data["results"][0]["n_layers"] == 2 and data["results"][1]["topics"] == [6]
    assert data["data"]["n_test_docs"] > 0 and "20%" in data["data"]["split"]
    assert all(r["layers"][0]["perplexity"] > 1 for r in data["results"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| lda-gensim |" in md.read_text()


def test_compare_trees_against_trees(files, tmp_path):
    pytest.importorskip("tomotopy", reason="tomotopy is not installed (pip install tomotopy)")
    out, png, md, trees = tmp_path / "cmp.json", tmp_path / "cmp.png", tmp_path / "cmp.md", tmp_path / "trees"
    models = ["ggbn", "hlda-tomotopy", "hpam-tomotopy", "pam-tomotopy", "lda-tomotopy"]
    result = runner.invoke(app, ["compare", str(files["train"]), "--models", ",".join(models), "--layers", "3",
                                 "--topics", "6,3,2", "--epochs", "2", "--hidden", "16", "--device", "cpu",
                                 "--min-df", "3", "--gibbs-iterations", "30", "--json", str(out), "--plot", str(png),
                                 "--markdown", str(md), "--save-trees", str(trees)])
    assert result.exit_code == 0, result.output
    for heading in ("level 1 (most specific)", "level 2", "level 3", "hierarchy", "PnCD", "near-dup"):
        assert heading in result.stdout, heading
    data = json.loads(out.read_text())
    by_model = {r["model"]: r for r in data["results"]}
    assert [by_model[m]["n_layers"] for m in models] == [3, 3, 3, 2, 1]
    assert by_model["hpam-tomotopy"]["topics"] == [6, 3, 1] and by_model["pam-tomotopy"]["topics"] == [6, 3]
    for name in models:
        first = by_model[name]["layers"][0]
        assert first["perplexity"] > 1 and 0 <= first["near_duplicate_share"] <= 1
        assert 0 <= first["dead_topic_share"] <= 1 and 0 < first["specialisation"] <= 1
    assert by_model["lda-tomotopy"]["prevalence"].startswith("mean theta share")
    for name in ("hlda-tomotopy", "hpam-tomotopy"):
        assert by_model[name]["layers"][1]["perplexity"] is None  # peers predict with the whole model only
        top = by_model[name]["layers"][2]
        assert top["n_edges"] >= 1 and -1 <= top["pcc"] <= 1 and 0 <= top["pcd"] <= 1 and 0 <= top["sd"] <= 1
        assert set(by_model[name]["hierarchy"]) == {"pcc", "pcd", "sd", "pncd"}
    text = md.read_text()
    assert "Level 3:" in text and "| hlda-tomotopy | 3>2 |" in text and "| PnCD |" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in models:
        assert (trees / name / "topics.json").is_file()
        shown = runner.invoke(app, ["topics", str(trees / name), "--all-topics"])
        assert shown.exit_code == 0 and "L1-0" in shown.stdout, shown.output
    assert by_model["hlda-tomotopy"]["tree"] == str(trees / "hlda-tomotopy" / "topics.json")


def test_compare_with_a_test_file(files, tmp_path):
    out = tmp_path / "cmp.json"
    result = runner.invoke(app, ["compare", str(files["train"]), "--test", str(files["test"]), "--models", "gbn",
                                 "--reference", str(files["test"]),
                                 "--layers", "1", "--topics", "5", "--epochs", "2", "--hidden", "16", "--device", "cpu",
                                 "--min-df", "3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["data"]["n_test_docs"] == 125 and data["results"][0]["model"] == "gbn"
    assert data["protocol"]["coherence_reference"].startswith("reference file")


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("args, message", [
    (["evaluate", "RUN", "--test", "missing.txt"], "missing.txt"),
    (["evaluate", "RUN", "--test", "TEST", "--labels", "TRAIN_LABELS"], "--reference"),
    (["evaluate", "nowhere", "--test", "TEST"], "not a model folder"),
    (["compare", "TRAIN", "--models", "ggbn,bert"], "unknown model 'bert'"),
    (["compare", "TRAIN", "--test", "missing.txt"], "missing.txt"),
    (["compare", "TRAIN", "--layers", "2", "--topics", "8"], "--topics"),
])
def test_bad_input_is_one_line_and_exit_2(files, tmp_path, args, message):
    swap = {"RUN": str(files["run"]), "TEST": str(files["test"]), "TRAIN": str(files["train"]),
            "TRAIN_LABELS": str(files["train_labels"]), "missing.txt": str(tmp_path / "missing.txt")}
    line = _one_line_error(runner.invoke(app, [swap.get(a, a) for a in args]))
    assert "error" in line and message in line


def test_tables_are_not_squashed_when_output_goes_to_a_file(monkeypatch, tmp_path):
    from ggbn_topics import common as app_module

    monkeypatch.delenv("COLUMNS", raising=False)
    with open(tmp_path / "out.txt", "w") as f:
        monkeypatch.setattr("sys.stdout", f)
        assert app_module._console().width == app_module.PIPE_WIDTH
        monkeypatch.setenv("COLUMNS", "90")
        assert app_module._console().width == 90
