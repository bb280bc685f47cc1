"""The bottom layer's conjugate fixed point (completion inference) and the prior scale chosen at fit time."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepgbn_text import GeneralizedGBN
from deepgbn_text.distributions import GAMMA_RATE, CountAllocation, gamma_poisson_fixed_point, per_word_sum
from deepgbn_text.evaluate import completion_perplexity, completion_split
from deepgbn_text.model import SparseBatch
from deepgbn_text.model.refine import (DEFAULT_PRIOR, PRIOR_STRENGTHS, TOPIC_EM_SMOOTHING, PriorStrength,
                                      conjugate_bottom_means, conjugate_update, em_topics, second_layer_update)
from deepgbn_text.training.trainer import GBNWordDistribution, Validation, choose_prior, refine_topics_by_em

FAST = dict(n_topics=[6, 3], n_layers=2, epochs=8, hidden=32, patience=50, device="cpu", seed=2)


def _problem(seed: int = 0, n_docs: int = 5, n_words: int = 12, n_topics: int = 4):
    rng = np.random.default_rng(seed)
    phi = rng.dirichlet(np.full(n_words, 0.5), size=n_topics).T  # V x K, columns on the simplex
    counts = sp.random(n_docs, n_words, density=0.4, random_state=seed, format="csr",
                       data_rvs=lambda n: rng.integers(1, 5, n)).astype(np.float32)
    prior = rng.gamma(1.0, 1.0, size=(n_docs, n_topics))
    return phi, counts, prior


def _allocation(phi, counts, by_products=True):
    batch = SparseBatch.from_csr(counts)
    return CountAllocation(batch.offsets, batch.cols, batch.values, batch.rows, torch.tensor(phi, dtype=torch.float32),
                           by_products)


def _fixed_point(phi, counts, prior, start, steps, by_products=True):
    return gamma_poisson_fixed_point(_allocation(phi, counts, by_products), torch.tensor(prior, dtype=torch.float32),
                                     torch.tensor(start, dtype=torch.float32), steps).numpy()


@pytest.mark.parametrize("by_products", [True, False])
def test_fixed_point_is_the_dense_allocation_update(by_products):
    phi, counts, prior = _problem()
    theta = np.ones_like(prior)
    dense = counts.toarray()
    for _ in range(3):  # n_dk = theta_dk sum_v x_dv phi_vk / (Phi theta_d)_v; theta = (prior + n) / (1 + rate)
        allocated = theta * ((dense / np.maximum(theta @ phi.T, 1e-30)) @ phi)
        theta = (prior + allocated) / 2.0
    assert np.allclose(_fixed_point(phi, counts, prior, np.ones_like(prior), 3, by_products), theta, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("by_products", [True, False])
def test_allocation_per_word_is_the_dense_sum_over_documents(by_products):
    phi, counts, prior = _problem(seed=4)
    dense = counts.toarray()
    expected = (dense / (prior @ phi.T)).T @ prior
    got = _allocation(phi, counts, by_products).per_word(torch.tensor(prior, dtype=torch.float32)).numpy()
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_fixed_point_converges_and_keeps_every_document_s_count():
    phi, counts, prior = _problem(seed=1)
    theta = _fixed_point(phi, counts, prior, np.ones_like(prior), 500)
    again = _fixed_point(phi, counts, prior, theta, 1)
    assert np.allclose(theta, again, rtol=1e-4, atol=1e-6)
    # the allocated counts add up to the document's length: (1 + GAMMA_RATE) theta - prior
    lengths = np.asarray(counts.sum(1)).ravel()
    assert np.allclose(((1 + GAMMA_RATE) * theta - prior).sum(1), lengths, rtol=1e-4)


def test_a_dominant_prior_gives_the_prior_s_proportions():
    phi, counts, prior = _problem(seed=2)
    theta = _fixed_point(phi, counts, prior * 1e6, np.ones_like(prior), 20)
    assert np.allclose(theta / theta.sum(1, keepdims=True), prior / prior.sum(1, keepdims=True), atol=1e-4)


@pytest.fixture(scope="module")
def fitted(small_corpus):
    return GeneralizedGBN(**FAST).fit(small_corpus)


def test_fit_chooses_the_prior_strength_with_the_lowest_validation_perplexity(fitted, small_corpus):
    assert fitted.prior_ in PRIOR_STRENGTHS
    observed, heldout = completion_split(small_corpus.counts[:60], seed=0)
    chosen, score = choose_prior(fitted.module_, fitted.device_, observed, heldout, 20)
    scores = {s: completion_perplexity(GBNWordDistribution(fitted.module_, fitted.device_, 1, 0, 20, s), observed, heldout)
              for s in PRIOR_STRENGTHS}
    assert scores[chosen] == min(scores.values()) == score
    assert fitted.val_perplexity_ > 1


def test_conjugate_steps_change_layer_one_only_and_zero_is_the_encoder_mean(fitted, small_corpus):
    observed = small_corpus.counts[:10]
    conjugate = fitted.word_distribution(observed)
    assert np.allclose(conjugate.sum(1), 1.0, atol=1e-5)
    assert np.array_equal(fitted.word_distribution(observed, layer=2),
                          GBNWordDistribution(fitted.module_, fitted.device_, 2).word_distribution(observed))
    fitted.set_params(conjugate_steps=0)
    try:
        encoder = fitted.word_distribution(observed)
        assert "conjugate" not in fitted.inference
    finally:
        fitted.set_params(conjugate_steps=20)
    assert np.array_equal(encoder, GBNWordDistribution(fitted.module_, fitted.device_).word_distribution(observed))
    assert not np.allclose(encoder, conjugate)
    assert "20 conjugate fixed-point steps" in fitted.inference


def test_conjugate_inference_lowers_perplexity_on_held_out_documents(small_corpus):
    model = GeneralizedGBN(**{**FAST, "epochs": 30}).fit(small_corpus.subset(np.arange(150)))
    observed, heldout = completion_split(small_corpus.counts[150:], seed=0)
    conjugate = completion_perplexity(model, observed, heldout)
    model.set_params(conjugate_steps=0)
    assert conjugate < completion_perplexity(model, observed, heldout)


def test_without_validation_documents_the_default_scale(small_corpus):
    model = GeneralizedGBN(**{**FAST, "epochs": 1, "val_fraction": 0.0}).fit(small_corpus)
    assert model.prior_ == DEFAULT_PRIOR


def test_prior_strength_is_saved_and_a_model_from_before_loads_with_the_encoder_mean(fitted, small_corpus, tmp_path):
    fitted.prior_, chosen = PriorStrength(2.0, 0.5, 0.25), fitted.prior_
    try:
        loaded = GeneralizedGBN.load(fitted.save(tmp_path / "m"), device="cpu")
    finally:
        fitted.prior_ = chosen
    assert loaded.prior_ == PriorStrength(2.0, 0.5, 0.25) and loaded.conjugate_steps == 20
    assert "rescaled to a total of 2 x its total^0.5, after layer 2's own conjugate update" in loaded.inference
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    del config["prior_scale"], config["prior_power"], config["prior_second_layer"], config["params"]["conjugate_steps"]
    config_path.write_text(json.dumps(config))
    old = GeneralizedGBN.load(tmp_path / "m", device="cpu")
    assert old.conjugate_steps == 0 and old.prior_ == DEFAULT_PRIOR


def test_second_layer_update_is_the_fixed_point_of_layer_two_and_feeds_the_bottom_prior(fitted, small_corpus):
    module = fitted.module_
    batch = SparseBatch.from_csr(small_corpus.counts[:30])
    means = module.posterior_means(batch)
    theta2 = second_layer_update(module, batch, means, 300, 0.5)
    # the fixed point of x ~ Pois(Phi1 Phi2 theta2), theta2 ~ Gam(0.5 r, 1) (two layers: r from the top)
    words = (module.links[0].phi @ module.links[1].phi).detach().numpy()
    dense = small_corpus.counts[:30].toarray()
    prior = 0.5 * module.top_shape.detach().numpy()
    theta = theta2.numpy()
    allocated = theta * ((dense / (theta @ words.T)) @ words)
    assert np.allclose(theta, (prior + allocated) / 2, rtol=1e-3, atol=1e-5)
    assert not np.allclose(theta, means[1].numpy())
    # the bottom update then starts from that layer 2
    refined, _ = conjugate_update(module, batch, means, 20, PriorStrength(1.0, 1.0, 0.5))
    expected, _ = conjugate_update(module, batch, [means[0], second_layer_update(module, batch, means, 20, 0.5)],
                                   20, PriorStrength(1.0))
    assert torch.equal(refined, expected)


def test_a_one_layer_fit_never_chooses_a_second_layer_update(small_corpus):
    model = GeneralizedGBN(**{**FAST, "n_topics": [6], "n_layers": 1, "epochs": 2}).fit(small_corpus)
    assert model.prior_.second_layer == 0.0


def test_prior_strength_power_one_scales_and_power_half_grows_as_the_square_root():
    shape = torch.tensor([[1.0, 3.0], [4.0, 12.0]])
    assert torch.equal(PriorStrength(0.25)(shape), 0.25 * shape)
    rescaled = PriorStrength(2.0, 0.5)(shape)
    assert torch.allclose(rescaled.sum(1), 2.0 * shape.sum(1).sqrt())  # totals 4 and 8
    assert torch.allclose(rescaled / rescaled.sum(1, keepdim=True), shape / shape.sum(1, keepdim=True))


def test_per_word_sum_is_a_scatter_add_by_word():
    rng = np.random.default_rng(3)
    cols = rng.integers(0, 7, 40)
    values = rng.normal(size=(40, 3))
    expected = np.zeros((9, 3))
    np.add.at(expected, cols, values)
    got = per_word_sum(torch.tensor(cols), torch.tensor(values), 9).numpy()
    assert np.allclose(got, expected)


def _poisson_fit(phi: np.ndarray, theta: np.ndarray, dense: np.ndarray) -> float:
    return float((dense * np.log(theta @ phi.T)).sum())


def test_an_em_topic_update_is_the_dense_allocation_update_and_raises_the_likelihood(fitted, small_corpus):
    module = fitted.module_
    counts = small_corpus.counts[:80]
    batch = SparseBatch.from_csr(counts)
    theta = conjugate_bottom_means(module, batch, module.posterior_means(batch), 20, fitted.prior_).numpy()
    after = em_topics(module, [SparseBatch.from_csr(counts[:50]), SparseBatch.from_csr(counts[50:])], 20,
                      fitted.prior_).numpy()
    phi, dense = module.links[0].phi.detach().numpy(), counts.toarray()
    expected = phi * ((dense / (theta @ phi.T)).T @ theta) + TOPIC_EM_SMOOTHING
    assert np.allclose(after, expected / expected.sum(0), rtol=1e-4, atol=1e-7)
    # the M step maximises the Poisson likelihood of the counts over the topics, theta fixed
    assert _poisson_fit(after, theta, dense) > _poisson_fit(phi, theta, dense)


def test_em_updates_are_kept_only_while_the_validation_perplexity_falls(fitted, small_corpus):
    module = fitted.module_
    before = module.links[0].logits.detach().clone()
    observed, heldout = completion_split(small_corpus.counts[150:], seed=0)
    val = Validation(np.arange(150, small_corpus.n_docs), int(heldout.sum()), observed, heldout)

    def perplexity() -> float:
        return completion_perplexity(GBNWordDistribution(module, fitted.device_, 1, 0, 20, fitted.prior_),
                                     observed, heldout)
    start = perplexity()
    try:
        assert refine_topics_by_em(module, fitted.device_, small_corpus.counts, np.arange(150), val, 20,
                                   fitted.prior_, 0) == (0, pytest.approx(start))
        assert torch.equal(module.links[0].logits, before)
        kept, score = refine_topics_by_em(module, fitted.device_, small_corpus.counts, np.arange(150), val, 20,
                                          fitted.prior_, 3)
        assert score == pytest.approx(perplexity())
        assert (score < start) == (kept > 0)
        if kept < 3:  # the update that did not improve was undone: made again, it is undone again
            assert refine_topics_by_em(module, fitted.device_, small_corpus.counts, np.arange(150), val, 20,
                                       fitted.prior_, 1) == (0, pytest.approx(score))
    finally:
        with torch.no_grad():
            module.links[0].logits.copy_(before)


def test_topic_em_steps_change_the_bottom_topics_only(small_corpus):
    base = GeneralizedGBN(**{**FAST, "topic_em_steps": 0}).fit(small_corpus)
    refined = GeneralizedGBN(**{**FAST, "topic_em_steps": 3}).fit(small_corpus)
    assert not hasattr(base, "topic_em_updates_") and 0 <= refined.topic_em_updates_ <= 3
    for (name, a), b in zip(base.module_.state_dict().items(), refined.module_.state_dict().values()):
        assert torch.equal(a, b) or (name == "links.0.logits" and refined.topic_em_updates_ > 0), name


def test_each_em_update_starts_from_the_topics_kept_before_it(fitted, small_corpus, monkeypatch):
    import copy
    from deepgbn_text.training import trainer
    observed, heldout = completion_split(small_corpus.counts[150:], seed=0)
    val = Validation(np.arange(150, small_corpus.n_docs), int(heldout.sum()), observed, heldout)
    module = copy.deepcopy(fitted.module_)
    with torch.no_grad():  # start from topics the EM can improve on
        module.links[0].logits.mul_(0.5)
    start = copy.deepcopy(module)
    bases = []
    real = trainer.em_topics
    monkeypatch.setattr(trainer, "em_topics", lambda m, *a: bases.append(m.links[0].phi.detach().clone()) or real(m, *a))
    kept, _ = refine_topics_by_em(module, fitted.device_, small_corpus.counts, np.arange(150), val, 20,
                                  fitted.prior_, 1)
    assert kept == 1
    bases.clear()
    refine_topics_by_em(start, fitted.device_, small_corpus.counts, np.arange(150), val, 20, fitted.prior_, 2)
    assert torch.allclose(bases[1], module.links[0].phi, atol=1e-6)
