"""The upper links' start from the pretrained bottom layer: balanced partitions found by a factorisation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from deepgbn_text import GeneralizedGBN
from deepgbn_text.errors import UserInputError
from deepgbn_text.model.gbn import GBN
from deepgbn_text.model.upper_start import START_FLOOR, partition, start_upper_links
from deepgbn_text.training import trainer as trainer_module

FAST = dict(n_topics=[6, 3], n_layers=2, epochs=6, hidden=32, patience=50, device="cpu", seed=3)


def grouped_latents(groups: list[list[int]], n_children: int, n_docs: int = 300, seed: int = 0) -> np.ndarray:
    """Documents that each use the children of one group (and a little of every child)."""
    rng = np.random.default_rng(seed)
    theta = rng.gamma(0.1, 0.05, size=(n_docs, n_children))
    for doc in range(n_docs):
        theta[doc, groups[doc % len(groups)]] += rng.gamma(5.0, 1.0, size=len(groups[0]))
    return theta


def test_children_used_together_share_a_parent_and_every_parent_gets_as_many():
    groups = [[0, 5, 9, 10], [1, 2, 7, 11], [3, 4, 6, 8]]
    found = partition(grouped_latents(groups, 12), 3, seed=0)
    assert found.shape == (12, 3) and np.array_equal(found.sum(1), np.ones(12))
    assert sorted(sorted(np.flatnonzero(column).tolist()) for column in found.T) == sorted(groups)


def test_an_uneven_split_puts_every_child_in_one_parent_of_at_most_the_rounded_up_size():
    found = partition(np.random.default_rng(1).gamma(1.0, 1.0, size=(200, 10)), 3, seed=0)
    assert np.array_equal(found.sum(1), np.ones(10))
    assert found.sum(0).max() <= 4 and found.sum() == 10


def test_start_upper_links_sets_every_upper_link_from_its_partition():
    torch.manual_seed(0)
    groups = [[0, 5, 9, 10], [1, 2, 7, 11], [3, 4, 6, 8]]
    module = GBN(30, [12, 3, 2], hidden=16, balanced_links=True)
    bottom = module.links[0].logits.detach().clone()
    start_upper_links(module, grouped_latents(groups, 12), seed=0)
    assert torch.equal(module.links[0].logits, bottom)  # the bottom topics are the pretraining's
    phi = module.links[1].phi.detach().numpy()  # balanced columns of the started logits
    for column in phi.T:
        members = sorted(np.flatnonzero(column > 0.2).tolist())
        assert members in groups and column[members].sum() > 0.9
    top = module.links[2].logits.detach().exp().numpy()  # 3 parents below, 2 above: 2 children and 1
    assert sorted((top > 0.2).sum(0).tolist()) == [1, 2] and np.array_equal((top > 0.2).sum(1), [1, 1, 1])
    assert np.allclose(top[top < 0.2], START_FLOOR / 3)


def test_a_parent_without_children_keeps_its_random_logits():
    torch.manual_seed(0)
    module = GBN(30, [3, 5], hidden=16)
    before = module.links[1].logits.detach().clone()
    start_upper_links(module, np.random.default_rng(0).gamma(1.0, 1.0, size=(100, 3)), seed=0)
    kept = (module.links[1].logits == before).all(0)
    assert kept.sum() == 2 and not kept.all()


def test_switched_off_the_upper_links_start_random_and_the_deep_stage_warms_up_as_the_pretraining(
        small_corpus, monkeypatch):
    warmups: list[float] = []
    real = trainer_module.Trainer.__init__

    def recording(self, module, counts, rows, val_rows, config, *args, **kwargs):  # type: ignore[no-untyped-def]
        warmups.append(config.kl_warmup)
        real(self, module, counts, rows, val_rows, config, *args, **kwargs)

    monkeypatch.setattr(trainer_module.Trainer, "__init__", recording)
    started, random_start = [], []
    real_pretrain = GeneralizedGBN._pretrain_bottom

    def keep_links(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        history = real_pretrain(self, *args, **kwargs)
        (started if self.upper_start == "partition" else random_start).append(self.module_.links[1].logits.detach().clone())
        return history

    monkeypatch.setattr(GeneralizedGBN, "_pretrain_bottom", keep_links)
    off = GeneralizedGBN(**FAST, upper_start="random", deep_kl_warmup=None).fit(small_corpus)
    torch.manual_seed(FAST["seed"])
    fresh = off._build_module(small_corpus.n_words, FAST["n_topics"])
    assert torch.equal(random_start[0], fresh.links[1].logits.detach())  # untouched by the pretraining
    assert warmups == [0.1, 0.1]
    GeneralizedGBN(**FAST).fit(small_corpus)
    assert warmups[2:] == [0.1, 1 / 30]
    assert not torch.equal(started[0], random_start[0])
    assert (started[0].exp() > 0.2).sum(0).tolist() == [2, 2, 2]  # 6 children, 3 parents of 2


def test_without_the_pretraining_neither_option_changes_the_fit(small_corpus):
    cold = dict(FAST, pretrain_bottom=False)
    base = GeneralizedGBN(**cold).fit(small_corpus)
    other = GeneralizedGBN(**cold, upper_start="random", deep_kl_warmup=0.5).fit(small_corpus)
    assert np.array_equal(base.topic_word(2), other.topic_word(2))


@pytest.mark.parametrize("name, value", [("upper_start", "nmf"), ("deep_kl_warmup", 1.5), ("deep_patience", 0)])
def test_bad_values_name_the_option(small_corpus, name, value):
    with pytest.raises(UserInputError, match=f"--{name.replace('_', '-')}"):
        GeneralizedGBN(**FAST, **{name: value}).fit(small_corpus)


def stale_tail(history: list[dict], warmup_epochs: int) -> int:
    """Epochs after the best held-out ELBO (counted from the end of the KL warm-up) until training stopped."""
    counted = [record for record in history if record["epoch"] >= warmup_epochs]
    best = max(range(len(counted)), key=lambda i: (counted[i]["val_elbo_per_token"], -i))
    return len(counted) - 1 - best


def test_the_deep_stage_stops_after_its_own_patience(small_corpus):
    model = GeneralizedGBN(**dict(FAST, epochs=200, patience=4), deep_patience=2, gibbs_sweeps=0).fit(small_corpus)
    assert stale_tail(model.pretrain_history_, 20) == 4  # the pretraining warms up over 20 of 200 epochs
    assert stale_tail(model.history_, 7) == 2  # the deep stage over 200 / 30


def test_the_deep_patience_default_keeps_the_patience_for_short_texts():
    from deepgbn_text.estimator import DEEP_PATIENCE, default_deep_patience

    assert default_deep_patience(80.0, 10) == DEEP_PATIENCE == 5
    assert default_deep_patience(80.0, 3) == 3  # never more patient than the pretraining
    assert default_deep_patience(6.0, 10) == 10  # titles (M10 lost 2.6% at 5)


def test_the_deep_patience_does_nothing_without_the_pretraining(small_corpus):
    cold = dict(FAST, pretrain_bottom=False, epochs=30, patience=3)
    base = GeneralizedGBN(**cold).fit(small_corpus)
    other = GeneralizedGBN(**cold, deep_patience=1).fit(small_corpus)
    assert len(base.history_) == len(other.history_)
    assert np.array_equal(base.topic_word(1), other.topic_word(1))
