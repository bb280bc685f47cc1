"""Peak memory of fitting a memory-mapped corpus folder, against the size of its CSR counts.

    OMP_NUM_THREADS=1 python benchmarks/memory_scale.py --docs 1000000 --words 50000

Writes a synthetic corpus folder (format 2) chunk by chunk, never holding the whole matrix: document
lengths 1 + Poisson(tokens - 1), words drawn from a Zipf-like law over the vocabulary. Then, in a fresh
process, loads it memory-mapped and fits ``GeneralizedGBN(epochs=1)`` while a thread samples
/proc/self/status: peak RSS, and its anonymous (heap) and file-backed (mapped counts) parts. Prints a
table and writes JSON to benchmarks/results/.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from deepgbn_text.storage.atomic import atomic_dir, write_json
from deepgbn_text.storage.corpus import COUNTS_DIR, doc_id_line, open_doc_ids, write_vocab_and_meta
from deepgbn_text.storage.csr_files import CSRWriter

RESULTS = Path(__file__).parent / "results"
CHUNK_DOCS = 50_000
ZIPF_SHIFT = 10.0


def synthetic_chunks(n_docs: int, n_words: int, tokens: float, seed: int) -> Iterator[sp.csr_matrix]:
    """The corpus as row blocks of CHUNK_DOCS documents; the same blocks on every call."""
    weights = 1.0 / (np.arange(n_words) + ZIPF_SHIFT)
    cdf = np.cumsum(weights / weights.sum())
    for start in range(0, n_docs, CHUNK_DOCS):
        rng = np.random.default_rng([seed, start])
        n = min(CHUNK_DOCS, n_docs - start)
        lengths = 1 + rng.poisson(tokens - 1, n)
        rows = np.repeat(np.arange(n), lengths)
        cols = np.minimum(np.searchsorted(cdf, rng.random(rows.size)), n_words - 1)
        block = sp.csr_matrix((np.ones(rows.size, np.int32), (rows, cols)), shape=(n, n_words))
        block.sum_duplicates()
        yield block


def write_corpus(folder: Path, n_docs: int, n_words: int, tokens: float, seed: int) -> None:
    """A corpus folder in two passes over the chunks: count the entries, then write them."""
    nnz = sum(block.nnz for block in synthetic_chunks(n_docs, n_words, tokens, seed))
    with atomic_dir(folder) as tmp:
        with CSRWriter(tmp / COUNTS_DIR, n_docs, n_words, nnz) as writer:
            for block in synthetic_chunks(n_docs, n_words, tokens, seed):
                writer.append(block)
        with open_doc_ids(tmp) as ids:
            ids.writelines(doc_id_line(str(i)) for i in range(n_docs))
        write_vocab_and_meta(tmp, [f"w{j}" for j in range(n_words)], n_docs, writer.n_tokens)


def _status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon and RssFile of this process, in bytes."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


class PeakSampler(threading.Thread):
    """Samples /proc/self/status every ``interval`` seconds and keeps each field's maximum."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.interval, self.peaks, self.stop = interval, _status(), threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            for key, value in _status().items():
                self.peaks[key] = max(self.peaks[key], value)


def measure_fit(folder: Path, topics: list[int], hidden: int, batch_size: int, val_fraction: float) -> dict:
    """Load ``folder`` memory-mapped and fit one epoch; memory in bytes, times in seconds."""
    import torch

    from deepgbn_text import Corpus, GeneralizedGBN

    sampler = PeakSampler()
    sampler.start()
    started = time.perf_counter()
    corpus = Corpus.load(folder)
    loaded = time.perf_counter()
    after_load = _status()
    model = GeneralizedGBN(n_topics=topics, n_layers=len(topics), hidden=hidden, epochs=1, batch_size=batch_size,
                           val_fraction=val_fraction, device="cpu").fit(corpus)
    fitted = time.perf_counter()
    sampler.stop.set()
    sampler.join()
    counts = corpus.counts
    return {
        "n_docs": corpus.n_docs, "n_words": corpus.n_words, "nnz": int(counts.nnz),
        "csr_bytes": int(counts.data.nbytes + counts.indices.nbytes + counts.indptr.nbytes),
        "model_bytes": int(sum(p.numel() * p.element_size() for p in model.module_.parameters())),
        "load_seconds": loaded - started, "fit_seconds": fitted - loaded,
        "after_load": after_load, "peak": sampler.peaks, "final": _status(),
        "torch": torch.__version__, "topics": topics, "hidden": hidden, "batch_size": batch_size,
        "val_fraction": val_fraction,
    }


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def print_table(result: dict) -> None:
    csr = result["csr_bytes"]
    rows = [
        ("CSR counts (indptr + indices + data)", csr),
        ("model parameters", result["model_bytes"]),
        ("RSS after load", result["after_load"]["VmRSS"]),
        ("peak RSS (VmHWM)", result["peak"]["VmHWM"]),
        ("peak anonymous RSS (heap, copies)", result["peak"]["RssAnon"]),
        ("peak file-backed RSS (mapped counts)", result["peak"]["RssFile"]),
    ]
    print(f"N = {result['n_docs']:,}  V = {result['n_words']:,}  nnz = {result['nnz']:,}  "
          f"load {result['load_seconds']:.1f} s  fit (1 epoch) {result['fit_seconds']:.1f} s")
    for name, value in rows:
        print(f"  {name:<40} {_gib(value):>10}  {value / csr:5.2f} x CSR")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--words", type=int, default=50_000)
    parser.add_argument("--tokens", type=float, default=100.0, help="mean tokens per document")
    parser.add_argument("--topics", default="64,32")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, help="corpus folder to write or reuse (default: in the temp folder)")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    topics = [int(k) for k in args.topics.split(",")]
    folder = args.corpus or Path(tempfile.gettempdir()) / f"ggbn-synthetic-{args.docs}x{args.words}"
    if args.measure_only:
        print(json.dumps(measure_fit(folder, topics, args.hidden, args.batch_size, args.val_fraction)))
        return
    if not folder.is_dir():
        started = time.perf_counter()
        write_corpus(folder, args.docs, args.words, args.tokens, args.seed)
        print(f"wrote {folder} in {time.perf_counter() - started:.1f} s")
    child = [sys.executable, __file__, "--measure-only", "--corpus", str(folder), "--topics", args.topics,
             "--hidden", str(args.hidden), "--batch-size", str(args.batch_size), "--val-fraction", str(args.val_fraction)]
    result = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    print_table(result)
    write_json(RESULTS / f"memory_scale-{result['n_docs']}x{result['n_words']}-val{args.val_fraction:g}.json", result)


if __name__ == "__main__":
    main()
