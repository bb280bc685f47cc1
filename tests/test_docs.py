"""The documentation cannot rot: the site builds with `mkdocs build --strict`, and every command and code
block of the tutorial, the getting-started, scikit-learn and API pages runs, in order, in a fresh working copy.

How the pages are run (also said on the pages themselves):

* every fenced ```bash block runs with `bash -euo pipefail`, every ```python block with this Python, in a
  temporary folder holding a copy of `corpora/` (the bundled sample), as a newcomer's clone would;
* to keep this test fast, `FAST_OPTIONS` (`--epochs 2 --topics 16,8,4`) is appended to each
  `ggbn-topics fit` / `ggbn-topics compare` command (an `--epochs N` or `--topics ...` already there is
  dropped first), and `epochs=N` in Python becomes `epochs=2`: the test checks that every step works,
  not the numbers shown on the page;
* a block right after a `<!-- skip-test -->` line is not run (installs, downloads, the full corpus);
  `SKIPPED` says how many each page has, so a new skip is a visible change to this file.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SKIP_MARKER = "<!-- skip-test -->"
FAST_EPOCHS = 2
FAST_OPTIONS = f"--epochs {FAST_EPOCHS} --topics 16,8,4"  # 3 layers, as every fit on the pages
SKIPPED = {"tutorial.md": 3, "getting-started.md": 2, "scikit-learn.md": 0, "api.md": 0}
RUN_TIMEOUT_S = 600

_FENCE = re.compile(r"^```(\w*)\s*$")
RUN_LANGS = ("bash", "python")  # fences that run; ```text holds output; the tested pages use no other
_FAST_COMMAND = re.compile(r"^(\s*(?:\w+=\S+\s+)*ggbn-topics\s+(?:fit|compare)\b.*)$")
_FAST_OPTION = re.compile(r"\s--(?:epochs|topics)[ =][\d,]+")
_EPOCHS_KWARG = re.compile(r"\bepochs=\d+")


@dataclass
class Block:
    lang: str  # the fence's language: bash, python, text, ...
    code: str
    line: int  # 1-based line of the opening fence
    skipped: bool


def code_blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page`` in order (``RUN_LANGS`` blocks run; ```text blocks are output)."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    previous = ""  # the last non-blank line before the current one
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match and lines[i].lstrip().startswith("```"):
            raise AssertionError(f"{page.name}:{i + 1}: indented or odd code fence; the docs test reads only "
                                 "fences at the start of a line (```bash, ```python, ```text)")
        if not match:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        start, end = i, i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{page.name}:{start + 1}: unclosed code fence")
        blocks.append(Block(match.group(1), "\n".join(lines[start + 1 : end]) + "\n", start + 1,
                            previous == SKIP_MARKER))
        previous = "```"
        i = end + 1
    return blocks


def fast_version(block: Block) -> str:
    """The block's code with the training runs made small (see the module docstring)."""
    if block.lang == "python":
        return _EPOCHS_KWARG.sub(f"epochs={FAST_EPOCHS}", block.code)
    out = []
    for command in block.code.replace("\\\n", " ").splitlines():  # join continuation lines first
        if _FAST_COMMAND.match(command):
            command = _FAST_OPTION.sub("", command).rstrip() + " " + FAST_OPTIONS
        out.append(command)
    return "\n".join(out) + "\n"


