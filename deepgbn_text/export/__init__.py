"""Exporters: each turns a Tree into one file format.

    from deepgbn_text.export import export_tree, load_tree
    tree = load_tree("runs/news")                 # topics.json (or the model, when it needs more)
    export_tree(tree, "html", "tree.html")

Formats: json (topics.schema.json), md, csv (+ .edges.csv), dot, graphml, html, png, svg and gensim.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserInputError
from ..tree import Tree

FORMATS = ("json", "md", "csv", "dot", "graphml", "html", "png", "svg", "gensim")
LAYER_FORMATS = ("json", "md", "csv", "gensim")  # formats that --layer restricts to one layer
TEXT_FORMATS = ("json", "md", "dot", "gensim")  # formats that can go to standard output
SUFFIXES = {".json": "json", ".md": "md", ".markdown": "md", ".csv": "csv", ".dot": "dot", ".gv": "dot",
            ".graphml": "graphml", ".html": "html", ".htm": "html", ".png": "png", ".svg": "svg"}


def check_format(fmt: str) -> str:
    name = fmt.strip().lower()
    if name not in FORMATS:
        raise UserInputError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    return name


def format_from_suffix(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise UserInputError(f"{path}: cannot tell the format from the suffix {suffix!r}; pass --format")
    return SUFFIXES[suffix]


def tree_text(tree: Tree, fmt: str, layer: int | None = None) -> str:
    """The text of a text format (json, md, dot, gensim), for standard output."""
    import json

    from .dot import tree_dot
    from .gensim_format import gensim_topics
    from .markdown import tree_markdown

    fmt = check_format(fmt)
    if fmt == "gensim":
        return json.dumps(gensim_topics(tree, layer or 1), ensure_ascii=False) + "\n"
    if layer is not None:
        tree = _restrict(tree, fmt, layer)
    if fmt == "json":
        return json.dumps(tree.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return tree_markdown(tree)
    if fmt == "dot":
        return tree_dot(tree)
    raise UserInputError(f"--format {fmt} writes a file: pass --out FILE")


def _restrict(tree: Tree, fmt: str, layer: int) -> Tree:
    if fmt not in LAYER_FORMATS:
        raise UserInputError(f"--layer applies to {', '.join(LAYER_FORMATS)} and terminal output, not to {fmt}")
    return tree.restricted_to_layer(layer)


def export_tree(tree: Tree, fmt: str, path: str | os.PathLike[str], layer: int | None = None,
                title: str = "Topic tree") -> list[Path]:
    """Write ``tree`` as ``fmt`` to ``path`` (atomically); return the files written."""
    fmt = check_format(fmt)
    if fmt == "gensim":
        from .gensim_format import write_gensim

        if layer is not None:
            tree.restricted_to_layer(layer)  # range check
        write_gensim(tree, path, layer or 1)
        return [Path(path)]
    if layer is not None:
        tree = _restrict(tree, fmt, layer)
    if fmt == "json":
        from .json_format import write_tree_json

        write_tree_json(tree, path)
    elif fmt == "md":
        from .markdown import write_markdown

        write_markdown(tree, path)
    elif fmt == "csv":
        from .csv_format import write_csv

        return write_csv(tree, path)
    elif fmt == "dot":
        from .dot import write_dot

        write_dot(tree, path)
    elif fmt == "graphml":
        from .graphml import write_graphml

        write_graphml(tree, path)
    elif fmt == "html":
        from .html_viewer import write_html

        write_html(tree, path, title)
    else:
        from .picture import write_picture

        write_picture(tree, path, fmt)
    return [Path(path)]


def load_tree(run_dir: str | os.PathLike[str], top_n: int | None = None, min_edge: float | None = None) -> Tree:
    """The tree of a run folder with at most ``top_n`` words per topic and edges of weight >= ``min_edge``.

    Read from topics.json when it holds enough (as many words, edges down to ``min_edge``); otherwise
    rebuilt from the model (model.safetensors). Without a model, topics.json is used as it is.
    """
    from ..runs import TOPICS_JSON
    from .json_format import read_tree_json

    run = Path(run_dir)
    if not run.is_dir():
        raise UserInputError(f"{run}: no such run folder")
    if top_n is not None and top_n < 1:
        raise UserInputError(f"--top-words must be at least 1, got {top_n}")
    if min_edge is not None and not 0 < min_edge <= 1:
        raise UserInputError(f"--min-edge must be in (0, 1], got {min_edge}")
    has_model = (run / "model.safetensors").is_file() and (run / "config.json").is_file()
    stored = read_tree_json(run / TOPICS_JSON) if (run / TOPICS_JSON).is_file() else None
    if stored is None and not has_model:
        raise UserInputError(f"{run}: not a run folder (needs {TOPICS_JSON} or model.safetensors)")
    if stored is not None:
        stored_min = float(stored.meta.get("min_edge", 0.0))
        enough = (top_n is None or top_n <= stored.top_n) and (min_edge is None or min_edge >= stored_min)
        if enough or not has_model:
            return stored.trimmed(top_n, min_edge)
    from ..estimator import GeneralizedGBN

    if min_edge is None:
        min_edge = float(stored.meta.get("min_edge", 0.05)) if stored is not None else 0.05
    model = GeneralizedGBN.load(run, device="cpu")
    return model.tree(top_n=top_n or (stored.top_n if stored is not None else 10), min_edge=min_edge)
