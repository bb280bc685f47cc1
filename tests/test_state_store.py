"""StateStore: copies of training state, on disk for CPU training and in memory otherwise."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deepgbn_text.training.state_store import StateStore


@pytest.mark.parametrize("device", ["cpu", "cuda"])  # "cuda" only picks the in-memory store: no GPU needed
def test_a_stored_state_is_a_copy_replaced_by_the_next_put(device):
    store = StateStore(torch.device(device))
    weights = torch.arange(6.0)
    optimiser = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(6)}},
                 "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "params": [0]}]}
    assert "best" not in store and store.get("best") is None
    store.put("best", {"w": weights, "optimiser": optimiser})
    weights.add_(100.0)  # training goes on in place
    first = store.get("best")
    assert "best" in store and torch.equal(first["w"], torch.arange(6.0))
    assert first["optimiser"]["param_groups"][0]["betas"] == (0.9, 0.999)
    store.put("best", {"w": weights, "optimiser": optimiser})
    assert torch.equal(store.get("best")["w"], torch.arange(6.0) + 100.0)
    assert torch.equal(first["w"], torch.arange(6.0))  # what was read earlier stays valid
    store.close()
    assert "best" not in store


def test_on_cpu_states_live_in_files_that_close_removes():
    store = StateStore(torch.device("cpu"))
    folder = Path(store._folder.name)
    store.put("last_good", {"w": torch.zeros(1000)})
    store.put("last_good", {"w": torch.ones(1000)})
    assert [p.name for p in folder.iterdir()] == ["last_good-2.pt"]  # one file per name
    loaded = store.get("last_good")["w"]
    store.close()
    assert not folder.exists() and torch.equal(loaded, torch.ones(1000))
