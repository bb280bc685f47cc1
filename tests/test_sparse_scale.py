"""Memory that grows with the non-zeros only: no dense documents x words array anywhere in fit (a
2,000,000-word vocabulary trains in little memory), and mapped counts resident a chunk at a time."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepgbn_text.storage.corpus import COUNTS_DIR, Corpus
from deepgbn_text.storage.csr_files import DATA_FILE, row_sums
from deepgbn_text.model.batch import iter_batches

N_DOCS, N_WORDS, WORDS_PER_DOC = 1000, 2_000_000, 40
DENSE_BYTES = N_DOCS * N_WORDS * 4  # float32: 7.6 GiB


def test_fit_with_a_huge_vocabulary_never_builds_a_dense_matrix(tmp_path):
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(N_DOCS), WORDS_PER_DOC)
    cols = rng.integers(0, N_WORDS, rows.size)
    counts = sp.csr_matrix((rng.integers(1, 4, rows.size), (rows, cols)), shape=(N_DOCS, N_WORDS))
    Corpus(counts, [f"w{j}" for j in range(N_WORDS)]).save(tmp_path / "huge")
    script = textwrap.dedent(f"""
        import resource
        from deepgbn_text import Corpus, GeneralizedGBN

        corpus = Corpus.load({str(tmp_path / "huge")!r})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        GeneralizedGBN(n_topics=[4, 2], n_layers=2, hidden=8, epochs=1, batch_size=128, val_fraction=0.02,
                       device="cpu").fit(corpus)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    growth = int(result.stdout.split()[-1])
    # The model (2M x (4 + 8) parameters, their gradients and Adam's moments) takes about 0.8 GB; one
    # dense float32 documents x words array would take 7.6 GB, one of bytes 1.9 GB.
    assert growth < DENSE_BYTES / 5, f"peak memory grew by {growth / 2**30:.2f} GiB during fit"


def _resident_bytes_of(path) -> int:
    """This process's resident bytes in its mappings of the file ``path`` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in open("/proc/self/smaps", encoding="utf-8"):
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            inside = len(fields) >= 6 and fields[5] == str(path)
        elif inside and fields[0] == "Rss:":
            total += int(fields[1]) * 1024
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux's /proc/self/smaps")
def test_a_pass_over_a_mapped_corpus_keeps_only_a_chunk_resident(tmp_path):
    rng = np.random.default_rng(0)
    n_docs = 20_000
    rows = np.repeat(np.arange(n_docs), 100)
    counts = sp.csr_matrix((np.ones(rows.size, np.int32), (rows, rng.integers(0, 5000, rows.size))),
                           shape=(n_docs, 5000))
    Corpus(counts, [f"w{j}" for j in range(5000)]).save(tmp_path / "c")
    data_file = (tmp_path / "c" / COUNTS_DIR / DATA_FILE).resolve()
    mapped = Corpus.load(tmp_path / "c").counts  # the load checks read every entry
    size = data_file.stat().st_size
    assert _resident_bytes_of(data_file) < size / 4
    order = np.random.default_rng(1).permutation(n_docs)
    total = 0.0
    for _, batch in iter_batches(mapped, order, 256, torch.device("cpu"), chunk_docs=1024):
        total += float(batch.values.sum())
    assert total == counts.sum()
    assert _resident_bytes_of(data_file) < size / 4  # random rows touch every page; each chunk gives them back
    row_sums(mapped)
    assert _resident_bytes_of(data_file) < size / 4
