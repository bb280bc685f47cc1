"""No dense documents x words array anywhere in fit: a 2,000,000-word vocabulary trains in little memory."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import scipy.sparse as sp

from deepgbn_text.corpus import Corpus

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
