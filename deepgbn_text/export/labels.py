"""Topic labels from a JSON file (``{"L3-0": "religion", ...}``) applied to a Tree."""
from __future__ import annotations

import os
from pathlib import Path

from ..storage.atomic import read_json_object
from ..errors import UserInputError
from ..storage.schema_check import is_unicode
from ..tree import Tree


def read_labels(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a labels file: one JSON object mapping topic ids to non-empty names."""
    p = Path(path)
    data = read_json_object(p)
    if not all(isinstance(v, str) and v.strip() and is_unicode(v) for v in data.values()):
        raise UserInputError(f'{p}: expected a JSON object of topic ids to names, such as {{"L3-0": "religion"}}')
    return {str(k): " ".join(v.split()) for k, v in data.items()}


def apply_labels(tree: Tree, path: str | os.PathLike[str]) -> Tree:
    """``tree`` with the names of ``path``; an id that is not in the tree is one UserInputError line."""
    labels = read_labels(path)
    try:
        return tree.with_labels(labels)
    except UserInputError as exc:
        raise UserInputError(f"{path}: {exc}") from None
