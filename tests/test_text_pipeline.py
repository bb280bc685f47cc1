"""Tokenisation, vocabulary filtering, vectorize, and loading count matrices."""
from __future__ import annotations

import gzip
import itertools
import string

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepgbn_text.storage.corpus import Corpus
from deepgbn_text.errors import UserInputError
from deepgbn_text.text import TextOptions, build_corpus, load_corpus, vectorize

ALL = dict(min_df=1, max_df=1.0, max_vocab=None)  # no vocabulary filtering


def write_lines(path, texts):
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    return path


def dense(corpus):
    return {w: corpus.counts[:, j].toarray().ravel().tolist() for j, w in enumerate(corpus.vocab)}


# ------------------------------------------------------------------------------- tokenising


def test_drops_stopwords_numbers_urls_emails_punctuation(tmp_path):
    text = (
        "The 42 cats, and 3.14 dogs! Visit https://example.com/page or www.example.org, "
        "write bob@example.com -- x9y ok 1st ... Cats"
    )
    corpus = load_corpus(write_lines(tmp_path / "a.txt", [text]), options=TextOptions(**ALL))
    assert corpus.vocab == ["cats", "dogs", "visit", "write"]
    assert dense(corpus)["cats"] == [2]


def test_min_token_len(tmp_path):
    f = write_lines(tmp_path / "a.txt", ["ox cat horse ox"])
    assert load_corpus(f, options=TextOptions(**ALL)).vocab == ["cat", "horse"]
    assert load_corpus(f, options=TextOptions(min_token_len=2, **ALL)).vocab == ["cat", "horse", "ox"]
    assert load_corpus(f, options=TextOptions(min_token_len=4, **ALL)).vocab == ["horse"]


def test_stopwords_file(tmp_path):
    stop = tmp_path / "stop.txt"
    stop.write_text("# my stop words\nCats\n\nhorse\n", encoding="utf-8")
    f = write_lines(tmp_path / "a.txt", ["cats horse zebra lion"])
    corpus = load_corpus(f, options=TextOptions(stopwords_file=str(stop), **ALL))
    assert corpus.vocab == ["lion", "zebra"]


def test_lemmatize(tmp_path):
    f = write_lines(tmp_path / "a.txt", ["Running runs ran mice studies", "the mouse is running"])
    plain = load_corpus(f, options=TextOptions(**ALL))
    assert "running" in plain.vocab and "run" not in plain.vocab
    corpus = load_corpus(f, options=TextOptions(lemmatize=True, **ALL))
    counts = dense(corpus)
    assert counts["run"] == [3, 1]
    assert counts["mouse"] == [1, 1]
    assert counts["study"] == [1, 0]
    assert "running" not in corpus.vocab


def _unique_words(n):
    letters = string.ascii_lowercase
    return ["".join(p) for p in itertools.islice(itertools.product(letters, repeat=4), n)]


def test_phrases_learn_a_forced_bigram(tmp_path):
    filler = iter(_unique_words(400))
    texts = [f"{next(filler)} new york {next(filler)} {next(filler)} {next(filler)}" for _ in range(40)]
    texts += ["york alone here", "new things appear"]
    f = write_lines(tmp_path / "a.txt", texts)
    options = TextOptions(phrases=True, phrase_min_count=5, phrase_threshold=2.0, **ALL)
    calls = []
    corpus = load_corpus(f, options=options, progress=calls.append)
    assert corpus.vocab[0] == "new_york"
    assert dense(corpus)["new_york"] == [1] * 40 + [0, 0]
    assert dense(corpus)["york"] == [0] * 40 + [1, 0]
    assert calls and calls[-1] == 2 * len(texts)  # the input is read twice
    row = vectorize(["I love New York and new things"], corpus.vocab, options).toarray()[0]
    assert row[corpus.vocab.index("new_york")] == 1 and row[corpus.vocab.index("new")] == 1
    assert row[corpus.vocab.index("things")] == 1


# ------------------------------------------------------------------------------- vocabulary

DF_TEXTS = [
    "apple banana cherry",
    "apple banana",
    "apple banana dates",
    "apple cherry",
    "apple elder",
    "apple fig",
]  # document frequencies: apple 6, banana 3, cherry 2, dates/elder/fig 1


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        (dict(min_df=1, max_df=1.0, max_vocab=None), ["apple", "banana", "cherry", "dates", "elder", "fig"]),
        (dict(min_df=2, max_df=1.0, max_vocab=None), ["apple", "banana", "cherry"]),
        (dict(min_df=0.3, max_df=1.0, max_vocab=None), ["apple", "banana", "cherry"]),  # >= 1.8 docs
        (dict(min_df=1, max_df=0.5, max_vocab=None), ["banana", "cherry", "dates", "elder", "fig"]),
        (dict(min_df=1, max_df=2, max_vocab=None), ["cherry", "dates", "elder", "fig"]),
        (dict(min_df=1, max_df=1.0, max_vocab=2), ["apple", "banana"]),
        (dict(min_df=1, max_df=0.5, max_vocab=4), ["banana", "cherry", "dates", "elder"]),
    ],
)
def test_min_df_max_df_max_vocab(kw, expected):
    corpus = build_corpus(DF_TEXTS, TextOptions(**kw))
    assert corpus.vocab == expected
    assert corpus.counts.shape == (6, len(expected))
    assert corpus.counts.dtype == np.int32


