"""The deep model's bottom topics started from collapsed Gibbs LDA (``gibbs_sweeps``)."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split

from deepgbn_text import GeneralizedGBN
from deepgbn_text.errors import UserInputError
from deepgbn_text.model import lda_start
from deepgbn_text.model.lda_start import gibbs_topics

FAST = dict(n_topics=[6, 3], n_layers=2, epochs=4, hidden=16, patience=50, device="cpu", seed=3, gibbs_sweeps=50)


def test_gibbs_topics_recover_block_topics_and_scale_the_latents_by_length(small_corpus):
    counts = small_corpus.counts
    rows = np.flatnonzero(np.diff(counts.indptr) > 0)
    topics, latents = gibbs_topics(counts, rows, 6, 200, seed=0, latent_rows=rows[:40])
    assert topics.shape == (counts.shape[1], 6) and np.allclose(topics.sum(0), 1.0, atol=1e-5)
    # conftest's topics put their mass on slices of 10 words: each LDA topic's top 10 words are one slice
    blocks = {frozenset(np.argsort(-topics[:, k])[:10] // 10) for k in range(6)}
    assert sorted(len(b) for b in blocks) == [1] * 6 and len(blocks) == 6
    lengths = np.asarray(counts[rows[:40]].sum(1)).ravel()
    assert latents.shape == (40, 6) and np.allclose(latents.sum(1), lengths, rtol=1e-4)
    again = gibbs_topics(counts, rows, 6, 200, seed=0, latent_rows=rows[:40])
    assert np.array_equal(topics, again[0]) and np.array_equal(latents, again[1])  # same seed, same start


def test_documents_beyond_the_cap_get_their_latents_by_inference(small_corpus, monkeypatch):
    monkeypatch.setattr(lda_start, "GIBBS_MAX_DOCUMENTS", 100)
    counts = small_corpus.counts
    rows = np.flatnonzero(np.diff(counts.indptr) > 0)
    topics, latents = gibbs_topics(counts, rows, 6, 100, seed=0, latent_rows=rows)
    lengths = np.asarray(counts[rows].sum(1)).ravel()
    assert latents.shape == (len(rows), 6) and np.allclose(latents.sum(1), lengths, rtol=1e-4)
    assert np.isfinite(topics).all()


def test_the_deep_stage_starts_from_the_gibbs_topics(small_corpus, monkeypatch):
    started: list[torch.Tensor] = []
    real = GeneralizedGBN._pretrain_bottom

    def keep_start(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        history = real(self, *args, **kwargs)
        started.append(self.module_.links[0].phi.detach().clone())
        return history

    monkeypatch.setattr(GeneralizedGBN, "_pretrain_bottom", keep_start)
    model = GeneralizedGBN(**FAST).fit(small_corpus)
    counts = small_corpus.counts
    rows = np.flatnonzero(np.diff(counts.indptr) > 0)
    assert model.pretrain_history_  # the one-layer pretraining still ran (it gives the encoder its start)
    # the start is LDA's topics on the fit's training documents (its own split), up to float32 rounding
    train_rows = np.sort(train_test_split(rows, test_size=model.val_fraction, random_state=FAST["seed"])[0])
    expected, _ = gibbs_topics(counts, train_rows, 6, FAST["gibbs_sweeps"], FAST["seed"], train_rows[:1])
    assert torch.allclose(started[0], torch.from_numpy(expected), atol=1e-6)


def test_switched_off_it_is_the_one_layer_models_start(small_corpus, monkeypatch):
    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("gibbs_topics called with gibbs_sweeps=0")

    monkeypatch.setattr("deepgbn_text.estimator.gibbs_topics", refuse)
    off = GeneralizedGBN(**{**FAST, "gibbs_sweeps": 0}).fit(small_corpus)
    assert np.array_equal(off.topic_word(1), GeneralizedGBN(**{**FAST, "gibbs_sweeps": 0}).fit(small_corpus).topic_word(1))


def test_on_it_changes_the_fit_and_a_seed_repeats_it(small_corpus):
    on = GeneralizedGBN(**FAST).fit(small_corpus)
    assert np.array_equal(on.topic_word(1), GeneralizedGBN(**FAST).fit(small_corpus).topic_word(1))
    assert not np.allclose(on.topic_word(1), GeneralizedGBN(**{**FAST, "gibbs_sweeps": 0}).fit(small_corpus).topic_word(1))


def test_without_tomotopy_the_fit_says_how_to_go_on(small_corpus, monkeypatch):
    monkeypatch.setitem(sys.modules, "tomotopy", None)  # makes "import tomotopy" fail
    with pytest.raises(UserInputError, match=r"the Gibbs start .* 0 turns it off\) needs tomotopy: pip install tomotopy"):
        GeneralizedGBN(**FAST).fit(small_corpus)
    GeneralizedGBN(**{**FAST, "gibbs_sweeps": 0}).fit(small_corpus)


def test_pools_need_the_gibbs_start_off():
    with pytest.raises(UserInputError, match="--everyday-pools: .* add --gibbs-sweeps 0"):
        GeneralizedGBN(n_topics=[6, 3], n_layers=2, everyday_pools=2).validate_params()
    GeneralizedGBN(n_topics=[6, 3], n_layers=2, everyday_pools=2, gibbs_sweeps=0).validate_params()
    GeneralizedGBN(n_topics=[6], n_layers=1, everyday_pools=2).validate_params()  # nothing to replace
    with pytest.raises(UserInputError, match="gibbs_sweeps"):
        GeneralizedGBN(gibbs_sweeps=-1).validate_params()
