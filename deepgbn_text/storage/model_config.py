"""Checks that a saved model (``config.json`` + ``model.safetensors``) is whole and belongs together.

They run in :meth:`GeneralizedGBN.load` before any module is built from the files, so a damaged, edited
or foreign folder is one UserInputError line, never a traceback:

- config.json follows :data:`CONFIG_SCHEMA` (keys, types, finite numbers); ``params`` names only
  arguments of GeneralizedGBN; ``topics``, ``topic_prevalence`` and ``theta_mean`` agree on the layer
  widths; the vocabulary has no repeated word and matches ``vocab_hash``; other keys (a run's
  ``input``, ``text_options``, ...) are ignored;
- when config.json records ``weights_sha256``, model.safetensors has that digest;
- the weights are read with safetensors (never unpickled) and have the tensor names, shapes and dtypes
  of the module that the configuration describes, with finite values only.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch

from .corpus import vocab_hash
from ..errors import UserInputError
from .schema_check import SchemaError, validate

ARCHITECTURE_PARAMS = ("n_layers", "link", "encoder", "hidden")
REFIT = "the file is damaged or was not written by deepgbn_text; fit the model again"
_LAYER_VALUES = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format_version", "model", "params", "topics", "vocab", "vocab_hash", "topic_prevalence",
                 "theta_mean"],
    "properties": {
        "format_version": {"const": 1},
        "model": {"const": "GeneralizedGBN"},
        "params": {
            "type": "object",
            "required": list(ARCHITECTURE_PARAMS),
            "properties": {"n_layers": {"type": "integer", "minimum": 1}, "hidden": {"type": "integer", "minimum": 1},
                           "link": {"type": "string"}, "encoder": {"type": "string"}},
        },
        "topics": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}},
        "vocab": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "vocab_hash": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "topic_prevalence": _LAYER_VALUES,
        "theta_mean": _LAYER_VALUES,
        "weights_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "prior_scale": {"type": "number", "exclusiveMinimum": 0},
        "prior_power": {"type": "number", "minimum": 0, "maximum": 1},
        "prior_second_layer": {"type": "number", "minimum": 0},
    },
}


def check_config(config: Mapping[str, Any], path: Path, accepted_params: Collection[str]) -> None:
    """Raise UserInputError (one line naming ``path``) unless ``config`` follows the schema above."""

    def fail(problem: str) -> UserInputError:
        return UserInputError(f"{path}: {problem}; {REFIT}")

    try:
        validate(dict(config), CONFIG_SCHEMA)
    except SchemaError as exc:
        raise fail(str(exc)) from None
    params, topics, vocab = config["params"], config["topics"], config["vocab"]
    unknown = sorted(set(params) - set(accepted_params))
    if unknown:
        raise fail(f"unknown parameter(s) {', '.join(map(repr, unknown))} in 'params'")
    if params["n_layers"] != len(topics):
        raise fail(f"'params' says {params['n_layers']} layers but 'topics' lists {len(topics)} widths")
    for key in ("topic_prevalence", "theta_mean"):
        if [len(row) for row in config[key]] != topics:
            raise fail(f"{key!r} must hold one number per topic of each layer ({topics})")
    if len(set(vocab)) != len(vocab):
        raise fail("'vocab' repeats a word")
    if config["vocab_hash"] != vocab_hash(vocab):
        raise fail("'vocab' does not match 'vocab_hash' (the vocabulary was edited)")


def weights_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_digest(config: Mapping[str, Any], weights_path: Path) -> None:
    """When config.json records ``weights_sha256``, the weights file must have that digest."""
    expected = config.get("weights_sha256")
    if expected is not None and weights_digest(weights_path) != expected:
        raise UserInputError(f"{weights_path}: SHA-256 differs from the one in config.json (the weights were "
                             "changed or damaged); restore the run folder or fit the model again")


def check_weights(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], path: Path) -> None:
    """The tensors of ``state`` must match ``expected`` (names, shapes, dtypes) and be finite."""

    def fail(problem: str) -> UserInputError:
        return UserInputError(f"{path}: {problem}; the weights do not belong to config.json next to them "
                              "or are damaged; fit the model again")

    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise fail(f"tensor names differ (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for name, want in expected.items():
        got = state[name]
        if tuple(got.shape) != tuple(want.shape) or got.dtype != want.dtype:
            raise fail(f"tensor {name!r} is {got.dtype} {tuple(got.shape)}, expected {want.dtype} {tuple(want.shape)}")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise fail(f"tensor {name!r} holds NaN or infinite values")
