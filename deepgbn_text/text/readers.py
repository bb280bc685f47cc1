"""Read raw documents as ``(doc_id, text)`` pairs from txt, a folder of .txt files, CSV, JSONL or Parquet.

Files are streamed (one line or one record at a time); ``.gz`` files are recognised by their magic
bytes. Invalid UTF-8 is replaced (U+FFFD) with a single warning per file, naming the first bad line.
"""
from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..storage.corpus import is_corpus_folder
from ..errors import UserInputError

logger = logging.getLogger("deepgbn_text")

TEXT_FORMATS = ("txt", "dir", "csv", "jsonl", "parquet")
MATRIX_FORMATS = ("npz", "uci", "mtx", "corpus")
ALL_FORMATS = TEXT_FORMATS + MATRIX_FORMATS

GZIP_MAGIC = b"\x1f\x8b"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
SNIFF_BYTES = 8192
UCI_DOCWORD = re.compile(r"^docword\..*\.txt(\.gz)?$", re.IGNORECASE)
_CSV_FIELD_LIMIT = 2**31 - 1


# ---------------------------------------------------------------------------- opening files


def _open_binary(path: Path) -> IO[bytes]:
    """Open ``path`` for reading bytes, transparently gunzipping; errors become UserInputError."""
    if not path.exists():
        raise UserInputError(f"{path}: file not found")
    if path.is_dir():
        raise UserInputError(f"{path}: is a folder, expected a file (use --format dir for a folder of .txt files)")
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except PermissionError:
        raise UserInputError(f"{path}: cannot read the file (permission denied)") from None
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    try:
        magic = raw.read(2)
        raw.seek(0)
    except OSError as exc:
        raw.close()
        raise UserInputError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if magic == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")  # closing it does not close raw; see _Reader
    return raw


