"""ggbn-topics topics / transform."""
from __future__ import annotations

from .app import app  # noqa: F401
