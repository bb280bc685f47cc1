"""Everyday-word pools (``everyday_pools``): bottom topics under a fixed prior that every document shares."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepgbn_text import GeneralizedGBN
from deepgbn_text.errors import UserInputError
from deepgbn_text.estimator import POOL_SHAPE_DEEP
from deepgbn_text.model.batch import SparseBatch
from deepgbn_text.model.gbn import GBN

from conftest import synthetic_counts


@pytest.fixture(scope="module")
def counts() -> sp.csr_matrix:
    return sp.csr_matrix(synthetic_counts(n_docs=120, n_words=30, n_topics=4, seed=2))


def batch_of(counts: sp.csr_matrix) -> SparseBatch:
    return SparseBatch.from_csr(counts[:16], torch.device("cpu"))


def test_no_pools_is_todays_model(counts):
    torch.manual_seed(0)
    plain = GBN(30, [6, 3], hidden=16)
    torch.manual_seed(0)
    off = GBN(30, [6, 3], hidden=16, everyday_pools=0)
    assert off.pool_shapes is None and "pool_shapes" not in off.state_dict()
    assert off.state_dict().keys() == plain.state_dict().keys()
    means = off.posterior_means(batch_of(counts))
    assert torch.equal(off.bottom_prior_shape(means), plain.bottom_prior_shape(means))


def test_a_one_layer_models_pools_keep_their_shape_while_the_rest_learn(counts):
    torch.manual_seed(0)
    module = GBN(30, [6], hidden=16, everyday_pools=2)
    module.set_pool_shape(5.0)
    assert torch.equal(module.top_shape[:2], torch.full((2,), 5.0))
    assert torch.equal(module.top_shape[2:], module.log_top_shape.exp()[2:])
    optimiser = torch.optim.Adam(module.parameters(), lr=0.1)
    for _ in range(3):
        optimiser.zero_grad()
        (-module(batch_of(counts)).elbo().sum()).backward()
        assert torch.equal(module.log_top_shape.grad[:2], torch.zeros(2))
        optimiser.step()
    assert torch.equal(module.top_shape[:2], torch.full((2,), 5.0))
    assert not torch.equal(module.log_top_shape[2:], torch.zeros(4))


def test_a_deep_models_pools_add_their_shape_to_the_bottom_prior(counts):
    torch.manual_seed(0)
    module = GBN(30, [6, 3], hidden=16, everyday_pools=2)
    module.set_pool_shape(4.0)
    means = module.posterior_means(batch_of(counts))
    with_pools = module.bottom_prior_shape(means)
    module.pool_shapes.zero_()
    without = module.bottom_prior_shape(means)
    assert torch.allclose(with_pools - without, torch.tensor([4.0, 4.0, 0, 0, 0, 0]).expand_as(without))


def test_the_fit_sizes_the_pools_by_the_mean_document_length_and_they_survive_a_save(counts, tmp_path):
    model = GeneralizedGBN(n_topics=[6, 3], n_layers=2, epochs=2, hidden=16, everyday_pools=2, gibbs_sweeps=0,
                           device="cpu").fit(counts)
    lengths = np.asarray(counts.sum(1)).ravel()
    expected = POOL_SHAPE_DEEP * lengths[lengths > 0].mean() / 2  # the mean over the non-empty documents
    assert np.allclose(model.module_.pool_shapes.numpy(), [expected, expected, 0, 0, 0, 0])
    loaded = GeneralizedGBN.load(model.save(tmp_path / "model"), device="cpu")
    assert loaded.everyday_pools == 2 and torch.equal(loaded.module_.pool_shapes, model.module_.pool_shapes)


def test_pools_must_leave_free_bottom_topics():
    with pytest.raises(UserInputError, match="--everyday-pools: 6 pools leave none of the 6 bottom topics free"):
        GeneralizedGBN(n_topics=[6, 3], n_layers=2, everyday_pools=6).validate_params()
    with pytest.raises(UserInputError, match="--everyday-pools"):
        GeneralizedGBN(everyday_pools=-1).validate_params()