class _Reader:
    """A binary file (maybe gzipped) with the first block checked for NUL bytes and decode warnings.

    Readers that share one ``warned`` list (the files of a folder) log one invalid UTF-8 warning in all.
    """

    def __init__(self, path: Path, warned: list[Path] | None = None) -> None:
        self.path = path
        self.stream = _open_binary(path)
        self._warned = warned if warned is not None else []
        head = self._guard(lambda: self.stream.read(SNIFF_BYTES))
        self._guard(lambda: self.stream.seek(0))
        if head.startswith(UTF16_BOMS):
            self.close()
            raise UserInputError(f"{path}: is UTF-16 text; re-encode it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)")
        if b"\x00" in head:
            self.close()
            raise UserInputError(f"{path}: looks like a binary file (NUL bytes), expected UTF-8 text")

    def _guard(self, fn):  # type: ignore[no-untyped-def]
        try:
            return fn()
        except (OSError, EOFError, zlib.error) as exc:
            self.close()
            raise UserInputError(f"{self.path}: cannot read the file ({exc}); is it a valid (gzip) text file?") from None

    def lines(self) -> Iterator[bytes]:
        """Raw lines, each with its line ending (split on b"\\n" only)."""
        it = iter(self.stream)
        while True:
            line = self._guard(lambda: next(it, None))
            if line is None:
                return
            yield line

    def read_all(self) -> bytes:
        return self._guard(self.stream.read)

    def decode(self, data: bytes, first_line: int = 1) -> str:
        """UTF-8 text of ``data`` (which starts on line ``first_line``); bad bytes become U+FFFD."""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._warn(first_line + data.count(b"\n", 0, exc.start), "invalid UTF-8 bytes")
            return data.decode("utf-8", errors="replace")

    def without_surrogates(self, text: str, line: int) -> str:
        """``text`` with lone surrogates (JSON escapes such as \\ud800, not Unicode) replaced by U+FFFD."""
        if not LONE_SURROGATE.search(text):
            return text
        self._warn(line, "lone surrogate escapes (not Unicode)")
        return LONE_SURROGATE.sub("\ufffd", text)

    def _warn(self, line: int, what: str) -> None:
        """Log the first bad line only (once for all readers sharing ``warned``); later ones are replaced silently."""
        if not self._warned:
            self._warned.append(self.path)
            logger.warning("%s: line %d: %s were replaced by U+FFFD (later ones too, without more warnings); "
                           "fix the file (UTF-8 text, valid escapes) to keep those characters", self.path, line, what)

    def text_lines(self, keep_ends: bool = False) -> Iterator[str]:
        """Decoded lines; the line ending is stripped unless ``keep_ends``; a UTF-8 BOM is dropped."""
        for lineno, raw in enumerate(self.lines(), start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
                if not raw:  # a file holding only a BOM is empty
                    return
            if not keep_ends:
                if raw.endswith(b"\n"):
                    raw = raw[:-1]
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
            yield self.decode(raw, lineno)

    def close(self) -> None:
        try:
            stream = self.stream
        except AttributeError:
            return
        fileobj = getattr(stream, "fileobj", None)
        stream.close()
        if fileobj is not None:
            fileobj.close()

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- format detection


def _strip_gz(name: str) -> str:
    name = name.lower()
    return name[:-3] if name.endswith(".gz") else name


def detect_format(path: str | os.PathLike[str]) -> str:
    """Guess the input format of ``path`` from its name, then from its first bytes."""
    p = Path(path)
    if not p.exists():
        raise UserInputError(f"{p}: file not found")
    if p.is_dir():
        return "corpus" if is_corpus_folder(p) else "dir"
    base = _strip_gz(p.name)
    if UCI_DOCWORD.match(p.name):
        return "uci"
    for ext, fmt in ((".npz", "npz"), (".mtx", "mtx"), (".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
                     (".parquet", "parquet"), (".txt", "txt")):
        if base.endswith(ext):
            return fmt
    try:
        with open(p, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise UserInputError(f"{p}: cannot read the file ({exc.strerror or exc})") from None
    if head.startswith(b"PK"):
        return "npz"
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(p, "rb") as gz:
                head = gz.read(64)
        except (OSError, EOFError, zlib.error):
            return "txt"  # the txt reader gives the precise error
    if head.startswith(b"%%MatrixMarket"):
        return "mtx"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "jsonl"
    return "txt"


# ---------------------------------------------------------------------------- readers


def read_documents(
    path: str | os.PathLike[str], fmt: str | None = None, text_column: str | None = None
) -> Iterator[tuple[str, str]]:
    """Yield ``(doc_id, text)`` for every document in ``path``.

    ``fmt`` is one of "txt", "dir", "csv", "jsonl", "parquet" (auto-detected when None). ``text_column``
    names the CSV/Parquet column or JSON field holding the text (default "text"); the id comes from an
    "id" column or field when present, else the 1-based row number. Parquet needs pyarrow. Raises UserInputError (one line, naming the file).
    """
    p = Path(path)
    if fmt is None:
        fmt = detect_format(p)
    fmt = fmt.lower()
    if fmt in MATRIX_FORMATS:
        raise UserInputError(f"{p}: is a {fmt} count matrix, not raw text; load it with load_corpus")
    if fmt not in TEXT_FORMATS:
        raise UserInputError(f"--format must be one of {', '.join(ALL_FORMATS)} (got {fmt!r})")
    if fmt == "dir":
        return _read_dir(p)
    if not p.exists():
        raise UserInputError(f"{p}: file not found")
    reader = {"txt": _read_txt, "csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[fmt]
    return reader(p, text_column or "text") if fmt != "txt" else reader(p)


def _read_txt(path: Path) -> Iterator[tuple[str, str]]:
    with _Reader(path) as reader:
        for i, line in enumerate(reader.text_lines(), start=1):
            yield str(i), line


def _read_dir(folder: Path) -> Iterator[tuple[str, str]]:
    if not folder.exists():
        raise UserInputError(f"{folder}: folder not found")
    if not folder.is_dir():
        raise UserInputError(f"{folder}: is not a folder (--format dir expects a folder of .txt files)")
    try:
        files = sorted(f for f in folder.rglob("*.txt") if f.is_file())
    except OSError as exc:
        raise UserInputError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None
    if not files:
        raise UserInputError(f"{folder}: folder has no .txt files")
    return _iter_dir(folder, files)


def _iter_dir(folder: Path, files: list[Path]) -> Iterator[tuple[str, str]]:
    warned: list[Path] = []
    for f in files:
        with _Reader(f, warned) as reader:
            data = reader.read_all()
            if data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            yield f.relative_to(folder).as_posix(), reader.decode(data)


def _read_csv(path: Path, column: str) -> Iterator[tuple[str, str]]:
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    with _Reader(path) as reader:
        rows = csv.reader(reader.text_lines(keep_ends=True))
        try:
            header = next(rows, None)
        except csv.Error as exc:
            raise UserInputError(f"{path}: invalid CSV at line 1 ({exc})") from None
        if header is None:
            raise UserInputError(f"{path}: no documents (the CSV file is empty)")
        header = [h.strip() for h in header]
        if column not in header:
            raise UserInputError(
                f"{path}: CSV has no column {column!r} (columns: {', '.join(header) or 'none'}); choose one with --text-column"
            )
        text_idx = header.index(column)
        id_idx = header.index("id") if "id" in header and column != "id" else None
        n = 0
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                raise UserInputError(f"{path}: invalid CSV at line {rows.line_num} ({exc})") from None
            if not row:
                continue  # a blank line is not a record
            n += 1
            text = row[text_idx] if text_idx < len(row) else ""
            doc_id = row[id_idx] if id_idx is not None and id_idx < len(row) and row[id_idx] != "" else str(n)
            yield doc_id, text


def _read_jsonl(path: Path, field: str) -> Iterator[tuple[str, str]]:
    with _Reader(path) as reader:
        n = 0
        for lineno, line in enumerate(reader.text_lines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserInputError(f"{path}: invalid JSON at line {lineno} ({exc.msg})") from None
            except RecursionError:
                raise UserInputError(f"{path}: line {lineno} is nested too deeply to be a document") from None
            if not isinstance(record, dict):
                raise UserInputError(f"{path}: line {lineno} is not a JSON object")
            if field not in record:
                fields = ", ".join(map(str, record)) or "none"
                raise UserInputError(
                    f"{path}: line {lineno} has no field {field!r} (fields: {fields}); choose one with --text-column"
                )
            text = record[field]
            if text is None:
                text = ""
            elif not isinstance(text, str):
                raise UserInputError(f"{path}: line {lineno}: field {field!r} is not a string")
            n += 1
            doc_id = record.get("id") if field != "id" else None
            doc_id = str(doc_id) if doc_id is not None and doc_id != "" else str(n)
            yield reader.without_surrogates(doc_id, lineno), reader.without_surrogates(text, lineno)


def _read_parquet(path: Path, column: str) -> Iterator[tuple[str, str]]:
    """Rows of a Parquet file, one record batch at a time (only the text and id columns are read)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserInputError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow "
                             "(or pip install 'deepgbn-text[parquet]')") from None
    try:
        source = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise UserInputError(f"{path}: not a readable Parquet file ({exc})") from None
    names = source.schema_arrow.names
    if column not in names:
        raise UserInputError(f"{path}: Parquet file has no column {column!r} (columns: {', '.join(names) or 'none'}); "
                             "choose one with --text-column")
    with_ids = "id" in names and column != "id"
    n = 0
    for batch in source.iter_batches(columns=[column, "id"] if with_ids else [column]):
        texts = batch.column(column).to_pylist()
        ids = batch.column("id").to_pylist() if with_ids else [None] * len(texts)
        for text, doc_id in zip(texts, ids):
            n += 1
            if text is not None and not isinstance(text, str):
                raise UserInputError(f"{path}: row {n}: column {column!r} is not text")
            yield (str(doc_id) if doc_id not in (None, "") else str(n)), text or ""
