"""Loading a model or a run folder never executes anything from the files, and a crafted, damaged or
foreign file is one clear line (UserInputError in Python; `error:` and exit code 2 on the command line)."""
from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from conftest import synthetic_counts
from deepgbn_text import Corpus, GeneralizedGBN
from deepgbn_text.storage.corpus import vocab_hash
from deepgbn_text.errors import UserInputError
from deepgbn_text.storage.model_config import weights_digest
from deepgbn_text.runs import write_run
from ggbn_topics.app import app

runner = CliRunner()
VOCAB = [f"w{chr(97 + v // 26)}{chr(97 + v % 26)}x" for v in range(60)]  # alphabetic, so the tokenizer keeps them


class Payload:
    """Unpickling this object creates ``marker``: proof that a loader executed code from a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory):
    corpus = Corpus(synthetic_counts(n_docs=60, n_words=60), VOCAB)
    model = GeneralizedGBN(n_topics=[4, 2], n_layers=2, epochs=1, hidden=8, device="cpu").fit(corpus)
    return write_run(model, tmp_path_factory.mktemp("safe") / "run")


@pytest.fixture
def run(fitted_run, tmp_path):
    """A fresh copy of the fitted run folder, to tamper with, without the weights' recorded SHA-256 (as
    a hand-made folder would be), so each test reaches the check it is about."""
    folder = Path(shutil.copytree(fitted_run, tmp_path / "run"))
    edit_config(folder, weights_sha256=None)
    return folder


def test_a_saved_model_records_the_sha256_of_its_weights(fitted_run):
    assert config_of(fitted_run)["weights_sha256"] == weights_digest(fitted_run / "model.safetensors")


@pytest.fixture
def docs(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_text(" ".join(VOCAB[:20]) + "\n" + " ".join(VOCAB[20:40]) + "\n", encoding="utf-8")
    return path


def load_error(run: Path) -> str:
    with pytest.raises(UserInputError) as info:
        GeneralizedGBN.load(run, device="cpu")
    message = str(info.value)
    assert "\n" not in message
    return message


def assert_cli_error(args: list, *fragments: str, out: Path | None = None) -> None:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error:") and all(f in line for f in fragments), line
    assert out is None or not out.exists()


def edit_config(run: Path, **changes) -> None:
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            del config[key]
        else:
            config[key] = value
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")


def config_of(run: Path) -> dict:
    return json.loads((run / "config.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ nothing executes


def test_the_payload_really_runs_when_unpickled(tmp_path):
    pickle.loads(pickle.dumps(Payload(tmp_path / "control")))
    assert (tmp_path / "control").exists()  # so the tests below would notice if a loader unpickled


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_pickle_in_place_of_the_weights_runs_nothing(run, docs, tmp_path, writer):
    marker = tmp_path / "marker"
    weights = run / "model.safetensors"
    if writer == "pickle":
        weights.write_bytes(pickle.dumps(Payload(marker)))
    else:
        torch.save({"state": Payload(marker)}, weights)
    assert "model.safetensors: cannot read the model weights" in load_error(run)
    assert_cli_error(["transform", run, docs, "--out", tmp_path / "d.csv", "--device", "cpu"],
                     "model.safetensors", out=tmp_path / "d.csv")
    assert_cli_error(["topics", run, "--top-words", "30"], "model.safetensors")  # more words: read from the model
    assert not marker.exists()


# ------------------------------------------------------------------------------ damaged weights


def test_truncated_weights(run):
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    assert "cannot read the model weights" in load_error(run)


def test_a_bit_flip_in_the_header(run):
    weights = run / "model.safetensors"
    data = bytearray(weights.read_bytes())
    assert data[8:9] == b"{"  # the JSON header follows its 8-byte length
    data[8] ^= 0x04
    weights.write_bytes(bytes(data))
    assert "cannot read the model weights" in load_error(run)


def test_a_bit_flip_in_the_data_fails_the_recorded_checksum(run):
    edit_config(run, weights_sha256=weights_digest(run / "model.safetensors"))
    GeneralizedGBN.load(run, device="cpu")  # the digest of an intact file matches
    weights = run / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # the last tensor's last bytes
    weights.write_bytes(bytes(data))
    assert "SHA-256 differs" in load_error(run)


def test_non_finite_weights(run):
    state = load_file(str(run / "model.safetensors"))
    name = sorted(state)[0]
    state[name] = state[name].clone().fill_(float("nan"))
    save_file(state, str(run / "model.safetensors"))
    assert f"tensor {name!r} holds NaN" in load_error(run)


def test_weights_of_another_model(run, tmp_path):
    corpus = Corpus(synthetic_counts(n_docs=40, n_words=60), VOCAB)
    other = GeneralizedGBN(n_topics=[5, 2], n_layers=2, epochs=1, hidden=8, device="cpu").fit(corpus)
    other.save(tmp_path / "m")
    shutil.copy(tmp_path / "m" / "model.safetensors", run / "model.safetensors")
    assert "do not belong to config.json" in load_error(run)


# ------------------------------------------------------------------------------ config.json


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda c: {"vocab": None}, "missing key 'vocab'"),
        (lambda c: {"params": None}, "missing key 'params'"),
        (lambda c: {"topics": "4,2"}, "$.topics: expected array"),
        (lambda c: {"params": {**c["params"], "hidden": "8"}}, "$.params.hidden: expected integer"),
        (lambda c: {"params": {**c["params"], "n_layers": True}}, "$.params.n_layers: expected integer"),
        (lambda c: {"params": {**c["params"], "evil": 1}}, "unknown parameter(s) 'evil'"),
        (lambda c: {"params": {**c["params"], "link": "quadratic"}}, "'params' are invalid"),
        (lambda c: {"topics": [4, 2, 2]}, "2 layers but 'topics' lists 3"),
        (lambda c: {"theta_mean": [[1.0], [1.0, 1.0]]}, "'theta_mean' must hold one number per topic"),
        (lambda c: {"topic_prevalence": [[float("nan")] * 4, [0.5, 0.5]]}, "$.topic_prevalence[0][0]: expected number"),
        (lambda c: {"vocab": c["vocab"][:-1] + ["<script>"]}, "does not match 'vocab_hash'"),
        (lambda c: {"vocab": c["vocab"][:-1] + [c["vocab"][0]]}, "repeats a word"),
        (lambda c: {"vocab": c["vocab"][:-1] + ["caf\ud800"]}, "not valid Unicode"),
        (lambda c: {"model": "SomethingElse"}, "$.model: expected 'GeneralizedGBN'"),
    ],
)
def test_config_with_wrong_types_or_missing_keys(run, change, fragment):
    edit_config(run, **change(config_of(run)))
    message = load_error(run)
    assert "config.json" in message and fragment in message


def test_a_vocabulary_that_does_not_match_the_weights(run):
    vocab = config_of(run)["vocab"][:-1]  # consistent hash, one word short of the weights
    edit_config(run, vocab=vocab, vocab_hash=vocab_hash(vocab))
    message = load_error(run)
    assert "model.safetensors" in message and "do not belong to config.json" in message


def test_a_huge_width_in_the_config_allocates_nothing(run):
    edit_config(run, params={**config_of(run)["params"], "hidden": 10**8})
    assert "do not belong to config.json" in load_error(run)  # not a MemoryError: shapes come from the meta device


def test_config_that_is_not_a_json_object(run):
    (run / "config.json").write_text("[1, 2]", encoding="utf-8")
    assert "expected a JSON object" in load_error(run)


# ------------------------------------------------------------------------------ run folders


def test_a_model_from_an_incompatible_version(run, docs, tmp_path):
    edit_config(run, format_version=2)
    assert_cli_error(["transform", run, docs, "--out", tmp_path / "d.csv", "--device", "cpu"],
                     "config.json", "model format 2 is not supported", out=tmp_path / "d.csv")


def test_topics_json_from_an_incompatible_version(run, tmp_path):
    data = json.loads((run / "topics.json").read_text(encoding="utf-8"))
    (run / "topics.json").write_text(json.dumps({**data, "schema_version": 2}), encoding="utf-8")
    assert_cli_error(["topics", run, "--format", "html", "--out", tmp_path / "t.html"], "topics.json",
                     "schema version 2", out=tmp_path / "t.html")


@pytest.mark.parametrize(
    ("tamper", "fragment"),
    [
        (lambda d: {**d, "edges": d["edges"] + [{"parent": "L2-0", "child": "L1-99", "weight": 0.5}]},
         "edge L2-0 -> L1-99"),
        (lambda d: {**d, "edges": d["edges"] + [{"parent": "L1-0", "child": "L1-1", "weight": 0.5}]},
         "edge L1-0 -> L1-1"),
        (lambda d: {**d, "topics": [{**d["topics"][0], "layer": "1"}] + d["topics"][1:]}, "$.topics[0].layer"),
        (lambda d: {**d, "topics": [{**d["topics"][0], "id": "L1-3"}] + d["topics"][1:]}, "topic 'L1-3'"),
        (lambda d: {**d, "topics": d["topics"] + d["topics"][:1]}, "appears twice"),
        (lambda d: {**d, "n_layers": 1}, "of 1 layers"),
        (lambda d: {k: v for k, v in d.items() if k != "edges"}, "missing key 'edges'"),
    ],
)
def test_a_tampered_topics_json(run, tmp_path, tamper, fragment):
    data = json.loads((run / "topics.json").read_text(encoding="utf-8"))
    (run / "topics.json").write_text(json.dumps(tamper(data)), encoding="utf-8")
    assert_cli_error(["topics", run, "--format", "html", "--out", tmp_path / "t.html"], "topics.json", fragment,
                     out=tmp_path / "t.html")


def test_labels_that_are_not_unicode(run, tmp_path):
    labels = tmp_path / "labels.json"
    labels.write_text('{"L2-0": "bad \\ud800 name"}', encoding="utf-8")
    assert_cli_error(["topics", run, "--labels", labels, "--out", tmp_path / "t.csv"], "labels.json",
                     out=tmp_path / "t.csv")
