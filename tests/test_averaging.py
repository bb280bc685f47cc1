"""Parameter averaging (``ema_decay``): the moving average itself, and how the trainer validates, keeps,
checkpoints and rolls it back."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepgbn_text import GeneralizedGBN, UserInputError
from deepgbn_text.training.averaging import WARMUP_UPDATES, ParameterAverage
from deepgbn_text.model.gbn import GBN
from deepgbn_text.training.trainer import Trainer

FAST = dict(n_topics=[6, 3], n_layers=2, epochs=4, batch_size=32, hidden=16, patience=50, device="cpu", seed=5,
            ema_decay=0.9, pretrain_bottom=False)  # one training run to instrument


def test_the_average_follows_the_warmed_up_exponential_recursion():
    layer = nn.Linear(3, 2)
    average = ParameterAverage(layer, decay=0.9)
    expected = [p.detach().clone().double() for p in layer.parameters()]
    rng = np.random.default_rng(0)
    for t in range(40):
        with torch.no_grad():
            for p in layer.parameters():
                p.copy_(torch.from_numpy(rng.normal(size=tuple(p.shape))))
        average.update()
        kept = min(0.9, (1 + t) / (WARMUP_UPDATES + t))
        expected = [kept * e + (1 - kept) * p.detach().double() for e, p in zip(expected, layer.parameters())]
    for got, want in zip(average.average, expected):
        assert torch.allclose(got.double(), want, atol=1e-6)
    assert average.updates == 40


def test_applied_swaps_the_average_in_and_restores_the_parameters_exactly():
    layer = nn.Linear(4, 4)
    average = ParameterAverage(layer, decay=0.5)
    with torch.no_grad():
        layer.weight.add_(1.0)
    average.update()
    own = [p.detach().clone() for p in layer.parameters()]
    mean = [a.clone() for a in average.average]
    with average.applied():
        assert all(torch.equal(p, m) for p, m in zip(layer.parameters(), mean))
    assert all(torch.equal(p, o) for p, o in zip(layer.parameters(), own))
    assert not torch.equal(own[0], mean[0])


@pytest.mark.parametrize("decay", [1.0, -0.1, 0.0])
def test_decay_outside_the_open_unit_interval_is_refused(decay):
    with pytest.raises(ValueError, match="decay"):
        ParameterAverage(nn.Linear(2, 2), decay)


def test_bad_ema_decay_is_a_user_error(small_corpus):
    with pytest.raises(UserInputError, match="--ema-decay: invalid value 1.0"):
        GeneralizedGBN(**{**FAST, "ema_decay": 1.0}).fit(small_corpus)


def test_without_validation_the_fit_returns_the_average_the_callback_saw(small_corpus):
    seen = []
    options = {**FAST, "val_fraction": 0.0}

    def callback(record):
        seen.append({k: v.clone() for k, v in model.module_.state_dict().items()})

    model = GeneralizedGBN(**options)
    model.fit(small_corpus, callback=callback)
    final = model.module_.state_dict()
    assert all(torch.equal(final[k], v) for k, v in seen[-1].items())
    plain = GeneralizedGBN(**{**options, "ema_decay": 0.0}).fit(small_corpus).module_.state_dict()
    assert not all(torch.equal(final[k], v) for k, v in plain.items())


def test_validation_scores_and_keeps_the_average(small_corpus, monkeypatch):
    import deepgbn_text.training.trainer as train_module

    scored, real_elbo_sum = [], train_module._elbo_sum

    def elbo_sum(module, batches, device):
        scored.append(next(module.parameters()).detach().clone())
        return real_elbo_sum(module, batches, device)

    averages = []
    real_update = ParameterAverage.update

    def update(self):
        real_update(self)
        averages.append(self.average[0].clone())

    monkeypatch.setattr(train_module, "_elbo_sum", elbo_sum)
    monkeypatch.setattr(ParameterAverage, "update", update)
    model = GeneralizedGBN(**FAST).fit(small_corpus)
    steps = len(averages) // len(scored)
    for epoch, weights in enumerate(scored, start=1):
        assert torch.equal(weights, averages[epoch * steps - 1])
    best = max(model.history_, key=lambda r: r["val_elbo_per_token"])["epoch"]
    assert torch.equal(next(model.module_.parameters()).detach(), scored[best - 1])


def test_a_rolled_back_epoch_leaves_the_average_as_it_was_before_it(small_corpus, monkeypatch):
    steps_per_epoch = int(np.ceil(0.9 * small_corpus.n_docs / FAST["batch_size"]))
    calls = [0]
    real_forward = GBN.forward

    def forward(self, batch):
        terms = real_forward(self, batch)
        calls[0] += 1
        if steps_per_epoch < calls[0] <= 2 * steps_per_epoch:  # every step of epoch 2, once
            terms.log_likelihood = terms.log_likelihood * torch.nan
        return terms

    snapshots, after_roll_back = [], []
    real_snapshot, real_roll_back = Trainer._snapshot, Trainer._roll_back

    def snapshot(self):
        real_snapshot(self)
        snapshots.append([a.clone() for a in self.average.average])

    def roll_back(self, bad, n_steps):
        real_roll_back(self, bad, n_steps)
        after_roll_back.append([a.clone() for a in self.average.average])

    monkeypatch.setattr(GBN, "forward", forward)
    monkeypatch.setattr(Trainer, "_snapshot", snapshot)
    monkeypatch.setattr(Trainer, "_roll_back", roll_back)
    model = GeneralizedGBN(**FAST).fit(small_corpus)
    assert [r["rollbacks"] for r in model.history_] == [0, 1, 1, 1]
    assert len(after_roll_back) == 1
    assert all(torch.equal(a, s) for a, s in zip(after_roll_back[0], snapshots[1]))


def test_resume_after_a_crash_mid_epoch_restores_the_average_bit_identical(small_corpus, tmp_path, monkeypatch):
    uninterrupted = GeneralizedGBN(**FAST).fit(small_corpus)
    ckpt = tmp_path / "checkpoint.pt"
    real_step, calls = Trainer._step, [0]

    def step(self, batch, kl_weight):
        calls[0] += 1
        if calls[0] > 9:
            raise KeyError("crash")
        real_step(self, batch, kl_weight)

    with monkeypatch.context() as m:
        m.setattr(Trainer, "_step", step)
        with pytest.raises(KeyError, match="crash"):
            GeneralizedGBN(**FAST).fit(small_corpus, checkpoint=ckpt, checkpoint_every=2)
    resumed = GeneralizedGBN(**FAST).fit(small_corpus, checkpoint=ckpt, checkpoint_every=2, resume=True)
    for name, value in uninterrupted.module_.state_dict().items():
        assert torch.equal(value, resumed.module_.state_dict()[name]), name
    assert [r["val_perplexity"] for r in resumed.history_] == [r["val_perplexity"] for r in uninterrupted.history_]
