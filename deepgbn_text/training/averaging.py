"""Polyak averaging: an exponential moving average of a module's parameters, updated after every
optimiser step. A noisy optimiser's last iterate wanders around the region its average sits in, so the
average scores better on held-out data long before a decaying learning rate would settle the iterate."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

WARMUP_UPDATES = 10
"""At update t the average keeps min(decay, (1 + t) / (WARMUP_UPDATES + t)) of itself: the first updates
move it most of the way, so a short fit is not averaged with its random initialisation."""


class ParameterAverage:
    """The running average of ``module``'s parameters, held beside them (4 bytes a parameter)."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.params = list(module.parameters())
        self.average = [p.detach().clone() for p in self.params]
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the current parameters (device kernels only: no host sync)."""
        kept = min(self.decay, (1 + self.updates) / (WARMUP_UPDATES + self.updates))
        torch._foreach_lerp_(self.average, self.params, 1.0 - kept)
        self.updates += 1

    def swap(self) -> None:
        """Exchange the module's parameters with the average (no copies: their storages trade places)."""
        for i, p in enumerate(self.params):
            p.data, self.average[i] = self.average[i], p.data

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The module holds the average inside the block and its own parameters again after it."""
        self.swap()
        try:
            yield
        finally:
            self.swap()

    def state_dict(self) -> dict[str, object]:
        return {"average": self.average, "updates": self.updates}

    def load_state_dict(self, state: dict[str, object]) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self.average, list(state["average"]))  # type: ignore[call-overload]
        self.updates = int(state["updates"])  # type: ignore[call-overload]
