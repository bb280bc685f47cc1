"""``torch_compile=True``: the training forward through torch.compile (inductor needs a C++ compiler on
CPU; those tests skip where there is none). Same seed, same topics; it learns as the eager fit does; a
missing toolchain is one clear error before training."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import needs_compiler

from deepgbn_text import GeneralizedGBN, UserInputError

OPTIONS = dict(n_topics=[6, 3], n_layers=2, epochs=8, batch_size=64, hidden=16, patience=50, seed=1, device="cpu")


@pytest.fixture(scope="module")
def compiled(small_corpus):
    return GeneralizedGBN(torch_compile=True, **OPTIONS).fit(small_corpus)


@needs_compiler
def test_a_compiled_fit_learns_like_an_eager_one(small_corpus, compiled):
    eager = GeneralizedGBN(**OPTIONS).fit(small_corpus)
    history = compiled.history_
    assert history[-1]["train_elbo_per_token"] > history[0]["train_elbo_per_token"]
    best_compiled = min(r["val_perplexity"] for r in history)
    best_eager = min(r["val_perplexity"] for r in eager.history_)
    assert abs(best_compiled - best_eager) < 0.05 * best_eager


@needs_compiler
def test_same_seed_same_topics_when_compiled(small_corpus, compiled):
    again = GeneralizedGBN(torch_compile=True, **OPTIONS).fit(small_corpus)
    assert np.array_equal(compiled.topic_word(1), again.topic_word(1))


def test_torch_compile_must_be_a_bool(small_corpus):
    with pytest.raises(UserInputError, match="--torch-compile"):
        GeneralizedGBN(torch_compile="yes", **OPTIONS).fit(small_corpus)


def test_a_missing_compiler_is_one_clear_error_before_training(small_corpus, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(UserInputError, match=r"--torch-compile on a CPU needs a C\+\+ compiler.*leave the option out"):
        GeneralizedGBN(torch_compile=True, **OPTIONS).fit(small_corpus)
