"""MkDocs hook: publish the repository's CONTRIBUTING.md as the site page contributing.md.

The file stays at the repository root (where GitHub shows it); the page is generated from it at build
time, so there is one copy of the text.
"""
from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

SOURCE = "CONTRIBUTING.md"
PAGE = "contributing.md"


def on_files(files, config):  # noqa: ANN001, ANN201 (mkdocs hook signature)
    root = Path(config.config_file_path).parent
    content = (root / SOURCE).read_text(encoding="utf-8")
    files.append(File.generated(config, PAGE, content=content))
    return files
