"""deepgbn_text: deep topic models (Generalized Gamma Belief Network) for text and count data."""
from . import threads  # noqa: F401  # first: OpenMP's wait policy must be set before anything imports torch

import importlib
import importlib.abc
import importlib.machinery
import sys

from .errors import UserInputError
from .estimator import GeneralizedGBN
from .storage.corpus import Corpus

__all__ = ["Corpus", "GeneralizedGBN", "UserInputError"]
__version__ = "0.1.0"

MOVED_MODULES = {
    "train": "training.trainer", "graphed_steps": "training.graphed_steps", "checkpoint": "training.checkpoint",
    "state_store": "training.state_store", "averaging": "training.averaging", "distributed": "training.distributed",
    "atomic": "storage.atomic", "csr_files": "storage.csr_files", "corpus": "storage.corpus",
    "gensim_io": "storage.corpus", "schema_check": "storage.schema_check", "model_config": "storage.model_config",
    "labels": "export.labels", "diagnostics": "evaluate.diagnostics",
}
"""Old module names (``deepgbn_text.<old>``) and where they live now: ``import deepgbn_text.train`` gives the
module ``deepgbn_text.training.trainer`` itself (the same object, so patching one patches the other)."""


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of the old names with the moved module; no file at the old path."""

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        prefix, _, old = fullname.partition(".")
        if prefix != __name__ or old not in MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        module = importlib.import_module(f"{__name__}.{MOVED_MODULES[spec.name.partition('.')[2]]}")
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module) -> None:  # type: ignore[no-untyped-def]
        module.__spec__ = module.__spec__.loader_state  # the import system set the old name's spec: undo it


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """``deepgbn_text.train`` and the other old names as attributes, as they were once their modules loaded."""
    if name in MOVED_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
