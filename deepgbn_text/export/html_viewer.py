"""``html``: one self-contained page (inline CSS/JS, no network) with a collapsible tree, word bars and a search box.

The tree is embedded as JSON inside ``<script type="application/json">`` with ``<``, ``>``, ``&`` and the
line separators written as ``\\uXXXX`` escapes, so no corpus word can close the script element; the page
builds its DOM with ``textContent`` only, so words always render as text.
"""
from __future__ import annotations

import html
import json
import re
import os
from pathlib import Path

from ..storage.atomic import write_text
from ..tree import Tree

TEMPLATE = Path(__file__).with_name("viewer.html")
_JS_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(obj: object) -> str:
    """JSON that is safe to place inside a <script> element."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return "".join(_JS_ESCAPES.get(ch, ch) for ch in text)


def tree_html(tree: Tree, title: str = "Topic tree") -> str:
    values = {"__TITLE__": html.escape(title), "__DATA__": script_json(tree.to_dict())}
    # one pass, so a title or word that reads "__DATA__" is never substituted again
    return re.sub("__TITLE__|__DATA__", lambda m: values[m.group(0)], TEMPLATE.read_text(encoding="utf-8"))


def write_html(tree: Tree, path: str | os.PathLike[str], title: str = "Topic tree") -> None:
    write_text(path, tree_html(tree, title))
