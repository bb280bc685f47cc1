"""CUDA graphs' static batches, checked on the CPU: the size buckets, and that a batch padded with zero
counts has exactly the batch's ELBO and trains as the batch does (the graphs are tested in test_cuda.py)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepgbn_text.estimator import default_topics
from deepgbn_text.training.graphed_steps import BUCKETS_PER_DOUBLING, StaticBatch, entry_bucket
from deepgbn_text.model.batch import iter_batches
from deepgbn_text.model.gbn import GBN
from deepgbn_text.training.trainer import TrainConfig, Trainer

from conftest import synthetic_counts


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 100, 1023, 1024, 1025, 10_315, 1_000_003])
def test_entry_bucket_pads_by_at_most_an_eighth(n):
    size = entry_bucket(n)
    assert n <= size <= max(n + n / BUCKETS_PER_DOUBLING, 1)


def test_a_doubling_holds_a_few_buckets():
    assert len({entry_bucket(n) for n in range(4097, 8193)}) == BUCKETS_PER_DOUBLING


def trainer_for(module: GBN, counts: sp.csr_matrix) -> Trainer:
    config = TrainConfig(epochs=1, batch_size=64)
    return Trainer(module, counts, np.arange(counts.shape[0]), None, config, 0, torch.device("cpu"))


def test_a_padded_batch_trains_as_the_batch():
    """The ELBO terms are bit-identical; the gradient of the encoder's word embedding only up to the
    order in which the embedding bag's backward adds its rows (it sorts the word ids, padding included)."""
    counts = synthetic_counts(n_docs=256, n_words=60, seed=2).tolil()
    counts[[63, 127]] = 0  # a batch that ends in an empty document: its padding goes there
    counts = sp.csr_matrix(counts)
    counts.eliminate_zeros()
    torch.manual_seed(0)
    module = GBN(60, default_topics(3)[:2], 32)
    plain, padded = trainer_for(module, counts), trainer_for(copy.deepcopy(module), counts)
    static = StaticBatch(64, 60, torch.device("cpu"))
    static.grow(100)  # too small for a batch: grown below
    batches = [b for _, b in iter_batches(counts, np.arange(256), 64, torch.device("cpu"))]
    for step, batch in enumerate(batches):
        if not static.fits(batch.values.shape[0]):
            static.grow(batch.values.shape[0])
        loaded = static.load(batch)
        assert loaded.values.shape[0] > batch.values.shape[0]  # the padding is exercised
        terms = []
        for feed in (batch, loaded):  # the same parameters, the same noise
            torch.manual_seed(step)
            with torch.no_grad():
                terms.append(plain.module(feed))
        for trainer, feed in ((plain, batch), (padded, loaded)):
            torch.manual_seed(step)
            trainer._update(feed, 0.5)
        assert torch.equal(terms[0].log_likelihood, terms[1].log_likelihood)
        assert all(torch.equal(a, b) for a, b in zip(terms[0].kl_per_layer, terms[1].kl_per_layer))
    for (name, a), b in zip(plain.module.named_parameters(), padded.module.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    torch.testing.assert_close(plain.elbo_sum, padded.elbo_sum, rtol=1e-6, atol=0.0)
