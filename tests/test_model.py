"""The GBN module and the GeneralizedGBN estimator on a small synthetic corpus."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepgbn_text import GeneralizedGBN, UserInputError
from deepgbn_text.distributions import poisson_log_likelihood_sparse
from deepgbn_text.model import GBN, SparseBatch
from deepgbn_text.model.links import LinearLink, NonlinearLink
from deepgbn_text.tree import Tree

FAST = dict(epochs=15, batch_size=64, hidden=32, patience=50, device="cpu")


def test_nonlinear_link_with_zero_gate_is_exactly_linear():
    torch.manual_seed(0)
    nonlinear, linear = NonlinearLink(5, 8, hidden=16), LinearLink(5, 8)
    linear.logits.data.copy_(nonlinear.logits.data)
    theta = torch.rand(4, 5) * 10
    assert not torch.equal(nonlinear(theta), linear(theta))
    nonlinear.gate_raw.data.zero_()
    assert torch.equal(nonlinear(theta), linear(theta))


def test_generalized_gbn_with_gates_off_reduces_to_linear_gbn(small_corpus):
    torch.manual_seed(0)
    nonlinear = GBN(small_corpus.n_words, [8, 4, 2], hidden=16, link="nonlinear")
    for link in nonlinear.links[1:]:
        link.gate_raw.data.zero_()
    linear = GBN(small_corpus.n_words, [8, 4, 2], hidden=16, link="linear")
    missing, unexpected = linear.load_state_dict(nonlinear.state_dict(), strict=False)
    assert not missing and all("expert" in k or "gate" in k for k in unexpected)
    batch = SparseBatch.from_csr(small_corpus.counts[:20])
    torch.manual_seed(1)
    a = nonlinear(batch).elbo()
    torch.manual_seed(1)
    b = linear(batch).elbo()
    assert torch.equal(a, b)
    for x, y in zip(nonlinear.posterior_means(batch), linear.posterior_means(batch)):
        assert torch.equal(x, y)


def test_links_are_non_negative_and_mass_preserving():
    torch.manual_seed(0)
    link = NonlinearLink(6, 9, hidden=8, gate=0.7)
    theta = torch.rand(3, 6) * 4
    shapes = link(theta)
    assert (shapes >= 0).all()
    assert torch.allclose(shapes.sum(-1), theta.sum(-1), rtol=1e-5)
    assert torch.allclose(link(2.5 * theta), 2.5 * shapes, rtol=1e-5)


@pytest.fixture(scope="module")
def fitted(small_corpus):
    return GeneralizedGBN(n_topics=[6, 3], n_layers=2, seed=3, **FAST).fit(small_corpus)


def test_fit_learns_and_records_history(fitted):
    history = fitted.history_
    assert len(history) == FAST["epochs"]
    assert history[-1]["train_elbo_per_token"] > history[0]["train_elbo_per_token"]
    assert all(np.isfinite(r["val_perplexity"]) for r in history)
    assert fitted.module_.gamma_concentration == 2.0  # the estimator's default reaches the module


def test_same_seed_same_topics(small_corpus, fitted):
    again = GeneralizedGBN(n_topics=[6, 3], n_layers=2, seed=3, **FAST).fit(small_corpus)
    for layer in (1, 2):
        assert np.array_equal(fitted.topic_word(layer), again.topic_word(layer))
    other = GeneralizedGBN(n_topics=[6, 3], n_layers=2, seed=4, **FAST).fit(small_corpus)
    assert not np.array_equal(fitted.topic_word(1), other.topic_word(1))


def test_linear_topics_are_products_of_the_loadings(small_corpus):
    model = GeneralizedGBN(n_topics=[6, 3], n_layers=2, link="linear", seed=0, **FAST).fit(small_corpus)
    phi1, phi2 = (link.phi.detach() for link in model.module_.links)
    expected = (phi1 @ phi2).T
    assert np.allclose(model.topic_word(2), (expected / expected.sum(1, keepdim=True)).numpy(), atol=1e-5)
    assert np.allclose(model.topic_children(2), phi2.T.numpy(), atol=1e-5)


def test_topics_of_every_layer_are_distributions(fitted):
    for layer, width in ((1, 6), (2, 3)):
        dist = fitted.topic_word(layer)
        assert dist.shape == (width, 60)
        assert np.allclose(dist.sum(1), 1.0, atol=1e-5) and (dist >= 0).all()
        assert len(fitted.topics(layer, top_n=4)) == width
    children = fitted.topic_children(2)
    assert children.shape == (3, 6) and np.allclose(children.sum(1), 1.0, atol=1e-5)
    with pytest.raises(UserInputError):
        fitted.topics(3)


def test_transform_shapes_and_non_negative(fitted, small_corpus):
    thetas = fitted.transform_layers(small_corpus.counts[:10])
    assert [t.shape for t in thetas] == [(10, 6), (10, 3)]
    assert all((t >= 0).all() for t in thetas)


def test_save_load_round_trip_gives_identical_transform(fitted, small_corpus, tmp_path):
    fitted.save(tmp_path / "model")
    loaded = GeneralizedGBN.load(tmp_path / "model", device="cpu")
    for a, b in zip(fitted.transform_layers(small_corpus), loaded.transform_layers(small_corpus)):
        assert np.array_equal(a, b)
    assert loaded.topics(2) == fitted.topics(2)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["params"]["seed"] == 3 and config["vocab_hash"] == small_corpus.vocab_hash()


def test_load_rejects_a_pickle_and_a_tampered_file(fitted, tmp_path):
    folder = fitted.save(tmp_path / "model")
    (folder / "model.safetensors").write_bytes(b"\x80\x04K\x01." + b"garbage" * 10)
    with pytest.raises(UserInputError, match="model.safetensors: SHA-256 differs"):
        GeneralizedGBN.load(folder, device="cpu")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(UserInputError, match="not valid JSON"):
        GeneralizedGBN.load(folder, device="cpu")


def test_tree_round_trips_through_json(fitted):
    tree = fitted.tree(top_n=5, min_edge=0.2)
    assert {n.layer for n in tree.nodes} == {1, 2}
    children = fitted.topic_children(2)
    expected = {(f"L2-{p}", f"L1-{c}") for p, c in zip(*np.nonzero(children >= 0.2))}
    assert {(e.parent, e.child) for e in tree.edges} == expected
    assert all(e.weight >= 0.2 for e in tree.edges)
    again = Tree.from_dict(json.loads(json.dumps(tree.to_dict())))
    assert again.to_dict() == tree.to_dict()
    assert "L2-0" in tree.to_markdown()


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(n_layers=0), "--layers"),
        (dict(n_topics=[4, 2], n_layers=3), "--topics gives 2 widths"),
        (dict(n_topics=[100], n_layers=1), "vocabulary only 60 words"),
        (dict(lr=-1.0), "--lr"),
        (dict(link="cubic"), "--link"),
        (dict(encoder="sideways"), "--encoder"),
    ],
)
def test_bad_parameters_are_user_errors(small_corpus, params, message):
    with pytest.raises(UserInputError, match=message):
        GeneralizedGBN(device="cpu", epochs=1, **params).fit(small_corpus)


def test_recovers_planted_block_topics(small_corpus):
    """Each of the 6 planted topics owns 10 words; the learned layer-1 topics should find the blocks."""
    model = GeneralizedGBN(n_topics=[6, 3], n_layers=2, seed=0, epochs=60, batch_size=32, hidden=32, device="cpu")
    dist = model.fit(small_corpus).topic_word(1)
    block_mass = dist.reshape(6, 6, 10).sum(-1)  # topic x block
    assert np.median(block_mass.max(1)) > 0.7
    assert len(set(block_mass.argmax(1))) >= 5


def test_word_distribution_of_every_layer(fitted, small_corpus):
    from deepgbn_text.evaluate import completion_perplexity, completion_split

    observed, heldout = completion_split(small_corpus.counts, seed=0)
    for layer in (1, 2):
        dist = fitted.word_distribution(observed[:5], layer=layer)
        assert dist.shape == (5, 60) and np.allclose(dist.sum(1), 1.0, atol=1e-5)
    whole = completion_perplexity(fitted, observed, heldout)
    assert 1.0 < whole < 60.0  # better than uniform over 60 words


class _DenseOnly:
    """A model seen through ``word_distribution`` alone (the evaluators' fallback path)."""

    def __init__(self, model, layer):
        self.model, self.layer = model, layer

    def word_distribution(self, observed):
        return self.model.word_distribution(observed, layer=self.layer)


def test_entry_probabilities_match_the_dense_distribution_at_every_layer(fitted, small_corpus):
    from deepgbn_text.evaluate import completion_perplexity, completion_split
    from deepgbn_text.evaluate.report import _LayerScorer

    observed, heldout = completion_split(small_corpus.counts, seed=0)
    block = heldout[:20].tocoo()
    for layer in (1, 2):
        dense = fitted.word_distribution(observed[:20], layer=layer)[block.row, block.col]
        entries = fitted.word_probabilities(observed[:20], block.row, block.col, layer=layer)
        assert np.allclose(entries, dense, rtol=1e-5, atol=1e-9)
        by_entry = completion_perplexity(_LayerScorer(fitted, layer), observed, heldout)
        by_row = completion_perplexity(_DenseOnly(fitted, layer), observed, heldout)
        assert by_entry == pytest.approx(by_row, rel=1e-5)


def test_refinement_moves_only_local_parameters_and_raises_the_elbo(fitted, small_corpus):
    from deepgbn_text.model.refine import refine_posterior_means

    module = fitted.module_
    batch = SparseBatch.from_csr(small_corpus.counts[:40])
    start = module.posterior_means(batch)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(refine_posterior_means(module, batch, 0), start))
    torch.manual_seed(0)
    refined = refine_posterior_means(module, batch, 60)
    assert all(p.grad is None or not p.grad.any() for p in module.parameters())

    def mean_elbo(means):  # the ELBO at these means with the encoder's shapes, averaged over draws
        shapes, _ = module.posterior_params(batch)
        from deepgbn_text.distributions import weibull_scale_from_mean

        post = lambda i, prior: (shapes[i], weibull_scale_from_mean(shapes[i], means[i]), means[i])
        with torch.no_grad():
            return torch.stack([module.elbo_terms(batch, post).elbo().mean() for _ in range(200)]).mean()

    torch.manual_seed(1)
    assert mean_elbo(refined) > mean_elbo(start)


