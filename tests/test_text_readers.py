"""Readers: every raw text format, encodings, and the error messages."""
from __future__ import annotations

import gzip
import json
import logging
import os

import pytest

from deepgbn_text.errors import UserInputError
from deepgbn_text.text import TextOptions, read_documents, vectorize
from deepgbn_text.text.readers import detect_format
from deepgbn_text.text.tokenize import CHUNK_CHARS, split_long_text


def docs(path, **kw):
    return list(read_documents(path, **kw))


def test_txt_one_document_per_line_with_empty_lines(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("first doc\n\nthird doc\r\nfourth\n", encoding="utf-8")
    assert docs(f) == [("1", "first doc"), ("2", ""), ("3", "third doc"), ("4", "fourth")]


def test_txt_without_trailing_newline_and_bom(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(b"\xef\xbb\xbfone\ntwo")
    assert docs(f) == [("1", "one"), ("2", "two")]


def test_txt_gz_and_gzip_detected_by_magic_bytes(tmp_path):
    f = tmp_path / "a.txt.gz"
    f.write_bytes(gzip.compress("caf\u00e9 na\u00efve\nz\u00fcrich \u6771\u4eac\n".encode()))
    assert docs(f) == [("1", "caf\u00e9 na\u00efve"), ("2", "z\u00fcrich \u6771\u4eac")]
    g = tmp_path / "noext"
    g.write_bytes(gzip.compress(b"hello\nworld\n"))
    assert detect_format(g) == "txt"
    assert docs(g) == [("1", "hello"), ("2", "world")]


def test_unicode_separators_do_not_split_lines(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("one\u2028still one\u0085x\nsecond\n", encoding="utf-8")
    assert [d for _, d in docs(f)] == ["one\u2028still one\u0085x", "second"]


def test_invalid_utf8_warns_once_and_still_reads(tmp_path, caplog):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"ok line\nbad \xff\xfe byte\nanother \xc3\x28 bad\n")
    with caplog.at_level(logging.WARNING, logger="deepgbn_text"):
        out = docs(f)
    assert len(out) == 3
    assert out[1][1] == "bad \ufffd\ufffd byte"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "bad.txt" in warnings[0].getMessage()


def test_dir_sorted_recursive_relative_ids(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("bee\nline two", encoding="utf-8")
    (tmp_path / "a.txt").write_text("ay", encoding="utf-8")
    (tmp_path / "sub" / "c.txt").write_text("sea", encoding="utf-8")
    (tmp_path / "ignored.md").write_text("nope", encoding="utf-8")
    assert detect_format(tmp_path) == "dir"
    assert docs(tmp_path) == [("a.txt", "ay"), ("b.txt", "bee\nline two"), ("sub/c.txt", "sea")]


def test_csv_with_and_without_id(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text('id,text,other\nx1,"hello, world",1\nx2,"multi\nline",2\n', encoding="utf-8")
    assert docs(f) == [("x1", "hello, world"), ("x2", "multi\nline")]
    g = tmp_path / "b.csv.gz"
    g.write_bytes(gzip.compress(b"body,lang\nfirst,en\nsecond,en\n"))
    assert docs(g, text_column="body") == [("1", "first"), ("2", "second")]


def test_jsonl_and_gz(tmp_path):
    f = tmp_path / "a.jsonl"
    lines = [{"id": 7, "text": "seven"}, {"text": "no id"}, {"id": "k", "text": None}]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    assert docs(f) == [("7", "seven"), ("2", "no id"), ("k", "")]
    g = tmp_path / "b.jsonl.gz"
    g.write_bytes(gzip.compress(b'{"body": "x y"}\n'))
    assert docs(g, text_column="body") == [("1", "x y")]
    h = tmp_path / "c.data"
    h.write_text('{"text": "sniffed"}\n', encoding="utf-8")
    assert detect_format(h) == "jsonl"


def test_multi_megabyte_single_line_tokenises(tmp_path):
    f = tmp_path / "big.txt"
    words = ("alpha beta gamma delta epsilon " * 120_000).strip()  # ~3.6 MB, one line
    f.write_text(words + "\nshort alpha\n", encoding="utf-8")
    [(i1, t1), (i2, t2)] = docs(f)
    assert len(t1) > 3_000_000
    pieces = list(split_long_text(t1))
    assert len(pieces) > 30 and max(len(p) for p in pieces) <= CHUNK_CHARS and "".join(pieces) == t1
    counts = vectorize([t1, t2], ["alpha", "epsilon"], TextOptions(min_df=1))
    assert counts.toarray().tolist() == [[120_000, 120_000], [1, 0]]


def test_split_long_text_without_spaces():
    text = "x" * (CHUNK_CHARS * 2 + 5)
    pieces = list(split_long_text(text))
    assert [len(p) for p in pieces] == [CHUNK_CHARS, CHUNK_CHARS, 5]


# ------------------------------------------------------------------------------------ errors


def _error(fn, *args, **kw) -> str:
    with pytest.raises(UserInputError) as info:
        list(fn(*args, **kw))
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_missing_file(tmp_path):
    assert "nope.txt" in _error(read_documents, tmp_path / "nope.txt")
    assert "nope.txt" in _error(read_documents, tmp_path / "nope.txt", fmt="txt")


def test_dir_without_txt_files(tmp_path):
    (tmp_path / "x.md").write_text("hi")
    msg = _error(read_documents, tmp_path, fmt="dir")
    assert str(tmp_path) in msg and ".txt" in msg


def test_binary_file(tmp_path):
    f = tmp_path / "blob.txt"
    f.write_bytes(b"abc\x00\x01\x02" * 10)
    assert "blob.txt" in _error(read_documents, f)
    g = tmp_path / "blob.txt.gz"
    g.write_bytes(gzip.compress(b"\x00" * 100))
    assert "blob.txt.gz" in _error(read_documents, g)


def test_corrupt_gzip(tmp_path):
    f = tmp_path / "broken.txt.gz"
    f.write_bytes(gzip.compress(b"hello world\n" * 1000)[:50])
    assert "broken.txt.gz" in _error(read_documents, f)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file(tmp_path):
    f = tmp_path / "secret.txt"
    f.write_text("hi")
    f.chmod(0)
    try:
        assert "secret.txt" in _error(read_documents, f)
    finally:
        f.chmod(0o600)


def test_permission_denied_is_a_user_error(tmp_path, monkeypatch):
    from deepgbn_text.text import readers

    f = tmp_path / "locked.txt"
    f.write_text("hi")

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(readers, "open", deny, raising=False)
    msg = _error(read_documents, f)
    assert "locked.txt" in msg and "permission denied" in msg


def test_csv_missing_column_lists_columns(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("id,body\n1,hello\n", encoding="utf-8")
    msg = _error(read_documents, f)
    assert "a.csv" in msg and "'text'" in msg and "id, body" in msg


def test_jsonl_missing_field_and_invalid_json(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"body": "x", "id": 1}\n', encoding="utf-8")
    msg = _error(read_documents, f)
    assert "a.jsonl" in msg and "'text'" in msg and "body, id" in msg
    g = tmp_path / "b.jsonl"
    g.write_text('{"text": "ok"}\n{"text": oops}\n', encoding="utf-8")
    msg = _error(read_documents, g)
    assert "b.jsonl" in msg and "line 2" in msg


def test_unknown_format(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x")
    assert "--format" in _error(read_documents, f, fmt="pdf")
