"""Greedy layer-wise start: a deep model's bottom layer starts from a one-layer model fitted first."""
from __future__ import annotations

import json

import numpy as np
import torch

from deepgbn_text import GeneralizedGBN
from deepgbn_text.model.gbn import BOTTOM_PARAMETERS, GBN

FAST = dict(n_topics=[6, 3], n_layers=2, epochs=6, hidden=32, patience=50, device="cpu", seed=3)


def test_start_bottom_from_copies_the_bottom_and_nothing_else():
    torch.manual_seed(0)
    deep, single = GBN(20, [6, 3], hidden=16), GBN(20, [6], hidden=16)
    before = {name: value.clone() for name, value in deep.state_dict().items()}
    deep.start_bottom_from(single)
    copied = [name for name in before if name.startswith(BOTTOM_PARAMETERS)]
    assert sorted(copied) == ["encoder.bias", "encoder.embed.weight", "encoder.norm.bias", "encoder.norm.weight",
                              "links.0.logits"]
    for name, value in deep.state_dict().items():
        expected = single.state_dict()[name] if name in copied else before[name]
        assert torch.equal(value, expected), name


def test_the_pretraining_is_the_one_layer_fit(small_corpus):
    deep = GeneralizedGBN(**FAST).fit(small_corpus)
    single = GeneralizedGBN(**{**FAST, "n_topics": [6], "n_layers": 1}).fit(small_corpus)
    assert single.pretrain_history_ == []  # nothing to pretrain under one layer
    assert [r["stage"] for r in deep.pretrain_history_] == ["bottom"] * len(single.history_)
    same = ("train_elbo_per_token", "val_elbo_per_token")
    assert [[r[k] for k in same] for r in deep.pretrain_history_] == [[r[k] for k in same] for r in single.history_]
    # the bottom topics moved on from the one-layer model's during the deep fit
    assert not np.allclose(deep.topic_word(1), single.topic_word(1))


def test_switched_off_it_is_the_cold_start_and_on_it_changes_the_fit(small_corpus):
    cold = GeneralizedGBN(**FAST, pretrain_bottom=False).fit(small_corpus)
    again = GeneralizedGBN(**FAST, pretrain_bottom=False).fit(small_corpus)
    warm = GeneralizedGBN(**FAST).fit(small_corpus)
    assert cold.pretrain_history_ == [] and np.array_equal(cold.topic_word(1), again.topic_word(1))
    assert not np.allclose(cold.topic_word(1), warm.topic_word(1))
    assert np.array_equal(warm.topic_word(2), GeneralizedGBN(**FAST).fit(small_corpus).topic_word(2))  # same seed


def test_callback_records_say_their_stage_and_a_resumed_fit_skips_the_pretraining(small_corpus, tmp_path):
    records: list[dict] = []
    checkpoint = tmp_path / "ckpt.pt"
    model = GeneralizedGBN(**FAST).fit(small_corpus, callback=records.append, checkpoint=checkpoint)
    stages = [r.get("stage") for r in records]
    assert stages == ["bottom"] * len(model.pretrain_history_) + [None] * len(model.history_)
    resumed = GeneralizedGBN(**FAST).fit(small_corpus, checkpoint=checkpoint, resume=True)
    assert resumed.pretrain_history_ == []
    assert np.allclose(resumed.topic_word(1), model.topic_word(1))


def test_a_model_saved_before_the_option_loads_as_fitted_without_it(small_corpus, tmp_path):
    model = GeneralizedGBN(**FAST).fit(small_corpus)
    config_path = model.save(tmp_path / "m") / "config.json"
    assert GeneralizedGBN.load(tmp_path / "m", device="cpu").pretrain_bottom is True
    config = json.loads(config_path.read_text())
    del config["params"]["pretrain_bottom"]
    config_path.write_text(json.dumps(config))
    old = GeneralizedGBN.load(tmp_path / "m", device="cpu")
    assert old.pretrain_bottom is False
    assert np.allclose(old.topic_word(1), model.topic_word(1))