def test_same_seed_same_model_with_a_larger_vocabulary():
    """Big enough for the multi-threaded sparse-gather backward to reorder sums without the guard."""
    from deepgbn_text import Corpus
    from conftest import synthetic_counts

    counts = synthetic_counts(n_docs=600, n_words=3000, n_topics=20, seed=1)
    corpus = Corpus(counts, [f"w{i}" for i in range(3000)])
    params = dict(n_topics=[64, 16], n_layers=2, epochs=2, hidden=64, device="cpu", seed=5)
    first = GeneralizedGBN(**params).fit(corpus)
    second = GeneralizedGBN(**params).fit(corpus)
    assert np.array_equal(first.topic_word(1), second.topic_word(1))


def test_refine_steps_parameter_drives_word_distribution(fitted, small_corpus):
    observed = small_corpus.counts[:8]
    base = fitted.word_distribution(observed)
    torch.manual_seed(0)
    refined = fitted.word_distribution(observed, refine_steps=10)
    assert not np.allclose(base, refined) and np.allclose(refined.sum(1), 1.0, atol=1e-5)
    fitted.refine_steps = 10
    try:
        torch.manual_seed(0)
        assert np.array_equal(fitted.word_distribution(observed), refined)
        assert "refined by 10" in fitted.inference
    finally:
        fitted.refine_steps = 0


