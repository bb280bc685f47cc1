"""The package's import rules (CONTRIBUTING.md, "Layout of the code"): no import cycle, and every module
imports only from its own part or the parts ranked below it. An ``ast`` walk over the source, no import."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"deepgbn_text": ROOT / "deepgbn_text", "deepgbn_text.corpora": ROOT / "corpora", "ggbn_topics": ROOT / "cli"}
"""Import name -> source folder (pyproject.toml's package-dir: corpora/ and cli/ install under other names)."""

RANKS = {
    # 0: the leaves
    "deepgbn_text/errors.py": 0, "deepgbn_text/threads.py": 0, "deepgbn_text/distributions.py": 0,
    # 1: files on disk
    "deepgbn_text/storage/": 1,
    # 2: text to counts, the torch modules, the metrics
    "deepgbn_text/text/": 2, "deepgbn_text/model/": 2, "deepgbn_text/evaluate/": 2,
    # 3: the training loop, the topic tree, the bundled corpora
    "deepgbn_text/training/": 3, "deepgbn_text/tree.py": 3, "corpora/": 3,
    # 4: the estimator and its parameter checks
    "deepgbn_text/estimator.py": 4, "deepgbn_text/params.py": 4,
    # 5: what uses a fitted model: exports, LDA baselines, run folders, reports, diagnostics
    "deepgbn_text/export/": 5, "deepgbn_text/baselines/": 5, "deepgbn_text/runs.py": 5,
    "deepgbn_text/evaluate/__init__.py": 5, "deepgbn_text/evaluate/report.py": 5,
    "deepgbn_text/evaluate/diagnostics.py": 5,
    # 6: the package's front door; 7: the command line, which the library never imports
    "deepgbn_text/__init__.py": 6,
    "cli/": 7,
}
"""A module's rank: its file's entry, else its nearest folder's. A module imports only modules of the same or a
lower rank (and, within a rank, without a cycle)."""


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports, anywhere in the file (functions and TYPE_CHECKING blocks too):
    ``from a import b`` names a.b when that is a module, else a; a parent package's __init__ is not counted."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def rank(path: Path) -> int:
    rel = path.relative_to(ROOT).as_posix()
    if rel in RANKS:
        return RANKS[rel]
    folder = rel.rpartition("/")[0]
    while folder:
        if folder + "/" in RANKS:
            return RANKS[folder + "/"]
        folder = folder.rpartition("/")[0]
    raise AssertionError(f"{rel} has no rank: add it (or its folder) to RANKS and to CONTRIBUTING.md's map")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_walk_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_imports_only_its_rank_or_below():
    known = modules()
    wrong = [f"{name} (rank {rank(known[name])}) imports {dep} (rank {rank(known[dep])})"
             for name, deps in graph().items() for dep in sorted(deps) if rank(known[dep]) > rank(known[name])]
    assert wrong == []


def test_the_tree_does_not_import_the_estimator_and_commands_do_not_import_each_other():
    edges = graph()
    assert "deepgbn_text.estimator" not in edges["deepgbn_text.tree"]
    commands = {name for name in edges if name.startswith("ggbn_topics.") and name.endswith("_cmds")}
    assert commands and all(not edges[name] & (commands | {"ggbn_topics.app"}) for name in commands)


def test_at_most_eight_modules_are_loose_at_the_package_root():
    assert len(list((ROOT / "deepgbn_text").glob("*.py"))) <= 8


@pytest.mark.parametrize("old, new", [("train", "training.trainer"), ("corpus", "storage.corpus"),
                                      ("atomic", "storage.atomic"), ("gensim_io", "storage.corpus"),
                                      ("diagnostics", "evaluate.diagnostics"), ("labels", "export.labels")])
def test_old_module_paths_still_import(old, new):
    module = importlib.import_module(f"deepgbn_text.{old}")
    assert module is importlib.import_module(f"deepgbn_text.{new}")
    assert module.__spec__.name == f"deepgbn_text.{new}"


def test_every_old_module_path_is_a_module_that_exists():
    import deepgbn_text

    for old, new in deepgbn_text.MOVED_MODULES.items():
        assert not (ROOT / "deepgbn_text" / f"{old}.py").exists()
        assert getattr(deepgbn_text, old) is importlib.import_module(f"deepgbn_text.{new}")
