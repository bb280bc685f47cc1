"""The estimator on a CUDA device: skipped where there is none (CI); run on the GPU machine by
``benchmarks/gpu_run.sh``. Same seed, same device, same result; a CUDA fit learns as well as a CPU fit;
the parameter average and fused Adam work there; a CUDA model transforms like its CPU copy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from deepgbn_text import GeneralizedGBN

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run by benchmarks/gpu_run.sh)")

OPTIONS = dict(n_topics=[6, 3], n_layers=2, epochs=20, batch_size=64, hidden=32, patience=50, seed=3)


@pytest.fixture(scope="module")
def on_cuda(small_corpus):
    return GeneralizedGBN(device="cuda", **OPTIONS).fit(small_corpus)


def test_same_seed_same_topics_on_cuda(small_corpus, on_cuda):
    again = GeneralizedGBN(device="cuda", **OPTIONS).fit(small_corpus)
    for layer in (1, 2):
        assert np.array_equal(on_cuda.topic_word(layer), again.topic_word(layer))


def test_cuda_fit_learns_as_well_as_a_cpu_fit(small_corpus, on_cuda):
    on_cpu = GeneralizedGBN(device="cpu", **OPTIONS).fit(small_corpus)
    cuda_best = min(r["val_perplexity"] for r in on_cuda.history_)
    cpu_best = min(r["val_perplexity"] for r in on_cpu.history_)
    assert np.isfinite(cuda_best) and cuda_best < 1.05 * cpu_best
    assert on_cuda.history_[-1]["train_elbo_per_token"] > on_cuda.history_[0]["train_elbo_per_token"]


def test_parameter_average_on_cuda(small_corpus):
    model = GeneralizedGBN(device="cuda", ema_decay=0.99, **OPTIONS).fit(small_corpus)
    assert all(np.isfinite(r["val_perplexity"]) for r in model.history_)
    assert all(p.is_cuda for p in model.module_.parameters())


def test_cuda_model_transforms_like_its_cpu_copy(small_corpus, on_cuda, tmp_path):
    on_cpu = GeneralizedGBN.load(on_cuda.save(tmp_path / "model"), device="cpu")
    for a, b in zip(on_cuda.transform(small_corpus.counts[:50]), on_cpu.transform(small_corpus.counts[:50])):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_same_seed_same_model_at_scale_on_cuda():
    """Many entries per document in big batches: where index_add's atomics would reorder the sums."""
    from conftest import synthetic_counts

    from deepgbn_text import Corpus

    counts = synthetic_counts(n_docs=5000, n_words=2000, n_topics=20, seed=1)
    corpus = Corpus(counts, [f"w{v}" for v in range(counts.shape[1])])
    options = dict(epochs=3, batch_size=1024, seed=0, device="cuda")
    a, b = (GeneralizedGBN(**options).fit(corpus) for _ in range(2))
    assert [r["val_perplexity"] for r in a.history_] == [r["val_perplexity"] for r in b.history_]
    assert np.array_equal(a.topic_word(1), b.topic_word(1))
