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
    for a, b in zip(on_cuda.transform_layers(small_corpus.counts[:50]), on_cpu.transform_layers(small_corpus.counts[:50])):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.xfail(reason="H100, 2026-11-26: the two fits' first held-out perplexities differed at the 1e-9 level, "
                          "with and without CUDA graphs, while every step operator alone was deterministic; "
                          "benchmarks/determinism_probe.py finds the first tensor that differs", strict=False)
@pytest.mark.parametrize("cuda_graphs", [False, True])
def test_same_seed_same_model_at_scale_on_cuda(cuda_graphs):
    """Many entries per document in big batches: where index_add's atomics would reorder the sums."""
    from conftest import synthetic_counts

    from deepgbn_text import Corpus

    counts = synthetic_counts(n_docs=5000, n_words=2000, n_topics=20, seed=1)
    corpus = Corpus(counts, [f"w{v}" for v in range(counts.shape[1])])
    options = dict(epochs=3, batch_size=1024, seed=0, device="cuda", cuda_graphs=cuda_graphs)
    a, b = (GeneralizedGBN(**options).fit(corpus) for _ in range(2))
    assert [r["val_perplexity"] for r in a.history_] == [r["val_perplexity"] for r in b.history_]
    assert np.array_equal(a.topic_word(1), b.topic_word(1))


def step_ops() -> dict:
    """The step's operators with a backward, on a batch of 1,024 documents and 200,000 entries: name ->
    (function of the tensors that get gradients, those tensors)."""
    import torch.nn.functional as F

    generator = torch.Generator(device="cuda").manual_seed(0)
    n, docs, words, width = 200_000, 1024, 2000, 256

    def rand(*shape):
        return torch.rand(*shape, device="cuda", generator=generator).requires_grad_()

    cols = torch.randint(words, (n,), device="cuda", generator=generator)
    offsets = torch.sort(torch.randint(n, (docs,), device="cuda", generator=generator)).values
    offsets[0] = 0
    bounds = torch.cat((offsets, torch.tensor([n], device="cuda")))
    rows = torch.searchsorted(offsets, torch.arange(n, device="cuda"), right=True) - 1
    weights = torch.rand(n, device="cuda", generator=generator)
    return {
        "embedding_bag": (lambda w, s: F.embedding_bag(cols, w, offsets, mode="sum", per_sample_weights=s),
                          [rand(words, width), rand(n)]),
        "embedding_of_words": (lambda w: F.embedding(cols, w), [rand(words, 128)]),
        "embedding_of_documents": (lambda w: F.embedding(rows, w), [rand(docs, 128)]),
        "segment_reduce": (lambda x: torch.segment_reduce(x, "sum", offsets=bounds, unsafe=True), [rand(n)]),
        "layer_norm": (lambda x, g, b: F.layer_norm(x, (width,), g, b), [rand(docs, width), rand(width), rand(width)]),
        "linear": (lambda x, w, b: F.linear(x, w, b), [rand(docs, width), rand(128, width), rand(128)]),
        "column_softmax": (lambda x: torch.softmax(x.T, -1).T.contiguous(), [rand(words, 128)]),
        "weighted_sum": (lambda x: (x * weights[:, None]).sum(-1), [rand(n, 128)]),
    }


@pytest.mark.parametrize("name", list(step_ops()) if torch.cuda.is_available() else [])
def test_step_operator_gradients_are_the_same_run_to_run(name):
    """Which of the step's operators (if any) is not deterministic on this GPU."""
    function, inputs = step_ops()[name]
    upstream = torch.rand_like(function(*inputs))
    first, second = (torch.autograd.grad(function(*inputs), inputs, upstream) for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def graphed_trainer(counts, cuda_graphs: bool, **config):
    """A 2-layer model trained on CUDA with or without CUDA graphs; the trainer, after its run."""
    from deepgbn_text.model.gbn import GBN
    from deepgbn_text.training.trainer import TrainConfig, Trainer

    torch.manual_seed(0)
    device = torch.device("cuda")
    module = GBN(counts.shape[1], [6, 3], 32).to(device)
    rows = np.arange(counts.shape[0])
    settings = dict(epochs=20, batch_size=64, patience=50, cuda_graphs=cuda_graphs) | config
    trainer = Trainer(module, counts, rows[30:], rows[:30], TrainConfig(**settings), 0, device)
    trainer.run()
    return trainer


def test_cuda_graphs_replay_steps_that_learn_as_eager_steps(small_corpus):
    from deepgbn_text.training.graphed_steps import EAGER_WARMUP_STEPS

    graphed = graphed_trainer(small_corpus.counts, cuda_graphs=True)
    eager = graphed_trainer(small_corpus.counts, cuda_graphs=False)
    assert eager.graphs is None and graphed.graphs is not None and not graphed.graphs.failed
    assert graphed.graphs.eager_steps == EAGER_WARMUP_STEPS
    assert 1 <= len(graphed.graphs.graphs) == graphed.graphs.captures <= 16  # a few shapes, each captured once
    best = [min(r["val_perplexity"] for r in t.history) for t in (graphed, eager)]
    assert np.isfinite(best[0]) and best[0] < 1.05 * best[1]
    assert all(r["skipped_steps"] == 0 for r in graphed.history)


def test_cuda_graphs_are_captured_again_when_the_learning_rate_changes(small_corpus):
    trainer = graphed_trainer(small_corpus.counts, cuda_graphs=True, lr_decay_patience=1, epochs=30)
    lrs = [r["lr"] for r in trainer.history]
    assert min(lrs) < max(lrs)  # the rate was halved at least once: graphs captured with the old one are gone
    assert trainer.graphs.captures > len(trainer.graphs.graphs)
    assert all(np.isfinite(r["val_perplexity"]) for r in trainer.history)
