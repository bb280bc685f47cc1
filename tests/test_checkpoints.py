"""Checkpoints, exact resume and numerical-fault handling of the trainer (API level)."""
from __future__ import annotations

import pickle
import tempfile

import numpy as np
import pytest
import torch

from deepgbn_text import GeneralizedGBN, UserInputError
from deepgbn_text.model.gbn import GBN
from deepgbn_text.training.trainer import Trainer, TrainingDiverged

FAST = dict(n_topics=[6, 3], n_layers=2, epochs=4, batch_size=32, hidden=16, patience=50, device="cpu", seed=5,
            pretrain_bottom=False)  # checkpoints cover the deep stage only (a pretraining is not saved)


class Crash(RuntimeError):
    """Stands in for a process dying mid-training."""


def _weights(model: GeneralizedGBN) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.module_.state_dict().items()}


def _crash_after(monkeypatch: pytest.MonkeyPatch, n_steps: int) -> None:
    real_step, calls = Trainer._step, [0]

    def step(self, batch, kl_weight):
        calls[0] += 1
        if calls[0] > n_steps:
            raise Crash
        real_step(self, batch, kl_weight)

    monkeypatch.setattr(Trainer, "_step", step)


@pytest.fixture(scope="module")
def uninterrupted(small_corpus):
    return GeneralizedGBN(**FAST).fit(small_corpus)


@pytest.mark.parametrize("crash_step", [5, 17])
def test_resume_after_a_crash_mid_epoch_ends_bit_identical(small_corpus, uninterrupted, tmp_path, monkeypatch,
                                                            crash_step):
    ckpt = tmp_path / "checkpoint.pt"
    with monkeypatch.context() as m:
        _crash_after(m, crash_step)
        with pytest.raises(Crash):
            GeneralizedGBN(**FAST).fit(small_corpus, checkpoint=ckpt, checkpoint_every=2)
    assert ckpt.is_file()
    resumed = GeneralizedGBN(**FAST).fit(small_corpus, checkpoint=ckpt, checkpoint_every=2, resume=True)
    for name, value in _weights(uninterrupted).items():
        assert torch.equal(value, resumed.module_.state_dict()[name]), name
    assert [r["val_perplexity"] for r in resumed.history_] == [r["val_perplexity"] for r in uninterrupted.history_]
    assert resumed.theta_mean_ == uninterrupted.theta_mean_