def working_copy(folder: Path) -> Path:
    """What a fresh clone offers the tutorial: the bundled corpora (the package is installed)."""
    shutil.copytree(REPO / "corpora", folder / "corpora", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def block_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")  # ggbn-topics, python
    env.setdefault("OMP_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    return env


def run_block(block: Block, cwd: Path, code: str, page: str) -> subprocess.CompletedProcess[str]:
    argv = ["bash", "-euo", "pipefail", "-c", code] if block.lang == "bash" else [sys.executable, "-c", code]
    result = subprocess.run(argv, cwd=cwd, env=block_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, (
        f"{page}:{block.line}: the {block.lang} block failed (exit {result.returncode}):\n{code}\n"
        f"--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-3000:]}")
    return result


def run_page(page: str, cwd: Path, fast: bool = True) -> list[tuple[Block, subprocess.CompletedProcess[str]]]:
    """Run every block of ``page`` that is not skipped; ``fast=False`` runs the commands as written."""
    done = []
    for block in code_blocks(DOCS / page):
        if block.lang in RUN_LANGS and not block.skipped:
            code = fast_version(block) if fast else block.code
            done.append((block, run_block(block, cwd, code, page)))
    return done


# -- the parser and the substitution, on small inputs ------------------------------------------------------

def test_code_blocks_and_fast_version(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n```bash\nggbn-topics fit a --layers 3 \\\n    --out b\nggbn-topics topics b\n```\n\n```text\nout\n```\n\n"
        f"{SKIP_MARKER}\n```bash\npip install x\n```\n\n```python\nm = GeneralizedGBN(epochs=300)\n```\n"
        "```bash\nCOLUMNS=120 ggbn-topics compare c --epochs 50 --topics=64,8,2 --models ggbn\n```\n", encoding="utf-8")
    blocks = [b for b in code_blocks(page) if b.lang in RUN_LANGS]
    assert [(b.lang, b.skipped, b.line) for b in blocks] == [
        ("bash", False, 3), ("bash", True, 14), ("python", False, 18), ("bash", False, 21)]
    assert fast_version(blocks[0]) == f"ggbn-topics fit a --layers 3      --out b {FAST_OPTIONS}\nggbn-topics topics b\n"
    assert fast_version(blocks[2]) == "m = GeneralizedGBN(epochs=2)\n"
    assert fast_version(blocks[3]) == f"COLUMNS=120 ggbn-topics compare c --models ggbn {FAST_OPTIONS}\n"
    page.write_text("!!! note\n    ```bash\n    ggbn-topics fit x\n    ```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="indented"):
        code_blocks(page)  # a block the test could not see is an error, not a silent skip


@pytest.mark.parametrize("page", sorted(SKIPPED))
def test_pages_skip_only_the_counted_blocks(page):
    blocks = code_blocks(DOCS / page)
    odd = [(b.line, b.lang) for b in blocks if b.lang not in (*RUN_LANGS, "text")]
    assert not odd, f"{page}: fences must be bash or python (they run) or text (output), found {odd}"
    assert not [b.line for b in blocks if b.skipped and b.lang == "text"], f"{page}: skip-test before a text block"
    assert sum(b.skipped for b in blocks) == SKIPPED[page], f"{page}: update SKIPPED if a skip was added on purpose"
    assert any(b.lang in RUN_LANGS and not b.skipped for b in blocks)


def test_pictures_are_small_and_used():
    pages = "".join(p.read_text(encoding="utf-8") for p in DOCS.glob("*.md"))
    for picture in (DOCS / "img").iterdir():
        assert picture.stat().st_size < 300_000, f"{picture.name}: keep pictures under 300 KB"
        assert f"img/{picture.name}" in pages, f"{picture.name} is not shown on any page"


# -- the pages themselves --------------------------------------------------------------------------------

def test_tutorial_runs(tmp_path):
    cwd = working_copy(tmp_path)
    run_page("tutorial.md", cwd)
    out = cwd / "runs" / "tutorial"
    for name in ("corpus/meta.json", "ggbn/model.safetensors", "ggbn/topics.md", "evaluate.json", "compare.md",
                 "tree.html", "tree.png", "test-topics.csv"):
        assert (out / name).is_file(), f"the tutorial should have written runs/tutorial/{name}"


def test_getting_started_runs(tmp_path):
    run_page("getting-started.md", working_copy(tmp_path))


@pytest.mark.parametrize("page", ["scikit-learn.md", "api.md"])
def test_python_pages_run(page, tmp_path):
    run_page(page, working_copy(tmp_path))


def test_mkdocs_build_strict(tmp_path):
    """The site builds with every warning an error: nav, links between pages, anchors, the API reference
    (mkdocstrings) and the CLI reference (docs/hooks/cli_reference.py)."""
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml"),
                             "-d", str(site)], cwd=REPO, env=block_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
    cli = (site / "cli-reference" / "index.html").read_text(encoding="utf-8")
    for command in ("prepare", "fit", "evaluate", "compare", "topics", "transform"):
        assert f"ggbn-topics {command}" in cli
    assert "--min-edge" in cli and "cli-reference: generated" not in cli
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("GeneralizedGBN", "word_distribution", "load_20newsgroups", "export_tree", "evaluate_model"):
        assert name in api
    assert (site / "contributing" / "index.html").is_file()


def main(argv: list[str] | None = None) -> None:
    """Run a page's blocks and print what each printed, to refresh the outputs shown on the page:

        python tests/test_docs.py tutorial.md --full --workdir /tmp/tutorial

    ``--full`` runs the commands as written (minutes); without it, as the test runs them.
    """
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=main.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="+", help="pages under docs/, run in order in one folder")
    parser.add_argument("--full", action="store_true", help="run the commands as written (no FAST_OPTIONS)")
    parser.add_argument("--workdir", type=Path, help="an empty or new folder (default: a temporary one)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="docs-run-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "corpora").exists():
        working_copy(workdir)
    for page in args.pages:
        for block, result in run_page(page, workdir, fast=not args.full):
            print(f"===== {page}:{block.line} ({block.lang})\n{block.code}----- output")
            print(result.stderr + result.stdout, flush=True)
    print(f"outputs are in {workdir}")


if __name__ == "__main__":
    main()
