"""Property-based tests (hypothesis) of the text pipeline, the loaders and the exporters: whatever the
input, the result is either correct or one UserInputError line, never another exception."""
from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deepgbn_text.storage.corpus import Corpus, as_count_matrix, load_npz_counts, read_vocab
from deepgbn_text.errors import UserInputError
from deepgbn_text.export import export_tree
from deepgbn_text.export.common import FORMULA_STARTS
from deepgbn_text.export.html_viewer import tree_html
from deepgbn_text.export.json_format import read_tree_json
from deepgbn_text.storage.model_config import check_config
from deepgbn_text.storage.schema_check import is_unicode
from deepgbn_text.text import TextOptions, build_corpus, read_documents, vectorize
from deepgbn_text.text.matrices import load_uci
from deepgbn_text.text.tokenize import MAX_TOKEN_CHARS, split_long_text
from deepgbn_text.tree import TopicEdge, TopicNode, Tree

FAST = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
ALL = TextOptions(min_df=1, max_df=1.0, max_vocab=None, min_token_len=2)
ANY_CHAR = st.characters(exclude_categories=())  # control characters and lone surrogates included
WORDISH = st.text(st.sampled_from("ab cdé\u00df\t-<&\"'=+@\x00\x1b\ud800\u2028."), max_size=30)
TEXTS = st.lists(st.one_of(st.text(ANY_CHAR, max_size=40), WORDISH), max_size=6)


