"""Shared fixtures: a small corpus drawn from a known two-layer Poisson-gamma model."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepgbn_text import Corpus
from deepgbn_text.estimator import compile_toolchain_problem


CPU_COMPILE_PROBLEM = compile_toolchain_problem(torch.device("cpu"))
needs_compiler = pytest.mark.skipif(CPU_COMPILE_PROBLEM is not None, reason=str(CPU_COMPILE_PROBLEM))


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