def test_upward_only_encoder_heads_ignore_the_prior(small_corpus, tmp_path):
    model = GeneralizedGBN(n_topics=[6, 3], n_layers=2, encoder="upward", seed=0, **FAST).fit(small_corpus)
    assert all(head.linear.in_features == FAST["hidden"] for head in model.module_.heads)
    loaded = GeneralizedGBN.load(model.save(tmp_path / "m"), device="cpu")
    assert loaded.encoder == "upward"
    assert np.array_equal(loaded.transform_layers(small_corpus)[1], model.transform_layers(small_corpus)[1])


def test_balanced_columns_are_a_plan_between_uniform_marginals():
    from deepgbn_text.model.links import balanced_columns

    torch.manual_seed(0)
    phi = balanced_columns(torch.randn(12, 4) * 3)
    assert torch.allclose(phi.sum(0), torch.ones(4), atol=1e-6)  # every parent a distribution
    assert torch.allclose(phi.sum(1), torch.full((12,), 4 / 12), atol=1e-3)  # every child the same share
    assert (phi >= 0).all()


def test_sinkhorn_scaling_matches_the_log_space_steps_and_survives_a_wide_range():
    from deepgbn_text.model.links import sinkhorn_scaling

    def log_space(logits, iterations):  # the textbook form: potentials updated by log-sum-exps
        n_out, n_in = logits.shape
        log_v = torch.zeros(1, n_in, dtype=logits.dtype)
        for _ in range(iterations):
            log_u = -math.log(n_out) - torch.logsumexp(logits + log_v, dim=1, keepdim=True)
            log_v = -math.log(n_in) - torch.logsumexp(logits + log_u, dim=0, keepdim=True)
        return torch.exp(logits + log_u + log_v + math.log(n_in))

    torch.manual_seed(0)
    for shape in [(128, 32), (32, 8), (8, 128)]:
        logits = torch.randn(*shape, dtype=torch.float64) * 6  # a range of about 50 nats
        assert torch.allclose(sinkhorn_scaling(logits, 20), log_space(logits, 20), atol=1e-12)
    logits = torch.randn(16, 4) * 40  # a range of about 250 nats: entries underflow in float32, none is NaN
    phi = sinkhorn_scaling(logits, 20)
    assert torch.isfinite(phi).all() and torch.allclose(phi.sum(0), torch.ones(4), atol=1e-5)


