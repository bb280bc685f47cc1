"""The gamma posterior option (posterior="gamma"): fitting, saving, loading, refinement, the command line."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deepgbn_text import GeneralizedGBN, UserInputError
from deepgbn_text.model import GBN, SparseBatch

FAST = dict(epochs=15, batch_size=64, hidden=32, patience=50, device="cpu")


@pytest.fixture(scope="module")
def gamma_model(small_corpus):
    return GeneralizedGBN(n_topics=[6, 3], n_layers=2, posterior="gamma", seed=0, **FAST).fit(small_corpus)


def test_gamma_posterior_fit_improves_the_elbo(gamma_model):
    elbo = [record["train_elbo_per_token"] for record in gamma_model.history_]
    assert all(np.isfinite(elbo)) and elbo[-1] > elbo[0] + 0.3  # -2.44 -> -2.04 (the plain prior: -2.74 -> -2.13)
    assert gamma_model.history_[-1]["val_perplexity"] < gamma_model.history_[0]["val_perplexity"]
    assert sum(record["skipped_steps"] for record in gamma_model.history_) == 0
    assert all(head.posterior == "gamma" for head in gamma_model.module_.heads)


def test_gamma_posterior_is_reproducible_and_differs_from_weibull(small_corpus, gamma_model):
    again = GeneralizedGBN(n_topics=[6, 3], n_layers=2, posterior="gamma", seed=0, **FAST).fit(small_corpus)
    assert np.array_equal(again.topic_word(1), gamma_model.topic_word(1))
    weibull = GeneralizedGBN(n_topics=[6, 3], n_layers=2, seed=0, **FAST).fit(small_corpus)
    assert not np.array_equal(weibull.topic_word(1), gamma_model.topic_word(1))


def test_gamma_posterior_means_are_the_heads_means(small_corpus, gamma_model):
    module = gamma_model.module_
    batch = SparseBatch.from_csr(small_corpus.counts[:30])
    shapes, means = module.posterior_params(batch)
    for k, mean in zip(shapes, means):
        _, rate, _ = module.posterior_from_mean(k, mean)
        assert torch.allclose(k / rate, mean, rtol=1e-5, atol=1e-6)


def test_gamma_posterior_saves_loads_and_refines(small_corpus, gamma_model, tmp_path):
    folder = gamma_model.save(tmp_path / "m")
    assert json.loads((folder / "config.json").read_text())["params"]["posterior"] == "gamma"
    loaded = GeneralizedGBN.load(folder, device="cpu")
    assert loaded.posterior == "gamma" and loaded.module_.posterior == "gamma"
    assert np.array_equal(loaded.transform_layers(small_corpus)[0], gamma_model.transform_layers(small_corpus)[0])
    observed = small_corpus.counts[:8]
    torch.manual_seed(0)
    refined = loaded.word_distribution(observed, refine_steps=10)
    assert np.isfinite(refined).all() and np.allclose(refined.sum(1), 1.0, atol=1e-5)
    assert not np.allclose(refined, loaded.word_distribution(observed))


def test_config_without_posterior_loads_as_weibull(small_corpus, tmp_path):
    """Models saved before the option existed have no 'posterior' key: they were Weibull models."""
    model = GeneralizedGBN(n_topics=[6, 3], n_layers=2, seed=0, **{**FAST, "epochs": 2}).fit(small_corpus)
    folder = model.save(tmp_path / "old")
    config = json.loads((folder / "config.json").read_text())
    assert config["params"].pop("posterior") == "weibull"
    (folder / "config.json").write_text(json.dumps(config))
    loaded = GeneralizedGBN.load(folder, device="cpu")
    assert loaded.posterior == "weibull" and loaded.module_.posterior == "weibull"
    assert np.array_equal(loaded.transform_layers(small_corpus)[0], model.transform_layers(small_corpus)[0])


def test_bad_posterior_is_a_user_error(small_corpus):
    with pytest.raises(UserInputError, match="--posterior"):
        GeneralizedGBN(posterior="lognormal", device="cpu", epochs=1).fit(small_corpus)
    with pytest.raises(ValueError, match="posterior"):
        GBN(10, [4], posterior="lognormal")


def test_cli_fit_takes_posterior(small_corpus, tmp_path):
    from typer.testing import CliRunner

    from ggbn_topics.app import app

    small_corpus.save(tmp_path / "prepared")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["fit", str(tmp_path / "prepared"), "--layers", "1", "--topics", "5",
                                      "--posterior", "gamma", "--epochs", "2", "--hidden", "16", "--device", "cpu",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["params"]["posterior"] == "gamma"