def test_resume_refuses_a_checkpoint_from_other_settings(small_corpus, tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    GeneralizedGBN(**{**FAST, "epochs": 1}).fit(small_corpus, checkpoint=ckpt)
    with pytest.raises(UserInputError, match="different run.*lr"):
        GeneralizedGBN(**{**FAST, "epochs": 1, "lr": 1e-2}).fit(small_corpus, checkpoint=ckpt, resume=True)


class _Payload:
    def __reduce__(self):
        return (open, ("/tmp/deepgbn-pwned-marker", "w"))


def test_a_pickled_object_in_place_of_a_checkpoint_is_refused_and_never_run(small_corpus, tmp_path):
    marker = "/tmp/deepgbn-pwned-marker"
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(pickle.dumps(_Payload()))
    torch.save({"x": _Payload()}, tmp_path / "zip.pt")
    for path in (ckpt, tmp_path / "zip.pt"):
        with pytest.raises(UserInputError, match="not a readable checkpoint"):
            GeneralizedGBN(**FAST).fit(small_corpus, checkpoint=path, resume=True)
    import os
    assert not os.path.exists(marker)


def test_resume_without_a_checkpoint_is_a_clear_error(small_corpus, tmp_path):
    with pytest.raises(UserInputError, match="no checkpoint to resume from"):
        GeneralizedGBN(**FAST).fit(small_corpus, checkpoint=tmp_path / "none.pt", resume=True)


def _nan_forward(monkeypatch: pytest.MonkeyPatch, bad_calls) -> None:
    """Make the training forward return a NaN ELBO on the calls for which ``bad_calls(i)`` is true."""
    real_forward, calls = GBN.forward, [0]

    def forward(self, batch):
        terms = real_forward(self, batch)
        if self.training:
            calls[0] += 1
            if bad_calls(calls[0]):
                terms.log_likelihood = terms.log_likelihood * torch.nan
        return terms

    monkeypatch.setattr(GBN, "forward", forward)


def test_an_epoch_of_nan_losses_rolls_back_with_half_the_learning_rate(small_corpus, monkeypatch):
    steps_per_epoch = int(np.ceil(0.9 * small_corpus.n_docs / FAST["batch_size"]))
    first, last = steps_per_epoch + 1, 2 * steps_per_epoch  # every step of epoch 2, once
    _nan_forward(monkeypatch, lambda i: first <= i <= last)
    model = GeneralizedGBN(**FAST).fit(small_corpus)
    assert [r["epoch"] for r in model.history_] == [1, 2, 3, 4]
    assert [r["rollbacks"] for r in model.history_] == [0, 1, 1, 1]
    assert all(r["skipped_steps"] == 0 for r in model.history_)
    assert all(torch.isfinite(p).all() for p in model.module_.parameters())


def test_persistent_nan_stops_with_a_message_naming_the_cause(small_corpus, monkeypatch, tmp_path):
    _nan_forward(monkeypatch, lambda i: True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the roll-back states are kept
    with pytest.raises(TrainingDiverged, match=r"epoch 1 gave a NaN/Inf loss.*after 2 roll-backs.*lower --lr"):
        GeneralizedGBN(**FAST).fit(small_corpus)
    assert list(tmp_path.iterdir()) == []  # the state files went with the failed fit


def test_a_few_nan_steps_are_skipped_and_counted(small_corpus, monkeypatch):
    _nan_forward(monkeypatch, lambda i: i in (2, 3))
    model = GeneralizedGBN(**FAST).fit(small_corpus)
    assert model.history_[0]["skipped_steps"] == 2
    assert model.history_[0]["rollbacks"] == 0
    assert all(torch.isfinite(p).all() for p in model.module_.parameters())


def test_a_skipped_step_leaves_parameters_and_adam_state_as_they_were(small_corpus, monkeypatch):
    from deepgbn_text.model.batch import SparseBatch
    from deepgbn_text.training.trainer import TrainConfig

    module = GBN(small_corpus.n_words, [6, 3], hidden=16)
    trainer = Trainer(module, small_corpus.counts, np.arange(100), None, TrainConfig(epochs=1), 0, torch.device("cpu"))
    batch = SparseBatch.from_csr(small_corpus.counts[:32])
    trainer._step(batch, 1.0)
    before = pickle.dumps((module.state_dict(), trainer.optimiser.state_dict()))
    _nan_forward(monkeypatch, lambda i: True)
    trainer._step(batch, 1.0)
    assert int(trainer.bad_steps) == 1
    assert pickle.dumps((module.state_dict(), trainer.optimiser.state_dict())) == before
    monkeypatch.undo()
    trainer._step(batch, 1.0)
    assert pickle.dumps((module.state_dict(), trainer.optimiser.state_dict())) != before


def test_a_nan_gradient_with_a_finite_loss_is_skipped(small_corpus, monkeypatch):
    real_step, calls = Trainer._step, [0]

    def poison_grad_once(self, batch, kl_weight):
        calls[0] += 1
        if calls[0] == 2:
            handle = self.params[0].register_hook(lambda g: g * torch.nan)
            real_step(self, batch, kl_weight)
            handle.remove()
        else:
            real_step(self, batch, kl_weight)

    monkeypatch.setattr(Trainer, "_step", poison_grad_once)
    model = GeneralizedGBN(**FAST).fit(small_corpus)
    assert model.history_[0]["skipped_steps"] == 1
    assert all(torch.isfinite(p).all() for p in model.module_.parameters())


def test_the_learning_rate_halves_after_every_few_epochs_without_a_better_held_out_elbo(small_corpus, monkeypatch):
    import deepgbn_text.training.trainer as train_module

    calls = []
    monkeypatch.setattr(train_module, "_elbo_sum", lambda module, batches, device: calls.append(1) or -float(len(calls)))
    options = {**FAST, "epochs": 8, "kl_warmup": 0.0, "lr": 0.01}
    model = GeneralizedGBN(**options, lr_decay_patience=2).fit(small_corpus)
    assert [r["lr"] for r in model.history_] == [0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025, 0.00125]
    assert [r["lr"] for r in GeneralizedGBN(**options).fit(small_corpus).history_] == [0.01] * 8  # 0: never