@pytest.mark.parametrize("shape", [(12, 4), (32, 128)])
def test_balanced_columns_gradient_is_that_of_the_converged_plan(shape):
    from deepgbn_text.model.links import balanced_columns, sinkhorn_scaling

    torch.manual_seed(0)
    logits = (torch.randn(*shape, dtype=torch.float64) * 2).requires_grad_()
    upstream = torch.randn(*shape, dtype=torch.float64)
    (implicit,) = torch.autograd.grad((balanced_columns(logits, 200) * upstream).sum(), logits)
    (unrolled,) = torch.autograd.grad((sinkhorn_scaling(logits, 200) * upstream).sum(), logits)
    assert torch.allclose(implicit, unrolled, atol=1e-10)
    if logits.numel() <= 64:  # finite differences of every entry
        assert torch.autograd.gradcheck(lambda x: balanced_columns(x, 200), (logits,))
    # at the default number of steps, in float32, the same as autograd through the steps
    logits32 = logits.detach().float().requires_grad_()
    (implicit32,) = torch.autograd.grad((balanced_columns(logits32) * upstream.float()).sum(), logits32)
    (unrolled32,) = torch.autograd.grad((sinkhorn_scaling(logits32, 20) * upstream.float()).sum(), logits32)
    assert torch.allclose(implicit32, unrolled32, atol=1e-5)
    assert torch.equal(balanced_columns(logits32), sinkhorn_scaling(logits32.detach(), 20))


