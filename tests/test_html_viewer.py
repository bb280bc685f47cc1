"""The HTML viewer in headless Chromium: it renders, expands a node from the URL, filters, and logs no errors.

Skips (with the reason) when Chromium is not installed or cannot start here.
"""
from __future__ import annotations

import html
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from deepgbn_text.export import export_tree
from test_export import hostile_tree

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def chromium() -> str:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed (apt-get install chromium); the browser test is skipped")


class Tags(HTMLParser):
    """Start tags in document order, as (tag, attrs dict)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def dump_dom(page: Path, fragment: str, profile: Path) -> tuple[list[tuple[str, dict]], str, str]:
    binary = chromium()
    url = page.resolve().as_uri() + fragment
    try:
        done = subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=90)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"Chromium cannot start here: {exc}")
    if done.returncode != 0 or "<html" not in done.stdout:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"Chromium cannot start here (exit {done.returncode}): {last[:200]}")
    parser = Tags()
    parser.feed(done.stdout)
    return parser.tags, done.stdout, done.stderr


def topic(tags, node_id: str) -> tuple[int, dict]:
    return next((i, a) for i, (t, a) in enumerate(tags) if t == "li" and a.get("data-id") == node_id)


def children_list(tags, index: int) -> dict:
    return next(a for t, a in tags[index:] if t == "ul" and a.get("class") == "children")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("viewer")
    export_tree(hostile_tree(), "html", folder / "tree.html")
    return folder / "tree.html"


def test_viewer_renders_and_expands_a_node_from_the_url(page, tmp_path):
    tags, dom, log = dump_dom(page, "#expand=L2-0", tmp_path / "profile")
    assert "Uncaught" not in log, log
    tree = hostile_tree()
    for node in tree.layer(2):  # top-layer labels are in the DOM, as text
        assert html.escape(node.label, quote=False) in dom
    assert "<script>alert" not in dom
    i, expanded = topic(tags, "L2-0")
    assert expanded["aria-expanded"] == "true" and "hidden" not in children_list(tags, i)
    assert {a["data-id"] for t, a in tags[i + 1:] if t == "li"} >= {"L1-0", "L1-1"}
    j, closed = topic(tags, "L2-1")
    assert closed["aria-expanded"] == "false" and "hidden" in children_list(tags, j)


def test_viewer_search_filters_topics_by_word(page, tmp_path):
    tags, dom, log = dump_dom(page, "#q=plain", tmp_path / "profile")
    assert "Uncaught" not in log, log
    _, hit = topic(tags, "L1-1")  # "plain" is a word of L1-1 and of its parent L2-0
    assert "match" in hit["class"].split() and "hidden" not in hit
    _, other = topic(tags, "L2-1")
    assert "hidden" in other
    assert "2 matching topics" in dom
