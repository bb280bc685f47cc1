"""Hostile or broken inputs through the command line: one `error:` line on stderr, exit code 2, no
traceback and nothing written; or, for text that can be read, a single warning and a normal run."""
from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from deepgbn_text import Corpus
from ggbn_topics.app import app

runner = CliRunner()
WORDS = "apple banana cherry doctor engine forest garden harbor island jungle kettle lemon".split()
TINY_FIT = ["--epochs", "1", "--hidden", "8", "--device", "cpu", "--min-df", "1", "--max-df", "1.0"]
ALL_WORDS = ["--min-df", "1", "--max-df", "1.0"]


def invoke(args):
    return runner.invoke(app, [str(a) for a in args])


def assert_user_error(result, *fragments, out=None):
    """Exit code 2, no traceback, exactly one line on stderr: `error:` holding ``fragments``; nothing written."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")][:1]
    assert lines == errors, result.stderr  # one line: nothing else before or after it
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    if out is not None:
        assert not out.exists()
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]  # no temporary leftovers


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """30 one-line documents over 12 words (enough to fit a 1-layer model with a few topics)."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("good") / "good.txt"
    path.write_text("".join(" ".join(rng.choice(WORDS, 8)) + "\n" for _ in range(30)), encoding="utf-8")
    return path


def write_npz(folder, name, matrix, vocab=("apple", "banana", "cherry")):
    sp.save_npz(folder / name, matrix)
    (folder / "vocab.txt").write_text("".join(w + "\n" for w in vocab), encoding="utf-8")
    return folder / name


def damaged_csr(folder):
    """A CSR .npz whose column index 7 lies outside its 3 columns (scipy would silently drop it)."""
    np.savez(folder / "m.npz", data=np.array([1, 2]), indices=np.array([0, 7]), indptr=np.array([0, 1, 2]),
             format=np.array("csr"), shape=np.array([2, 3]))
    (folder / "vocab.txt").write_text("apple\nbanana\ncherry\n", encoding="utf-8")
    return folder / "m.npz"


def truncated_npz(folder):
    path = write_npz(folder, "m.npz", sp.csr_matrix(np.eye(3, dtype=np.int32)))
    path.write_bytes(path.read_bytes()[:60])
    return path


def complex_npz(folder):
    return write_npz(folder, "m.npz", sp.csr_matrix(np.array([[1 + 1j, 0, 2]])))


def dense_npz(folder):
    np.savez(folder / "m.npz", counts=np.ones((2, 3)))
    (folder / "vocab.txt").write_text("apple\nbanana\ncherry\n", encoding="utf-8")
    return folder / "m.npz"


def text_file(name, data):
    def make(folder):
        (folder / name).write_bytes(data)
        return folder / name
    return make


def empty_dir(folder):
    (folder / "docs").mkdir()
    (folder / "docs" / "notes.md").write_text("apple banana", encoding="utf-8")
    return folder / "docs"


def repeated_vocab(folder):
    path = write_npz(folder, "m.npz", sp.csr_matrix(np.eye(3, dtype=np.int32)))
    (folder / "vocab.txt").write_text("apple\nbanana\napple\n", encoding="utf-8")
    return path


def uci_header(folder):
    (folder / "docword.toy.txt").write_text("1000000000000\n3\n1\n1 1 1\n", encoding="utf-8")
    (folder / "vocab.toy.txt").write_text("apple\nbanana\ncherry\n", encoding="utf-8")
    return folder / "docword.toy.txt"


def old_corpus_folder(folder):
    Corpus(sp.csr_matrix(np.eye(3, dtype=np.int32)), ["apple", "banana", "cherry"]).save(folder / "prepared")
    meta = json.loads((folder / "prepared" / "meta.json").read_text(encoding="utf-8"))
    (folder / "prepared" / "meta.json").write_text(json.dumps({**meta, "format_version": 99}), encoding="utf-8")
    return folder / "prepared"