def test_layer_likelihood_off_is_exactly_the_elbo(small_corpus):
    torch.manual_seed(0)
    module = GBN(small_corpus.n_words, [8, 4, 2], hidden=16)
    batch = SparseBatch.from_csr(small_corpus.counts[:20])
    torch.manual_seed(1)
    terms = module(batch)
    assert not terms.layer_log_likelihoods
    assert torch.equal(terms.objective(0.3), terms.elbo(0.3))


@pytest.mark.parametrize("min_density", [0.0, float("inf")], ids=["dense-product", "gather"])
def test_layer_likelihood_adds_each_upper_layer_without_moving_the_bottom_topics(small_corpus, monkeypatch,
                                                                                min_density):
    monkeypatch.setattr("deepgbn_text.distributions.PRODUCT_RATES_MIN_DENSITY", min_density)
    torch.manual_seed(0)
    module = GBN(small_corpus.n_words, [8, 4, 2], hidden=16, layer_likelihood=0.5)
    batch = SparseBatch.from_csr(small_corpus.counts[:20])
    torch.manual_seed(1)
    terms = module(batch)
    assert len(terms.layer_log_likelihoods) == 2
    torch.manual_seed(1)
    thetas = module._downward(batch, module._encoder_posterior(batch), sample=True)[0]
    for i, layer_loglik in enumerate(terms.layer_log_likelihoods, start=1):  # each as its own likelihood
        expected = poisson_log_likelihood_sparse(batch.offsets, batch.rows, batch.cols, batch.values,
                                                 module.propagate_down(thetas[i], i, to_layer=0), module.links[0].phi)
        assert torch.allclose(layer_loglik, expected, rtol=1e-5)
    upper = torch.stack(terms.layer_log_likelihoods).sum(0)
    assert torch.allclose(terms.objective(1.0), terms.elbo(1.0) + 0.5 * upper)
    upper.sum().backward()
    assert module.links[0].logits.grad is None or not module.links[0].logits.grad.any()
    assert module.links[1].logits.grad.abs().sum() > 0
    module.eval()
    torch.manual_seed(1)
    assert not module(batch).layer_log_likelihoods  # evaluation scores the ELBO alone


def test_flat_upper_prior_and_a_closed_gate_are_todays_model(small_corpus):
    torch.manual_seed(0)
    flat = GBN(small_corpus.n_words, [8, 4, 2], hidden=16)
    assert flat.upper_log_prior() is None
    sparse = GBN(small_corpus.n_words, [8, 4, 2], hidden=16, upper_concentration=0.5)
    sparse.load_state_dict(flat.state_dict())
    expected = -0.5 * sum(torch.log(link.phi).sum() for link in flat.links[1:])
    assert torch.allclose(sparse.upper_log_prior(), expected)
    capped = NonlinearLink(5, 8, hidden=16, gate_max=0.1)
    capped.gate_raw.data.fill_(0.7)
    assert float(capped.gate.detach()) == pytest.approx(0.1)


