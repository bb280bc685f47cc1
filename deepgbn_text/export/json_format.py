"""``json``: the tree as documented, versioned JSON (see ``topics.schema.json``); the format of topics.json."""
from __future__ import annotations

import os
from pathlib import Path

from ..storage.atomic import read_json_object, write_json
from ..errors import UserInputError
from ..tree import SCHEMA_FILE, Tree, schema  # noqa: F401  (schema: this format's JSON Schema, read here too)


def write_tree_json(tree: Tree, path: str | os.PathLike[str]) -> None:
    write_json(path, tree.to_dict())


def read_tree_json(path: str | os.PathLike[str]) -> Tree:
    """Read a topics.json file; a damaged or foreign file is one UserInputError line."""
    p = Path(path)
    data = read_json_object(p)
    try:
        return Tree.from_dict(data)
    except ValueError as exc:
        raise UserInputError(f"{p}: not a topic tree this version can read ({exc}); delete it to rebuild the "
                             "tree from the model next to it, or fit the model again") from None