def test_vocab_order_is_deterministic(tmp_path):
    a = build_corpus(DF_TEXTS, TextOptions(**ALL))
    b = build_corpus(list(reversed(DF_TEXTS)), TextOptions(**ALL))
    assert a.vocab == b.vocab
    np.testing.assert_array_equal(a.counts.toarray(), b.counts.toarray()[::-1])


def test_vectorize_matches_load_corpus(tmp_path):
    texts = ["Cats chase mice.", "", "Dogs chase cats and cats chase dogs!", "mice everywhere, mice"] * 3
    corpus = load_corpus(write_lines(tmp_path / "a.txt", texts), options=TextOptions(**ALL))
    assert corpus.doc_ids == [str(i) for i in range(1, 13)]
    counts = vectorize(iter(texts), corpus.vocab, TextOptions(**ALL))
    assert counts.dtype == np.int32 and counts.shape == corpus.counts.shape
    assert (counts != corpus.counts).nnz == 0
    other = vectorize(["zebra cats"], corpus.vocab)
    assert other.toarray()[0].tolist() == [1 if w == "cats" else 0 for w in corpus.vocab]


def test_csv_and_jsonl_load(tmp_path):
    c = tmp_path / "a.csv"
    c.write_text("id,text\nd1,apple pie\nd2,apple tart\n", encoding="utf-8")
    corpus = load_corpus(c, options=TextOptions(**ALL))
    assert corpus.doc_ids == ["d1", "d2"] and corpus.vocab == ["apple", "pie", "tart"]
    j = tmp_path / "a.jsonl.gz"
    j.write_bytes(gzip.compress(b'{"body": "apple pie"}\n{"body": "apple"}\n'))
    corpus = load_corpus(j, text_column="body", options=TextOptions(**ALL))
    assert corpus.doc_ids == ["1", "2"] and corpus.vocab == ["apple", "pie"]


# ------------------------------------------------------------------------------- errors


def _msg(fn, *args, **kw):
    with pytest.raises(UserInputError) as info:
        fn(*args, **kw)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_empty_input(tmp_path):
    f = tmp_path / "empty.txt"
    f.write_bytes(b"")
    assert "empty.txt: no documents" in _msg(load_corpus, f, options=TextOptions(**ALL))


def test_every_document_empty(tmp_path):
    f = write_lines(tmp_path / "nums.txt", ["1 2 3", "", "the and of"])
    assert "every document is empty" in _msg(load_corpus, f, options=TextOptions(**ALL))


def test_vocabulary_empty_after_filtering(tmp_path):
    f = write_lines(tmp_path / "a.txt", ["apple pie", "banana split"])
    msg = _msg(load_corpus, f)  # default min_df=5 keeps nothing in 2 documents
    assert "--min-df" in msg and "--max-df" in msg and "--max-vocab" in msg and "lower --min-df" in msg


@pytest.mark.parametrize(
    ("kw", "option"),
    [
        (dict(min_df=0), "--min-df"),
        (dict(min_df=2.5), "--min-df"),
        (dict(max_df=0), "--max-df"),
        (dict(max_df=2.5), "--max-df"),
        (dict(min_df=10, max_df=5), "--min-df"),
        (dict(max_vocab=0), "--max-vocab"),
        (dict(min_token_len=0), "--min-token-len"),
        (dict(batch_size=0), "--batch-size"),
        (dict(stopwords_file="/no/such/stop.txt"), "--stopwords-file"),
    ],
)
def test_options_validate(kw, option):
    assert option in _msg(TextOptions(**kw).validate)
    assert option in _msg(vectorize, ["x"], ["x"], TextOptions(**kw))


# ------------------------------------------------------------------------------- matrices


@pytest.fixture
def small_counts():
    return sp.csr_matrix(np.array([[1, 0, 2], [0, 3, 0]], dtype=np.int64))


