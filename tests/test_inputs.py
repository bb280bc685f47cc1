"""The inputs people have: Parquet files (pyarrow), a pandas DataFrame column, gensim's Dictionary and
bag-of-words corpus in and out."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from deepgbn_text import Corpus, UserInputError
from deepgbn_text.text import TextOptions, build_corpus, load_corpus, read_documents
from ggbn_topics.app import app

ALL = TextOptions(min_df=1, max_df=1.0, max_vocab=None)
TEXTS = ["The quick brown foxes jump", None, "Lazy dogs sleep all day", "Quick dogs chase brown foxes"]


@pytest.fixture
def parquet_file(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "docs.parquet"
    table = pa.table({"id": ["a", "b", "c", "d"], "body": TEXTS, "year": [2001, 2002, 2003, 2004]})
    pq.write_table(table, path, row_group_size=2)  # two record batches
    return path


def test_parquet_text_column_with_ids(parquet_file):
    assert list(read_documents(parquet_file, text_column="body")) == [
        ("a", TEXTS[0]), ("b", ""), ("c", TEXTS[2]), ("d", TEXTS[3])]
    corpus = load_corpus(parquet_file, text_column="body", options=ALL)
    assert list(corpus.doc_ids) == ["a", "b", "c", "d"] and "foxes" in corpus.vocab


def test_prepare_reads_parquet_on_the_command_line(parquet_file, tmp_path):
    result = CliRunner().invoke(app, ["prepare", str(parquet_file), "--out", str(tmp_path / "c"), "--text-column",
                                      "body", "--min-df", "1", "--max-df", "1.0"])
    assert result.exit_code == 0, result.output
    assert Corpus.load(tmp_path / "c").n_docs == 4


@pytest.mark.parametrize("column, match", [("text", r"has no column 'text' \(columns: id, body, year\)"),
                                           ("year", "row 1: column 'year' is not text")])
def test_parquet_wrong_column_is_one_line(parquet_file, column, match):
    with pytest.raises(UserInputError, match=match):
        list(read_documents(parquet_file, text_column=column))


def test_parquet_without_pyarrow_says_what_to_install(parquet_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(UserInputError, match=r"reading Parquet needs pyarrow: pip install pyarrow"):
        list(read_documents(parquet_file, text_column="body"))


def test_damaged_parquet_is_one_line(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(UserInputError, match="not a readable Parquet file"):
        list(read_documents(path))


def test_dataframe_column_keeps_its_index_as_ids():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"text": TEXTS}, index=["a", "b", "c", "d"])
    corpus = build_corpus(frame["text"], ALL)
    assert list(corpus.doc_ids) == ["a", "b", "c", "d"] and corpus.counts[1].nnz == 0
    assert corpus.vocab == build_corpus([t or "" for t in TEXTS], ALL).vocab


def test_gensim_dictionary_and_bow_in_and_out():
    from gensim.corpora import Dictionary

    docs = [["apple", "pear", "apple"], ["pear", "plum"], ["fig"], []]
    dictionary = Dictionary(docs)
    bow = [dictionary.doc2bow(d) for d in docs]
    corpus = Corpus.from_gensim(dictionary, bow, doc_ids=["d1", "d2", "d3", "d4"])
    assert corpus.vocab == [dictionary[i] for i in range(len(dictionary))]
    assert corpus.counts[0, corpus.vocab.index("apple")] == 2 and corpus.counts[3].nnz == 0
    again, again_bow = corpus.to_gensim()
    assert again.token2id == dictionary.token2id and again.dfs == dictionary.dfs
    assert again_bow == bow and again.num_docs == dictionary.num_docs


def test_gensim_dictionary_with_gaps_in_its_ids():
    from gensim.corpora import Dictionary

    bow = [[(0, 1), (5, 2)], [(5, 1)]]
    corpus = Corpus.from_gensim(Dictionary.from_corpus(bow, id2word={0: "apple", 5: "fig"}), bow)
    assert corpus.vocab == ["apple", "fig"] and corpus.counts.toarray().tolist() == [[1, 2], [0, 1]]
