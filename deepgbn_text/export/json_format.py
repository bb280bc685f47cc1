"""``json``: the tree as documented, versioned JSON (see ``topics.schema.json``); the format of topics.json."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..atomic import read_json_object, write_json
from ..errors import UserInputError
from ..tree import Tree

SCHEMA_FILE = Path(__file__).with_name("topics.schema.json")


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that topics.json and ``--format json`` files follow."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


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
