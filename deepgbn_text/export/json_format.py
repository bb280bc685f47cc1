"""``json``: the tree as documented, versioned JSON (see ``topics.schema.json``); the format of topics.json."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..atomic import write_json
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
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{p}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{p}: not a topic tree (expected a JSON object)")
    try:
        return Tree.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserInputError(f"{p}: not a topic tree ({type(exc).__name__}: {exc})") from None
