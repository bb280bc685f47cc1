"""prepare_corpus: the streamed (sharded, two-pass) corpus folder equals the in-memory corpus; atomic
writes; a prepared folder loads and fits without spaCy or gensim."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from deepgbn_text.corpora import sample_path
from deepgbn_text.storage.corpus import Corpus
from deepgbn_text.errors import UserInputError
from deepgbn_text.text import TextOptions, build_corpus, load_corpus
from deepgbn_text.text import streaming
from deepgbn_text.text.streaming import prepare_corpus

OPTIONS = TextOptions(min_df=3, max_df=0.5, max_vocab=400)


@pytest.fixture(scope="module")
def news_lines():
    lines = gzip.open(sample_path("20news-sample"), "rt", encoding="utf-8").read().splitlines()[:300]
    return lines[:40] + ["", "12 34 the and"] + lines[40:]  # an empty document and one emptied by the tokenizer


@pytest.fixture
def small_shards(monkeypatch):
    """Shards of a few hundred entries, and a record of the rows in each."""
    monkeypatch.setattr(streaming, "SHARD_ENTRIES", 300)
    rows: list[int] = []
    save = sp.save_npz

    def spy(path, matrix, compressed):
        rows.append(matrix.shape[0])
        save(path, matrix, compressed=compressed)

    monkeypatch.setattr(streaming.sp, "save_npz", spy)
    return rows


def assert_same(folder, expected: Corpus) -> None:
    got = Corpus.load(folder)
    assert got.vocab == expected.vocab
    assert got.doc_ids == expected.doc_ids
    assert got.counts.shape == expected.counts.shape and (got.counts != expected.counts).nnz == 0
    np.testing.assert_array_equal(got.counts.indices, expected.counts.indices)  # same order within rows
    assert json.loads((folder / "meta.json").read_text())["n_tokens"] == expected.n_tokens


def test_streamed_folder_equals_the_in_memory_corpus(tmp_path, news_lines, small_shards):
    (tmp_path / "news.txt").write_text("\n".join(news_lines) + "\n", encoding="utf-8")
    info = prepare_corpus(tmp_path / "news.txt", tmp_path / "prepared", options=OPTIONS)
    expected = build_corpus(news_lines, OPTIONS)
    assert len(small_shards) > 10 and sum(small_shards) == len(news_lines)  # counts went through many shards
    assert_same(tmp_path / "prepared", expected)
    assert (info.n_docs, info.n_words, info.n_tokens) == (expected.n_docs, expected.n_words, expected.n_tokens)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["news.txt", "prepared"]  # no shards or temp folder left
    assert not (tmp_path / "prepared" / ".shards").exists()


def test_streamed_csv_with_ids_and_phrases(tmp_path, news_lines, small_shards):
    texts = news_lines[:200]
    rows = [{"id": f"doc-{i}\r", "text": t} for i, t in enumerate(texts)]
    (tmp_path / "news.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    options = TextOptions(min_df=2, max_df=0.5, max_vocab=None, phrases=True, phrase_min_count=3)
    prepare_corpus(tmp_path / "news.jsonl", tmp_path / "prepared", options=options)
    assert_same(tmp_path / "prepared", build_corpus(texts, options, doc_ids=[r["id"] for r in rows]))


def test_count_matrices_and_old_folders_are_written_in_the_new_format(tmp_path):
    counts = sp.csr_matrix(np.array([[1, 0, 2], [0, 0, 0], [0, 3, 1]]))
    sp.save_npz(tmp_path / "m.npz", counts)
    (tmp_path / "vocab.txt").write_text("a\nb\nc\n", encoding="utf-8")
    info = prepare_corpus(tmp_path / "m.npz", tmp_path / "from-npz")
    assert (info.n_docs, info.n_words, info.n_tokens) == (3, 3, 7)
    assert_same(tmp_path / "from-npz", load_corpus(tmp_path / "m.npz"))
    old = tmp_path / "old"
    old.mkdir()
    sp.save_npz(old / "counts.npz", counts)
    (old / "vocab.txt").write_text("a\nb\nc\n", encoding="utf-8")
    (old / "meta.json").write_text(json.dumps({"format_version": 1, "doc_ids": ["x", "y", "z"]}), encoding="utf-8")
    prepare_corpus(old, tmp_path / "upgraded")
    assert Corpus.load(tmp_path / "upgraded").doc_ids == ["x", "y", "z"]
    assert load_corpus(tmp_path / "upgraded").n_tokens == 7  # detected as a corpus folder


@pytest.mark.parametrize(
    ("lines", "options", "message"),
    [
        (["alpha beta", "gamma delta"], TextOptions(min_df=2), "vocabulary is empty"),
        (["the and", "12 34"], TextOptions(min_df=1), "every document is empty"),
        (["fine words here", "bad"], TextOptions(min_df=1), "KeyboardInterrupt"),
    ],
)
def test_failures_leave_nothing_behind(tmp_path, lines, options, message):
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    options.batch_size = 1
    progress = interrupt if message == "KeyboardInterrupt" else None
    with pytest.raises((UserInputError, KeyboardInterrupt)) as info:
        prepare_corpus(tmp_path / "in.txt", tmp_path / "out", options=options, progress=progress)
    assert message in (str(info.value) or info.typename)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_the_output_may_not_be_inside_an_input_folder(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("some words here", encoding="utf-8")
    with pytest.raises(UserInputError, match="inside the input folder"):
        prepare_corpus(tmp_path / "docs", tmp_path / "docs" / "prepared", options=TextOptions(min_df=1))
    assert [p.name for p in (tmp_path / "docs").iterdir()] == ["a.txt"]


def test_a_prepared_folder_loads_and_fits_without_spacy_or_gensim(tmp_path, small_corpus):
    small_corpus.save(tmp_path / "prepared")
    script = textwrap.dedent(f"""
        import sys
        import deepgbn_text, deepgbn_text.estimator, deepgbn_text.storage.corpus
        from deepgbn_text.storage.corpus import Corpus
        from deepgbn_text.text import load_corpus
        import ggbn_topics.app
        corpus = load_corpus({str(tmp_path / "prepared")!r})
        Corpus.load({str(tmp_path / "prepared")!r})
        deepgbn_text.GeneralizedGBN(n_topics=[4], n_layers=1, hidden=8, epochs=1, device="cpu").fit(corpus)
        print(sorted({{m.split(".")[0] for m in sys.modules}} & {{"spacy", "gensim"}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
