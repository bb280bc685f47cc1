"""Shared fixtures: a small corpus drawn from a known two-layer Poisson-gamma model."""
from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from deepgbn_text import Corpus


CAN_COMPILE = bool(shutil.which("g++") or shutil.which("c++")) and (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file()
"""torch.compile on CPU needs a C++ compiler and Python's headers."""
needs_compiler = pytest.mark.skipif(not CAN_COMPILE, reason="torch.compile on CPU needs a C++ compiler and Python's headers")


def synthetic_counts(n_docs: int = 300, n_words: int = 60, n_topics: int = 6, seed: int = 0) -> sp.csr_matrix:
    """Documents from block topics: each topic puts its mass on its own slice of the vocabulary."""
    rng = np.random.default_rng(seed)
    phi = np.full((n_words, n_topics), 0.01)
    block = n_words // n_topics
    for k in range(n_topics):
        phi[k * block : (k + 1) * block, k] = 1.0
    phi /= phi.sum(0)
    theta = rng.gamma(0.3, 30.0, size=(n_docs, n_topics))
    return sp.csr_matrix(rng.poisson(theta @ phi.T).astype(np.int32))


@pytest.fixture(scope="session")
def small_corpus() -> Corpus:
    counts = synthetic_counts()
    return Corpus(counts, [f"word{v:02d}" for v in range(counts.shape[1])])