def test_gamma_concentration_off_is_the_plain_prior_and_on_caps_the_total_shape_below_the_top(small_corpus):
    from deepgbn_text.distributions import GAMMA_RATE, posterior_kl

    torch.manual_seed(0)
    plain = GBN(small_corpus.n_words, [8, 4, 2], hidden=16)
    capped = GBN(small_corpus.n_words, [8, 4, 2], hidden=16, gamma_concentration=2.0)
    capped.load_state_dict(plain.state_dict())
    batch = SparseBatch.from_csr(small_corpus.counts[:20])
    k, lam = torch.rand(20, 8) + 0.5, torch.rand(20, 8) + 0.5
    long_doc, short_doc = torch.full((1, 8), 50.0), torch.full((1, 8), 0.25)  # totals 400 and 2 <= 2^2
    prior = torch.cat([long_doc, short_doc.expand(19, -1)])
    expected_plain = posterior_kl("weibull", k, lam, prior, GAMMA_RATE).sum(-1)
    assert torch.equal(plain._layer_kl(0, k, lam, prior), expected_plain)
    rho = 2.0 / 400**0.5
    on = capped._layer_kl(0, k, lam, prior)
    assert torch.allclose(on[0], posterior_kl("weibull", k[:1], lam[:1], rho * long_doc, rho).sum(-1))
    assert torch.equal(on[1:], expected_plain[1:])  # a total shape within 2 sqrt(total): the plain prior
    top_k, top_lam, top_prior = k[:, :2], lam[:, :2], prior[:, :2]
    assert torch.equal(capped._layer_kl(2, top_k, top_lam, top_prior), plain._layer_kl(2, top_k, top_lam, top_prior))
    torch.manual_seed(1)
    a = plain(batch)
    torch.manual_seed(1)
    b = capped(batch)
    assert torch.equal(a.log_likelihood, b.log_likelihood) and torch.equal(a.kl_per_layer[2], b.kl_per_layer[2])
    assert not torch.equal(a.kl_per_layer[0], b.kl_per_layer[0])


def test_a_model_saved_before_the_new_parameters_loads_as_it_was(small_corpus, tmp_path):
    from deepgbn_text.estimator import LEGACY_PARAMS

    old = GeneralizedGBN(n_topics=[8, 4], n_layers=2, **LEGACY_PARAMS, epochs=2, hidden=16, patience=7, device="cpu")
    old.fit(small_corpus).save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    for name in [*LEGACY_PARAMS, "deep_patience"]:
        del config["params"][name]
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    loaded = GeneralizedGBN.load(tmp_path / "m", device="cpu")
    assert {name: getattr(loaded, name) for name in LEGACY_PARAMS} == LEGACY_PARAMS
    assert loaded.deep_patience == 7  # its deep stage stopped as its pretraining did
    assert not loaded.module_.links[1].balanced
    assert loaded.module_.gamma_concentration == 0.0
    np.testing.assert_array_equal(loaded.transform_layers(small_corpus)[1], old.transform_layers(small_corpus)[1])


def test_the_default_batch_grows_with_the_corpus_and_the_learning_rate_with_the_batch(small_corpus):
    from deepgbn_text.estimator import default_batch_size, default_lr

    sizes = [default_batch_size(n) for n in (10, 4095, 4096, 8191, 8192, 10**6)]
    assert sizes == [64, 64, 128, 128, 256, 256]  # at least 32 steps an epoch, from 64 up to 256
    assert [default_lr(b) for b in (16, 64, 256, 4096)] == pytest.approx([3e-3, 3e-3, 6e-3, 6e-3])
    settings = dict(n_topics=[4], n_layers=1, epochs=1, hidden=8, device="cpu", val_fraction=0.0)
    learning_rates = [GeneralizedGBN(**settings, **given).fit(small_corpus).history_[0]["lr"]
                      for given in ({}, {"batch_size": 256}, {"batch_size": 256, "lr": 1e-3})]
    assert learning_rates == pytest.approx([3e-3, 6e-3, 1e-3])  # given values win; lr follows a given batch


def test_the_default_topic_learning_rate_follows_the_documents_length(small_corpus):
    from deepgbn_text.estimator import default_topic_lr_scale

    assert [default_topic_lr_scale(n) for n in (5.4, 19.9, 20.0, 950.0)] == [10.0, 10.0, 30.0, 30.0]
    titles = sp.csr_matrix(np.ones((10, 6)))  # 6 tokens a document
    model = GeneralizedGBN(device="cpu")
    assert model._train_config(small_corpus.counts, np.arange(small_corpus.n_docs)).topic_lr_scale == 30.0
    assert model._train_config(titles, np.arange(10)).topic_lr_scale == 10.0
    assert GeneralizedGBN(topic_lr_scale=7.0)._train_config(titles, np.arange(10)).topic_lr_scale == 7.0
