"""Corpus: validation, save/load round trip, the memory-mapped folder format (2) and format 1 folders."""
from __future__ import annotations

import json
import mmap

import numpy as np
import pytest
import scipy.sparse as sp

from deepgbn_text import GeneralizedGBN, csr_files
from deepgbn_text.storage.corpus import Corpus, read_vocab
from deepgbn_text.errors import UserInputError


def make_corpus():
    counts = sp.csr_matrix(np.array([[1, 0, 2], [0, 0, 0], [0, 3, 1]]))
    return Corpus(counts, ["alpha", "b\u00e9ta", "\u03b3amma"], ["d1", "d/2", "\u6771"])


def test_round_trip(tmp_path):
    corpus = make_corpus()
    corpus.save(tmp_path / "c")
    again = Corpus.load(tmp_path / "c")
    assert again.vocab == corpus.vocab and again.doc_ids == corpus.doc_ids
    assert again.counts.dtype == np.int32 and again.counts.shape == (3, 3)
    np.testing.assert_array_equal(again.counts.toarray(), corpus.counts.toarray())
    assert again.vocab_hash() == corpus.vocab_hash()
    assert read_vocab(tmp_path / "c" / "vocab.txt") == corpus.vocab
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["counts", "doc_ids.txt", "meta.json", "vocab.txt"]
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    assert meta == {"format_version": 2, "n_docs": 3, "n_words": 3, "n_tokens": 7, "vocab_hash": corpus.vocab_hash()}


def _maps_a_file(array):
    while array is not None and not isinstance(array, mmap.mmap):
        array = getattr(array, "base", None)
    return array is not None


def test_loaded_counts_are_memory_maps_not_copies(tmp_path):
    make_corpus().save(tmp_path / "c")
    counts = Corpus.load(tmp_path / "c").counts
    for name, array in (("indptr", counts.indptr), ("indices", counts.indices), ("data", counts.data)):
        on_disk = np.load(tmp_path / "c" / "counts" / f"{name}.npy", mmap_mode="r")
        assert on_disk.dtype == np.int32 and not array.flags.writeable
        assert _maps_a_file(array), name
        np.testing.assert_array_equal(array, on_disk)
    np.testing.assert_array_equal(counts[[2, 0]].toarray(), [[0, 3, 1], [1, 0, 2]])  # rows read, not written
    in_memory = Corpus.load(tmp_path / "c", mmap=False).counts
    assert not _maps_a_file(in_memory.data) and (in_memory != counts).nnz == 0


def test_reads_format_1_folders(tmp_path):
    corpus = make_corpus()
    (tmp_path / "v1").mkdir()
    sp.save_npz(tmp_path / "v1" / "counts.npz", corpus.counts)
    (tmp_path / "v1" / "vocab.txt").write_text("".join(w + "\n" for w in corpus.vocab), encoding="utf-8")
    meta = {"format_version": 1, "n_docs": 3, "n_words": 3, "n_tokens": 7, "doc_ids": corpus.doc_ids}
    (tmp_path / "v1" / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    old = Corpus.load(tmp_path / "v1")
    assert old.doc_ids == corpus.doc_ids and old.vocab == corpus.vocab and (old.counts != corpus.counts).nnz == 0
    old.save(tmp_path / "v2")  # an old folder is upgraded by saving it again
    assert (tmp_path / "v2" / "counts" / "data.npy").is_file()


def test_doc_ids_keep_carriage_returns_and_empty_ids(tmp_path):
    counts = sp.csr_matrix(np.array([[1], [2], [3]]))
    Corpus(counts, ["a"], ["x\ry", "", " z "]).save(tmp_path / "c")
    assert Corpus.load(tmp_path / "c").doc_ids == ["x\ry", "", " z "]


@pytest.mark.parametrize("text,problem", [("a\nb\n", "2 ids for 3 documents"), ("a\nb\nc\nd", "4 ids for 3"),
                                          (b"a\n\xff\nc\n", "not UTF-8")])
def test_a_damaged_doc_ids_file_is_refused_when_the_corpus_is_loaded(tmp_path, text, problem):
    Corpus(sp.csr_matrix(np.array([[1], [2], [3]])), ["w"], ["a", "b", "c"]).save(tmp_path / "c")
    ids = tmp_path / "c" / "doc_ids.txt"
    ids.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UserInputError, match=problem):
        Corpus.load(tmp_path / "c")


def test_document_ids_are_read_only_when_used(tmp_path, small_corpus):
    small_corpus.save(tmp_path / "c")
    loaded = Corpus.load(tmp_path / "c")
    GeneralizedGBN(n_topics=[4], n_layers=1, hidden=8, epochs=1, device="cpu").fit(loaded)
    assert loaded.doc_ids._ids is None  # fitting never touched them
    assert loaded.doc_ids == small_corpus.doc_ids and loaded.doc_ids[2:4] == small_corpus.doc_ids[2:4]
    assert loaded.subset([3, 1]).doc_ids == [small_corpus.doc_ids[3], small_corpus.doc_ids[1]]