def test_npz_with_vocab_next_to_it_and_explicit(tmp_path, small_counts):
    sp.save_npz(tmp_path / "m.npz", small_counts)
    (tmp_path / "vocab.txt").write_text("a\nb\nc\n", encoding="utf-8")
    corpus = load_corpus(tmp_path / "m.npz")
    assert corpus.vocab == ["a", "b", "c"] and corpus.counts.dtype == np.int32
    np.testing.assert_array_equal(corpus.counts.toarray(), small_counts.toarray())
    other = tmp_path / "words.txt"
    other.write_text("x\ny\nz\n", encoding="utf-8")
    assert load_corpus(tmp_path / "m.npz", vocab_path=other).vocab == ["x", "y", "z"]


def test_npz_without_vocab(tmp_path, small_counts):
    sp.save_npz(tmp_path / "m.npz", small_counts)
    msg = _msg(load_corpus, tmp_path / "m.npz")
    assert "m.npz" in msg and "--vocab" in msg


def test_npz_mismatched_vocab(tmp_path, small_counts):
    sp.save_npz(tmp_path / "m.npz", small_counts)
    (tmp_path / "vocab.txt").write_text("a\nb\n", encoding="utf-8")
    assert "2 words" in _msg(load_corpus, tmp_path / "m.npz")


@pytest.mark.parametrize("bad", [-1.0, 0.5])
def test_npz_negative_or_fractional_counts(tmp_path, bad):
    sp.save_npz(tmp_path / "m.npz", sp.csr_matrix(np.array([[1.0, bad]])))
    (tmp_path / "vocab.txt").write_text("a\nb\n", encoding="utf-8")
    assert "m.npz" in _msg(load_corpus, tmp_path / "m.npz")


@pytest.mark.parametrize("gz", [False, True])
def test_uci_docword(tmp_path, gz):
    body = b"3\n4\n4\n1 1 2\n1 4 1\n3 2 5\n3 3 1\n"
    name = "docword.toy.txt" + (".gz" if gz else "")
    (tmp_path / name).write_bytes(gzip.compress(body) if gz else body)
    (tmp_path / "vocab.toy.txt").write_text("w1\nw2\nw3\nw4\n", encoding="utf-8")
    corpus = load_corpus(tmp_path / name)
    assert corpus.vocab == ["w1", "w2", "w3", "w4"]
    assert corpus.counts.toarray().tolist() == [[2, 0, 0, 1], [0, 0, 0, 0], [0, 5, 1, 0]]
    assert corpus.doc_ids == ["1", "2", "3"]


def test_uci_errors(tmp_path):
    (tmp_path / "vocab.toy.txt").write_text("w1\nw2\n", encoding="utf-8")
    f = tmp_path / "docword.toy.txt"
    f.write_text("2\n3\n1\n1 1 1\n", encoding="utf-8")
    assert "3 columns" in _msg(load_corpus, f)  # vocabulary has 2 words, the header says 3
    f.write_text("2\n2\n2\n1 1 1\n", encoding="utf-8")
    assert "docword.toy.txt" in _msg(load_corpus, f)  # NNZ mismatch
    f.write_text("2\n2\n1\n1 3 1\n", encoding="utf-8")
    assert "word ids" in _msg(load_corpus, f)
    f.write_text("2\n2\n1\n1 1 -4\n", encoding="utf-8")
    assert "non-negative" in _msg(load_corpus, f)


def test_mtx(tmp_path, small_counts):
    scipy.io.mmwrite(str(tmp_path / "m.mtx"), small_counts)
    (tmp_path / "vocab.txt").write_text("a\nb\nc\n", encoding="utf-8")
    corpus = load_corpus(tmp_path / "m.mtx")
    np.testing.assert_array_equal(corpus.counts.toarray(), small_counts.toarray())
    (tmp_path / "vocab.txt").write_text("a\nb\nc\nd\n", encoding="utf-8")
    assert "4 words" in _msg(load_corpus, tmp_path / "m.mtx")


def test_prepared_corpus_folder(tmp_path):
    corpus = build_corpus(DF_TEXTS, TextOptions(**ALL))
    corpus.save(tmp_path / "prepared")
    again = load_corpus(tmp_path / "prepared")
    assert again.vocab == corpus.vocab and again.doc_ids == corpus.doc_ids
    assert (again.counts != corpus.counts).nnz == 0


# ------------------------------------------------------------------------------- property


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=60), max_size=6))
def test_random_unicode_texts(texts):
    options = TextOptions(min_df=1, max_df=1.0, max_vocab=None, min_token_len=1)
    try:
        corpus = build_corpus(texts, options)
    except UserInputError as exc:  # only when there is nothing to count
        assert "no documents" in str(exc) or "every document is empty" in str(exc)
    else:
        assert isinstance(corpus, Corpus)
        assert corpus.counts.shape[0] == len(texts)
        again = vectorize(texts, corpus.vocab, options)
        assert (again != corpus.counts).nnz == 0