@pytest.mark.parametrize(
    ("make_input", "extra", "fragments"),
    [
        (lambda f: f / "nope.txt", [], ["nope.txt", "file not found"]),
        (empty_dir, [], ["docs", "no .txt files"]),
        (text_file("empty.txt", b""), [], ["empty.txt", "no documents"]),
        (text_file("stop.txt", b"the and of\nit is a 42\n"), [], ["stop.txt", "every document is empty"]),
        (text_file("blob.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20), [], ["blob.txt", "binary"]),
        (text_file("utf16.txt", "apple banana\n".encode("utf-16")), [], ["utf16.txt", "UTF-16", "iconv"]),
        (text_file("a.csv", b"id,body\n1,apple banana\n"), [], ["a.csv", "no column 'text'", "id, body"]),
        (text_file("a.csv", b"id,body\n1,apple banana\n"), ["--text-column", "txt"], ["no column 'txt'"]),
        (text_file("deep.jsonl", b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"), [],
         ["deep.jsonl", "line 1", "nested too deeply"]),
        (dense_npz, [], ["m.npz", "not a scipy sparse .npz"]),
        (damaged_csr, [], ["m.npz", "damaged sparse matrix", "indices must be < 3"]),
        (truncated_npz, [], ["m.npz", "not a scipy sparse .npz"]),
        (complex_npz, [], ["m.npz", "real numbers", "complex"]),
        (lambda f: write_npz(f, "m.npz", sp.csr_matrix(np.array([[1.0, -2.0, 0.0]]))), [], ["m.npz", "non-negative"]),
        (lambda f: write_npz(f, "m.npz", sp.csr_matrix(np.array([[1.0, 2.5, 0.0]]))), [], ["m.npz", "whole numbers"]),
        (lambda f: write_npz(f, "m.npz", sp.csr_matrix(np.eye(3)), vocab=["apple", "banana"]), [],
         ["vocab.txt: 2 words", "m.npz has 3 columns", "--vocab"]),
        (repeated_vocab, [], ["vocab.txt", "line 3 repeats 'apple' (first on line 1)"]),
        (uci_header, [], ["docword.toy.txt", "header values"]),
        (text_file("huge.mtx", b"%%MatrixMarket matrix coordinate integer general\n10000000000000000 3 1\n1 1 1\n"), [],
         ["huge.mtx", "does not fit in memory"]),  # 8 PB of row pointers: more than any address space
        (old_corpus_folder, [], ["prepared", "version"]),
    ],
)
def test_prepare_rejects_hostile_input(tmp_path, make_input, extra, fragments):
    path = make_input(tmp_path)
    out = tmp_path / "out"
    result = invoke(["prepare", path, "--out", out, *ALL_WORDS, *extra])
    assert_user_error(result, *fragments, out=out)
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreadable_file(tmp_path, monkeypatch):
    from deepgbn_text.text import readers

    path = tmp_path / "locked.txt"
    path.write_text("apple banana\n", encoding="utf-8")
    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(readers, "open", deny, raising=False)
    assert_user_error(invoke(["prepare", path, "--out", tmp_path / "out"]), "locked.txt", "permission denied",
                      out=tmp_path / "out")


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--layers", "0"], ["--layers"]),
        (["--layers", "3", "--topics", "128,64"], ["--topics gives 2 widths but --layers is 3"]),
        (["--layers", "2", "--topics", "4,0"], ["--topics", "positive"]),
        (["--layers", "1", "--topics", "50"], ["50 topics", "only 12 words"]),
    ],
)
def test_fit_rejects_widths_that_do_not_fit(good, tmp_path, options, fragments):
    out = tmp_path / "run"
    assert_user_error(invoke(["fit", good, "--out", out, *TINY_FIT, *options]), *fragments, out=out)


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_invalid_utf8_is_replaced_with_one_warning_naming_the_line(tmp_path):
    """Run as a user does (a new process), so the warning is seen exactly as printed on stderr."""
    path = tmp_path / "latin1.txt"
    path.write_bytes("apple banana\ncaf\u00e9 cherry\nna\u00efve doctor\n".encode("latin-1"))
    result = subprocess.run([sys.executable, "-m", "ggbn_topics", "prepare", str(path), "--out", str(tmp_path / "out"),
                             *ALL_WORDS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    stderr = " ".join(result.stderr.split())  # rich wraps long log lines
    assert stderr.count("WARNING") == 1 and stderr.count("invalid UTF-8") == 1, stderr
    assert "latin1.txt: line 2: invalid UTF-8 bytes were replaced by U+FFFD" in stderr
    corpus = Corpus.load(tmp_path / "out")
    assert corpus.n_docs == 3 and {"cherry", "doctor"} <= set(corpus.vocab)


def test_a_folder_with_bad_bytes_in_several_files_warns_once(tmp_path, caplog):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_bytes(b"apple banana\ncherry \xff doctor\n")
    result = invoke(["prepare", folder, "--out", tmp_path / "out", *ALL_WORDS])
    assert result.exit_code == 0, result.output
    [warning] = warnings(caplog)
    assert "a.txt: line 2: invalid UTF-8" in warning


def test_lone_surrogate_escapes_in_jsonl_are_replaced_with_a_warning(tmp_path, caplog):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "a\\udc80", "text": "apple caf\\ud800e banana"}\n{"text": "cherry doctor"}\n',
                    encoding="utf-8")
    result = invoke(["prepare", path, "--out", tmp_path / "out", *ALL_WORDS])
    assert result.exit_code == 0, result.output
    [warning] = warnings(caplog)
    assert "docs.jsonl: line 1: lone surrogate" in warning
    corpus = Corpus.load(tmp_path / "out")
    assert corpus.doc_ids == ["a\ufffd", "2"] and "apple" in corpus.vocab


def test_a_multi_megabyte_single_line_is_tokenised_in_chunks(tmp_path):
    path = tmp_path / "one-line.txt"
    line = " ".join(WORDS) + " "
    path.write_text(line * 80_000 + "\napple cherry\n", encoding="utf-8")  # ~6 MB on one line
    start = time.perf_counter()
    result = invoke(["prepare", path, "--out", tmp_path / "out", *ALL_WORDS])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 60
    corpus = Corpus.load(tmp_path / "out")
    assert corpus.n_docs == 2 and corpus.counts[0].sum() == 80_000 * len(WORDS)


def test_a_line_without_spaces_adds_no_giant_words(tmp_path):
    path = tmp_path / "junk.txt"
    junk = "".join(np.random.default_rng(0).choice(list("abcdefghij"), 300_000))  # cut into 100,000-letter chunks
    path.write_text(f"{junk}\napple banana\n", encoding="utf-8")
    result = invoke(["prepare", path, "--out", tmp_path / "out", *ALL_WORDS])
    assert result.exit_code == 0, result.output
    assert Corpus.load(tmp_path / "out").vocab == ["apple", "banana"]


def test_control_characters_never_reach_the_vocabulary(tmp_path):
    path = tmp_path / "ctl.txt.gz"
    path.write_bytes(gzip.compress(b"apple ban\x01ana esc\x1b[31mcherry\nbanana apple\n"))
    result = invoke(["prepare", path, "--out", tmp_path / "out", *ALL_WORDS])
    assert result.exit_code == 0, result.output
    assert all(w.isprintable() for w in Corpus.load(tmp_path / "out").vocab)