def test_a_doc_id_with_a_line_break_is_refused_and_nothing_is_written(tmp_path):
    corpus = Corpus(sp.csr_matrix(np.array([[1], [2]])), ["a"], ["ok", "two\nlines"])
    with pytest.raises(UserInputError, match="line break"):
        corpus.save(tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


def test_empty_documents_and_an_all_empty_matrix_round_trip(tmp_path):
    Corpus(sp.csr_matrix((2, 3), dtype=np.int32), ["a", "b", "c"]).save(tmp_path / "c")
    again = Corpus.load(tmp_path / "c")
    assert again.counts.shape == (2, 3) and again.counts.nnz == 0 and again.doc_ids == ["0", "1"]


def test_checks_run_in_blocks_and_cross_row_order_is_not_an_error(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    counts = sp.random(40, 30, density=0.3, format="csr", random_state=rng, data_rvs=lambda n: rng.integers(1, 5, n))
    corpus = Corpus(counts, [f"w{j}" for j in range(30)])
    corpus.save(tmp_path / "c")
    monkeypatch.setattr(csr_files, "BLOCK_ENTRIES", 3)
    assert (Corpus.load(tmp_path / "c").counts != corpus.counts).nnz == 0
    data = np.load(tmp_path / "c" / "counts" / "data.npy")
    data[-1] = 0  # in the last block
    np.save(tmp_path / "c" / "counts" / "data.npy", data)
    with pytest.raises(UserInputError, match="zero or negative"):
        Corpus.load(tmp_path / "c")


def test_row_sums_in_blocks_match_scipy(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    counts = sp.random(50, 20, density=0.2, format="csr", random_state=rng, data_rvs=lambda n: rng.integers(1, 9, n))
    monkeypatch.setattr(csr_files, "BLOCK_ENTRIES", 4)
    expected = np.asarray(counts.sum(axis=1)).ravel()
    assert expected[np.diff(counts.indptr) == 0].size > 0  # some empty rows
    np.testing.assert_array_equal(csr_files.row_sums(counts.astype(np.int32)), expected)


def test_nonempty_is_the_corpus_itself_when_no_document_is_empty():
    corpus = make_corpus().subset([0, 2])
    assert corpus.nonempty() is corpus


def test_index_dtype_follows_scipy():
    assert csr_files.index_dtype(10, 10, 2**31 - 1) == np.int32
    assert csr_files.index_dtype(10, 10, 2**31) == np.int64
    assert csr_files.index_dtype(2**31, 10, 0) == np.int64


def test_writer_checks_the_announced_sizes(tmp_path):
    with pytest.raises(ValueError, match="announced"):
        with csr_files.CSRWriter(tmp_path / "w", n_docs=3, n_words=3, nnz=4) as writer:
            writer.append(make_corpus().counts[:2])


def test_save_overwrites(tmp_path):
    make_corpus().save(tmp_path / "c")
    make_corpus().subset([0, 2]).save(tmp_path / "c")
    assert Corpus.load(tmp_path / "c").doc_ids == ["d1", "\u6771"]


def test_nonempty_and_subset():
    corpus = make_corpus()
    assert corpus.nonempty().doc_ids == ["d1", "\u6771"]
    assert corpus.n_tokens == 7 and corpus.n_docs == 3 and corpus.n_words == 3


@pytest.mark.parametrize(
    ("counts", "vocab", "ids"),
    [
        (np.array([[1, 2]]), ["a"], None),  # vocabulary size mismatch
        (np.array([[1, 2]]), ["a", "a"], None),  # duplicate word
        (np.array([[1, -2]]), ["a", "b"], None),  # negative
        (np.array([[1, 0.5]]), ["a", "b"], None),  # not whole
        (np.array([[1, np.nan]]), ["a", "b"], None),  # NaN
        (np.array([[1, 2]]), ["a", "b"], ["x", "y"]),  # too many ids
    ],
)
def test_validation(counts, vocab, ids):
    with pytest.raises(UserInputError):
        Corpus(sp.csr_matrix(counts), vocab, ids or [])


def test_load_errors(tmp_path):
    with pytest.raises(UserInputError, match="meta.json"):
        Corpus.load(tmp_path)
    make_corpus().save(tmp_path / "c")
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "c" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserInputError, match="version"):
        Corpus.load(tmp_path / "c")


def _damage(folder, name, change):
    path = folder / "counts" / f"{name}.npy"
    array = np.load(path)
    np.save(path, change(array))


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("indices", lambda a: np.where(a == 2, 7, a), "column index outside"),
        ("indices", lambda a: a[[1, 0, 2, 3]], "strictly increasing"),
        ("data", lambda a: -a, "zero or negative"),
        ("data", lambda a: a.astype(np.float32), "dtypes"),
        ("indptr", lambda a: a[:-1], "indptr does not match"),
        ("indptr", lambda a: np.array([0, 3, 2, 4], dtype=a.dtype), "indptr decreases"),
    ],
)
def test_damaged_count_arrays_are_one_line_errors(tmp_path, name, change, message):
    make_corpus().save(tmp_path / "c")
    _damage(tmp_path / "c", name, change)
    with pytest.raises(UserInputError, match=message) as info:
        Corpus.load(tmp_path / "c")
    assert "prepare the corpus again" in str(info.value) and "\n" not in str(info.value)


def test_missing_or_mismatched_files(tmp_path):
    make_corpus().save(tmp_path / "c")
    (tmp_path / "c" / "doc_ids.txt").write_text("only\none\n", encoding="utf-8")
    with pytest.raises(UserInputError, match="2 ids for 3 documents"):
        Corpus.load(tmp_path / "c")
    (tmp_path / "c" / "counts" / "data.npy").write_bytes(b"not an array")
    with pytest.raises(UserInputError, match="data.npy"):
        Corpus.load(tmp_path / "c", mmap=False)
    (tmp_path / "c" / "doc_ids.txt").unlink()
    with pytest.raises(UserInputError, match="missing doc_ids.txt"):
        Corpus.load(tmp_path / "c")


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from deepgbn_text.storage.atomic import atomic_dir, write_text

    write_text(tmp_path / "a.txt", "x")
    with atomic_dir(tmp_path / "d") as folder:
        (folder / "f").write_text("y")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask
