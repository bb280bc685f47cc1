"""DeviceCSR: the corpus copied to the device once and batches gathered there (the GPU data path),
checked on the CPU against the host path: the same batches, and the same fitted model."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepgbn_text import GeneralizedGBN
from deepgbn_text.storage.csr_files import row_sums
from deepgbn_text.model import batch as batch_module
from deepgbn_text.model.batch import DeviceCSR, iter_batches

from conftest import synthetic_counts

FIELDS = ("offsets", "cols", "values", "rows", "lengths")


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device_name", DEVICES)
@pytest.mark.parametrize("batch_size,first_step", [(64, 0), (64, 3), (1000, 0), (7, 10)])
def test_device_batches_equal_host_batches(batch_size, first_step, device_name, monkeypatch):
    counts = synthetic_counts(n_docs=500, n_words=60, seed=3).tolil()
    counts[[4, 100, 101]] = 0  # empty documents inside batches
    counts = sp.csr_matrix(counts)
    counts.eliminate_zeros()
    monkeypatch.setattr(batch_module, "UPLOAD_ENTRIES", 999)  # several upload blocks
    device_counts = DeviceCSR(counts, row_sums(counts), device_name)
    order = np.random.default_rng(0).permutation(500)
    host = list(iter_batches(counts, order, batch_size, torch.device(device_name), first_step))
    device = list(device_counts.batches(order, batch_size, first_step))
    assert [s for s, _ in host] == [s for s, _ in device] and host
    for (_, a), (_, b) in zip(host, device):
        assert a.n_words == b.n_words and a.n_docs == b.n_docs
        for field in FIELDS:
            x, y = getattr(a, field), getattr(b, field)
            assert x.dtype == y.dtype and torch.equal(x, y), field


def test_a_fit_from_the_device_copy_equals_a_fit_from_the_host(small_corpus, monkeypatch):
    options = dict(n_topics=[6, 3], n_layers=2, epochs=3, batch_size=32, hidden=16, device="cpu", seed=2)
    host = GeneralizedGBN(**options).fit(small_corpus)
    monkeypatch.setattr(DeviceCSR, "fits", staticmethod(lambda counts, device: True))
    gathered, real_gather = [], DeviceCSR._gather
    monkeypatch.setattr(DeviceCSR, "_gather", lambda self, *args: gathered.append(1) or real_gather(self, *args))
    device = GeneralizedGBN(**options).fit(small_corpus)
    assert len(gathered) >= 3 * np.ceil(0.9 * small_corpus.n_docs / 32)  # every training batch came from it
    assert [r["val_elbo_per_token"] for r in host.history_] == [r["val_elbo_per_token"] for r in device.history_]
    for (name, a), b in zip(host.module_.state_dict().items(), device.module_.state_dict().values()):
        assert torch.equal(a, b), name


def test_only_a_gpu_holds_the_corpus():
    assert not DeviceCSR.fits(synthetic_counts(), torch.device("cpu"))
