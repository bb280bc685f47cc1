"""Copies of training state kept aside while training: the roll-back point and the best state so far.

On a CPU each copy would cost the process 4 bytes a parameter (a module state) or 12 (module and Adam
state), next to the 16 of training itself, so they are written to files in the temporary folder instead
(point ``TMPDIR`` at a disk where that is a RAM disk) and read back memory-mapped. On a GPU they are
copies in device memory, which costs no host memory and next to no time.
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import torch


class StateStore:
    """Named copies of state dicts (anything ``torch.save`` writes with ``weights_only`` loading)."""

    def __init__(self, device: torch.device) -> None:
        self._memory: dict[str, Any] = {}
        self._folder = tempfile.TemporaryDirectory(prefix="ggbn-state-") if device.type == "cpu" else None
        self._versions: dict[str, int] = {}

    def put(self, name: str, state: Any) -> None:
        """Keep a copy of ``state`` under ``name`` (replacing the previous one)."""
        if self._folder is None:
            self._memory[name] = copy.deepcopy(state)
            return
        # a new file each time: tensors read back earlier may still map the previous one
        version = self._versions.get(name, 0) + 1
        path = Path(self._folder.name) / f"{name}-{version}.pt"
        torch.save(state, path)
        self._versions[name] = version
        (path.parent / f"{name}-{version - 1}.pt").unlink(missing_ok=True)

    def __contains__(self, name: str) -> bool:
        return name in (self._memory if self._folder is None else self._versions)

    def get(self, name: str) -> Any | None:
        """The copy stored under ``name`` (tensors memory-mapped from its file on a CPU), or None."""
        if self._folder is None:
            return self._memory.get(name)
        if name not in self._versions:
            return None
        path = Path(self._folder.name) / f"{name}-{self._versions[name]}.pt"
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)

    def close(self) -> None:
        """Delete the files (tensors already read stay valid: the files are only unlinked)."""
        self._memory.clear()
        self._versions.clear()
        if self._folder is not None:
            self._folder.cleanup()
