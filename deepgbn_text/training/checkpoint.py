"""Training checkpoints: written atomically, read without unpickling (``torch.load(weights_only=True)``),
and checked against the run they claim to continue."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..storage.atomic import atomic_path
from ..errors import UserInputError

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` (tensors, numbers, strings, lists and dicts of them) atomically."""
    with atomic_path(path) as tmp:
        torch.save({"version": CHECKPOINT_VERSION, **payload}, tmp)


def load_checkpoint(path: str | os.PathLike[str], fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Read a checkpoint written for the run described by ``fingerprint``; anything else (a missing,
    corrupt, foreign or pickled-code file, or one from other settings or data) is one clear error."""
    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"{p}: no checkpoint to resume from; start the run without --resume")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types; all mean "not our checkpoint"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"{p}: not a readable checkpoint ({first_line}); start the run again without --resume") from None
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        raise UserInputError(f"{p}: checkpoint format not supported (expected version {CHECKPOINT_VERSION})")
    saved = payload.get("fingerprint", {})
    differs = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
    if differs:
        raise UserInputError(f"{p}: written for a different run ({', '.join(differs)} differ); "
                             "resume with the same input and options as the interrupted run")
    return payload
