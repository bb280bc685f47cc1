"""Helpers shared by the exporters: safe cells for spreadsheets and the words of a topic as text."""
from __future__ import annotations

from typing import Any

from ..tree import TopicNode

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formula injection: a text cell starting with = + - @ (or tab/CR) gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: list[Any]) -> list[Any]:
    return [safe_cell(v) for v in row]


def word_list(node: TopicNode, top_n: int | None = None, sep: str = ", ") -> str:
    return sep.join(w for w, _ in node.words[:top_n])
