"""Data-parallel training with torch.distributed: process-group setup, rank info and the collectives
the trainer needs. One process per device; ``torchrun`` sets RANK/WORLD_SIZE/LOCAL_RANK."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ..errors import UserInputError


def launched_by_torchrun() -> bool:
    """True when the torchrun environment asks for more than one process."""
    return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_environment(device: str) -> str:
    """Join the process group torchrun describes (NCCL on GPUs, gloo on CPUs); return this rank's
    device string (``cuda:<LOCAL_RANK>`` for GPUs)."""
    if not launched_by_torchrun():
        raise UserInputError("--distributed: start the command with torchrun (e.g. torchrun --nproc-per-node 2 "
                             "-m ggbn_topics fit ...); RANK and WORLD_SIZE are not set")
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        return f"cuda:{local_rank}"
    return "cpu"


@dataclass(frozen=True)
class Ranks:
    """This process's place in the process group (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> Ranks:
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def shard(self, ordered_rows: np.ndarray) -> np.ndarray:
        """This rank's share of an epoch's row order: every world-th row, all shares the same length
        (up to world - 1 rows of the epoch are left out, different ones each epoch)."""
        per_rank = len(ordered_rows) // self.world
        return ordered_rows[self.rank :: self.world][:per_rank]

    def local_batch_size(self, batch_size: int) -> int:
        """The global batch split across ranks, so one step sees as many documents as on one device."""
        return max(1, -(-batch_size // self.world))

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """All-reduce ``tensor`` in place by summation (no-op on one process)."""
        if self.distributed:
            dist.all_reduce(tensor)
        return tensor

    def from_main(self, tensor: torch.Tensor) -> torch.Tensor:
        """Overwrite ``tensor`` with rank 0's value (no-op on one process)."""
        if self.distributed:
            dist.broadcast(tensor, src=0)
        return tensor

    def gather_objects(self, obj: object) -> list[object]:
        """Every rank's ``obj``, in rank order."""
        if not self.distributed:
            return [obj]
        out: list[object] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()
