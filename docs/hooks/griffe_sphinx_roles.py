"""Griffe extension for the API reference: show Sphinx cross-reference roles as code.

Some docstrings say ``:meth:`save` `` or ``:mod:`deepgbn_text.tree` `` (reStructuredText roles). The API
page renders docstrings as Markdown, where such a role would be printed literally; this extension turns
each into a code span (``save``, ``deepgbn_text.tree``) before rendering. Loaded by mkdocstrings
(`extensions:` in mkdocs.yml); the docstrings themselves are unchanged.
"""
from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

ROLE = re.compile(r":(?:py:)?(?:mod|meth|func|class|attr|obj|data|exc|const):`~?([^`]+)`")


def strip_roles(text: str) -> str:
    """``:meth:`save` `` -> ```save` ``; a leading ``~`` (Sphinx's "last part only") is dropped."""
    return ROLE.sub(lambda m: f"`{m.group(1)}`", text)


class SphinxRolesAsCode(Extension):
    def on_object(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(obj.docstring.value)