def one_line(exc: UserInputError) -> None:
    assert str(exc) and "\n" not in str(exc)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A temporary folder per example (pytest's tmp_path is one per test, shared by all examples)."""
    with tempfile.TemporaryDirectory(prefix="ggbn-prop-") as folder:
        yield Path(folder)


# ------------------------------------------------------------------------------ text pipeline


@FAST
@given(TEXTS)
def test_any_texts_give_clean_words_and_a_corpus_that_round_trips(texts):
    try:
        corpus = build_corpus(texts, ALL)
    except UserInputError as exc:  # only when there is nothing to count
        one_line(exc)
        assert "no documents" in str(exc) or "every document is empty" in str(exc)
        return
    assert corpus.n_docs == len(texts)
    for word in corpus.vocab:
        assert ALL.min_token_len <= len(word) <= MAX_TOKEN_CHARS and is_unicode(word)
        assert not any(c.isspace() or c.isdigit() or unicodedata.category(c) == "Cc" for c in word), word
    with scratch() as folder:
        corpus.save(folder / "corpus")
        again = Corpus.load(folder / "corpus")
    assert again.vocab == corpus.vocab and (again.counts != corpus.counts).nnz == 0
    assert (vectorize(texts, corpus.vocab, ALL) != corpus.counts).nnz == 0


@FAST
@given(st.text(st.sampled_from("ab \n\t"), max_size=500), st.integers(1, 60))
def test_split_long_text_keeps_every_character(text, limit):
    pieces = list(split_long_text(text, limit))
    assert "".join(pieces) == text and all(len(p) <= limit for p in pieces)
    assert all(pieces) or pieces == [""]  # an empty text is one empty piece


# ------------------------------------------------------------------------------ readers


def expected_lines(data: bytes) -> list[str] | None:
    """What the txt reader must return for ``data``, when it is plain UTF-8 text."""
    if b"\x00" in data or data[:2] in (b"\x1f\x8b", b"\xff\xfe", b"\xfe\xff"):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


@FAST
@given(st.one_of(st.binary(max_size=200),
                 st.text(ANY_CHAR, max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_the_txt_reader_on_any_bytes(data):
    with scratch() as folder:
        (folder / "input.txt").write_bytes(data)
        try:
            docs = list(read_documents(folder / "input.txt", fmt="txt"))
        except UserInputError as exc:
            one_line(exc)
            return
    assert all(is_unicode(text) for _, text in docs)
    expected = expected_lines(data)
    if expected is not None:
        assert [text for _, text in docs] == expected


@FAST
@given(st.sampled_from(["csv", "jsonl"]), st.text(ANY_CHAR, max_size=120))
def test_csv_and_jsonl_readers_on_any_text(fmt, text):
    with scratch() as folder:
        (folder / f"input.{fmt}").write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            docs = list(read_documents(folder / f"input.{fmt}"))
        except UserInputError as exc:
            one_line(exc)
            return
    assert all(isinstance(i, str) and isinstance(t, str) and is_unicode(i + t) for i, t in docs)


@FAST
@given(st.lists(st.text(ANY_CHAR.filter(lambda c: c not in "\n\r\t"), min_size=1, max_size=12), max_size=8))
def test_the_csv_reader_returns_what_csv_wrote(texts):
    assume(all(is_unicode(t) for t in texts))
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["id", "text"], *[[str(i), t] for i, t in enumerate(texts)]])
    with scratch() as folder:
        (folder / "input.csv").write_bytes(gzip.compress(buffer.getvalue().encode("utf-8")))
        try:
            docs = list(read_documents(folder / "input.csv", fmt="csv"))
        except UserInputError:  # NUL bytes: the file looks binary
            assert "\x00" in "".join(texts)
            return
    assert [t for _, t in docs] == texts


# ------------------------------------------------------------------------------ matrix loaders

COUNT_VALUES = st.one_of(st.integers(0, 9), st.sampled_from([-1.0, 0.5, float("nan"), float("inf"), 3e9]))


@FAST
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_as_count_matrix_accepts_exactly_the_count_matrices(rows, cols, data):
    values = np.array(data.draw(st.lists(COUNT_VALUES, min_size=rows * cols, max_size=rows * cols)), dtype=float)
    dense = values.reshape(rows, cols)
    valid = np.all(np.isfinite(dense) & (dense >= 0) & (dense == np.round(dense)) & (dense < 2**31))
    try:
        counts = as_count_matrix(sp.csr_matrix(dense))
    except UserInputError as exc:
        one_line(exc)
        assert not valid
        return
    assert valid and counts.dtype == np.int32 and np.array_equal(counts.toarray(), dense)


@FAST
@given(st.lists(st.integers(-2, 6), max_size=5), st.lists(st.integers(-2, 6), max_size=6),
       st.lists(st.integers(-1, 5), min_size=2, max_size=2), st.sampled_from(["csr", "csc", "coo"]))
def test_npz_from_any_components_is_a_valid_matrix_or_one_error(indices, indptr, shape, fmt):
    arrays = {"data": np.ones(len(indices)), "format": np.array(fmt), "shape": np.array(shape)}
    if fmt == "coo":
        arrays |= {"row": np.array(indices), "col": np.array(indices)}
    else:
        arrays |= {"indices": np.array(indices), "indptr": np.array(indptr)}
    with scratch() as folder:
        np.savez(folder / "m.npz", **arrays)
        try:
            counts = load_npz_counts(folder / "m.npz")
        except UserInputError as exc:
            one_line(exc)
            return
    counts.check_format(full_check=True)
    assert counts.shape == tuple(shape) and counts.sum() <= len(indices)  # scipy prunes entries past indptr[-1]


@FAST
@given(st.binary(max_size=300))
def test_npz_loader_on_any_bytes(data):
    with scratch() as folder, pytest.raises(UserInputError) as info:
        (folder / "m.npz").write_bytes(b"PK\x03\x04" + data)
        load_npz_counts(folder / "m.npz")
    one_line(info.value)


@FAST
@given(st.binary(max_size=200))
def test_read_vocab_on_any_bytes(data):
    with scratch() as folder:
        (folder / "vocab.txt").write_bytes(data)
        try:
            words = read_vocab(folder / "vocab.txt")
        except UserInputError as exc:
            one_line(exc)
            return
    assert words and len(set(words)) == len(words) and all(w and "\n" not in w for w in words)


@FAST
@given(st.lists(st.sampled_from(["3", "2", "4", "-1", "1 1 1", "2 2 5", "1 3 1", "3 1 0", "x", "1 1", "9 9 9", ""]),
                max_size=8))
def test_uci_loader_on_any_lines(lines):
    with scratch() as folder:
        (folder / "vocab.toy.txt").write_text("a\nb\nc\n", encoding="utf-8")
        (folder / "docword.toy.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            corpus = load_uci(folder / "docword.toy.txt")
        except UserInputError as exc:
            one_line(exc)
            return
    assert corpus.vocab == ["a", "b", "c"]


# ------------------------------------------------------------------------------ trees and exports

WORDS = st.text(ANY_CHAR.filter(lambda c: not "\ud800" <= c <= "\udfff"), min_size=1, max_size=12)


@st.composite
def trees(draw) -> Tree:
    widths = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    nodes = [TopicNode(layer, i, [(w, 0.5) for w in draw(st.lists(WORDS, min_size=1, max_size=3))], 0.25,
                       name=draw(st.one_of(st.none(), WORDS)))
             for layer, k in enumerate(widths, start=1) for i in range(k)]
    edges = [TopicEdge(f"L{layer + 1}-{p}", f"L{layer}-{c}", 0.5)
             for layer in range(1, len(widths)) for p in range(widths[layer]) for c in range(widths[layer - 1])
             if draw(st.booleans())]
    return Tree(len(widths), nodes, edges, {"topics": widths, "min_edge": 0.05})


@FAST
@given(trees())
def test_any_tree_round_trips_and_exports_safely(tree):
    assert Tree.from_dict(json.loads(json.dumps(tree.to_dict()))).to_dict() == tree.to_dict()
    with scratch() as folder:
        export_tree(tree, "csv", folder / "t.csv")
        with open(folder / "t.csv", newline="", encoding="utf-8") as fh:
            cells = [cell for row in csv.reader(fh) for cell in row]
        export_tree(tree, "graphml", folder / "t.graphml")
        ET.parse(folder / "t.graphml")
    assert not any(cell.startswith(FORMULA_STARTS) for cell in cells)
    page = tree_html(tree)
    assert page.count("</script") == 2
    data = page.split('<script type="application/json" id="tree-data">')[1].split("</script>")[0]
    assert json.loads(data) == tree.to_dict()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(ANY_CHAR, max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)


@FAST
@given(trees(), st.data())
def test_a_topics_json_with_any_value_swapped_in_loads_or_fails_with_one_line(tree, data):
    document = tree.to_dict()
    key = data.draw(st.sampled_from(sorted(document)))
    document[key] = data.draw(JSON)
    with scratch() as folder:
        (folder / "topics.json").write_text(json.dumps(document), encoding="utf-8")
        try:
            read_tree_json(folder / "topics.json")
        except UserInputError as exc:
            one_line(exc)


VALID_CONFIG = {"format_version": 1, "model": "GeneralizedGBN", "params": {"n_layers": 1, "link": "linear",
                "encoder": "upward", "hidden": 4}, "topics": [2], "vocab": ["a", "b"], "vocab_hash": "0" * 16,
                "topic_prevalence": [[0.5, 0.5]], "theta_mean": [[1.0, 1.0]]}


@FAST
@given(st.sampled_from(sorted(VALID_CONFIG)), JSON)
def test_check_config_with_any_value_swapped_in_fails_with_one_line(key, value):
    config = {**VALID_CONFIG, key: value}
    with pytest.raises(UserInputError) as info:  # vocab_hash is wrong even when the swapped value is valid
        check_config(config, Path("config.json"), ["n_layers", "link", "encoder", "hidden", "n_topics"])
    one_line(info.value)
