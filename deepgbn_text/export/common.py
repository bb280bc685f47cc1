"""Helpers shared by the exporters: safe cells for spreadsheets, text XML can hold, the words of a topic as text."""
from __future__ import annotations

import re
from typing import Any

from ..tree import TopicNode

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formula injection: a text cell starting with = + - @ (or tab/CR) gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot hold (control characters, lone surrogates) as U+FFFD."""
    return NOT_XML.sub("\ufffd", text)


def safe_row(row: list[Any]) -> list[Any]:
    return [safe_cell(v) for v in row]


def word_list(node: TopicNode, top_n: int | None = None, sep: str = ", ") -> str:
    return sep.join(w for w, _ in node.words[:top_n])
